// Child-process entry point (run in office): a UDP echo server, the far end of the connect-time
// probe.   node udp-echo.js <address> <port>
import { createSocket } from 'node:dgram';

const [address, portText] = process.argv.slice(2);
const port = Number(portText);
if (!address || !(port > 0)) {
  process.stderr.write('usage: udp-echo <address> <port>\n');
  process.exit(2);
}
const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
socket.on('message', (msg, from) => socket.send(msg, from.port, from.address));
socket.on('error', (e) => {
  process.stderr.write(`udp-echo: ${e.message}\n`);
  process.exit(1);
});
socket.bind(port, address, () => process.stdout.write(`listening ${socket.address().port}\n`));
