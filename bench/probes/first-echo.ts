// Child-process entry point (run in laptop): sends a small UDP datagram to the echo server every
// millisecond and prints, as one JSON line, the wall-clock time at which the first echo came
// back: the moment the tunnel first carried a packet both ways. Sends that fail (no route yet)
// are ignored; they are what "not connected yet" looks like.
//   node first-echo.js <address> <port> <timeoutMs>
// Prints "ready" once its socket is bound, then {"firstEchoAt": <epoch ms>, "sent": <n>}.
import { createSocket } from 'node:dgram';

const INTERVAL_MS = 1;
const PROBE_BYTES = 8;

const [address, portText, timeoutText] = process.argv.slice(2);
const port = Number(portText);
const timeoutMs = Number(timeoutText ?? 30_000);
if (!address || !(port > 0) || !(timeoutMs > 0)) {
  process.stderr.write('usage: first-echo <address> <port> <timeoutMs>\n');
  process.exit(2);
}

/** Milliseconds since the epoch, with sub-millisecond precision. */
const wallClockMs = (): number => performance.timeOrigin + performance.now();

const socket = createSocket(address.includes(':') ? 'udp6' : 'udp4');
let sent = 0;
// ICMP errors for earlier probes (unreachable before the tunnel is up) surface here: not fatal.
socket.on('error', () => {});
socket.on('message', () => {
  const at = wallClockMs();
  process.stdout.write(JSON.stringify({ firstEchoAt: at, sent }) + '\n');
  process.exit(0);
});
socket.bind(0, () => {
  process.stdout.write('ready\n');
  const probe = Buffer.alloc(PROBE_BYTES);
  setInterval(() => {
    probe.writeUInt32BE(sent++ >>> 0, 0);
    socket.send(probe, port, address, () => {});
  }, INTERVAL_MS);
  setTimeout(() => {
    process.stdout.write(JSON.stringify({ error: `no echo within ${timeoutMs} ms`, sent }) + '\n');
    process.exit(1);
  }, timeoutMs);
});
