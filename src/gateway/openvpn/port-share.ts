// Port sharing on the OpenVPN TCP listener (OpenVPN's `port-share`): one port, usually 443,
// serves VPN clients and a web server. The first bytes decide: an OpenVPN client opens with a
// 2-byte length and a HARD_RESET_CLIENT (key id 0); anything else (a TLS ClientHello, an HTTP
// request) is relayed untouched to the configured backend.
import { connect, type Socket } from 'node:net';
import { Opcode, OPCODE_SHIFT } from '../../wire/openvpn/constants.js';

/** Bytes needed to decide: the length prefix and the opcode byte. */
export const SNIFF_BYTES = 3;
const MIN_RESET_LENGTH = 14; // opcode + session id + ack count + packet id, at least
const MAX_RESET_LENGTH = 2048;

export function looksLikeOpenvpn(first: Uint8Array): boolean {
  if (first.length < SNIFF_BYTES) return false;
  const length = ((first[0] ?? 0) << 8) | (first[1] ?? 0);
  const op = first[2] ?? 0;
  const opcode = op >> OPCODE_SHIFT;
  return (
    length >= MIN_RESET_LENGTH &&
    length <= MAX_RESET_LENGTH &&
    (op & 0x07) === 0 &&
    (opcode === Opcode.CONTROL_HARD_RESET_CLIENT_V2 ||
      opcode === Opcode.CONTROL_HARD_RESET_CLIENT_V3)
  );
}

/** Relays the connection to the backend, starting with the bytes already read. */
export function relay(
  client: Socket,
  first: Uint8Array,
  backend: { host: string; port: number },
): void {
  const server = connect({ host: backend.host, port: backend.port });
  server.write(first);
  client.pipe(server);
  server.pipe(client);
  const end = (): void => {
    client.destroy();
    server.destroy();
  };
  client.on('error', end);
  server.on('error', end);
  client.on('close', end);
  server.on('close', end);
}

/** Waits for the first bytes of a connection without consuming later ones. */
export function sniff(
  socket: Socket,
  timeoutMs: number,
  cb: (first: Uint8Array | undefined) => void,
): void {
  let got = Buffer.alloc(0);
  let decided = false;
  const done = (result: Uint8Array | undefined): void => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.pause();
    cb(result);
  };
  const onData = (chunk: Buffer): void => {
    got = Buffer.concat([got, chunk]);
    if (got.length >= SNIFF_BYTES) done(got);
  };
  const timer = setTimeout(() => done(got.length ? got : undefined), timeoutMs);
  socket.on('data', onData);
  socket.once('close', () => done(undefined));
}
