// One RADIUS exchange over UDP: send a request to each server in turn, retransmit the same
// bytes after each timeout, take the first reply from that server that matches the identifier
// and passes the caller's authenticator check. 'unreachable' when every server stayed silent.
import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { decodePacket, type RadiusPacket } from '../../wire/radius/index.js';

export interface RadiusEndpoint {
  host: string;
  port: number;
}

export interface ExchangeOptions {
  /** How long to wait for a reply to each transmission. */
  timeoutMs: number;
  /** Transmissions per server (the first plus retransmissions). */
  tries: number;
}

export type ExchangeResult =
  | { kind: 'reply'; packet: RadiusPacket; bytes: Uint8Array; server: RadiusEndpoint }
  | { kind: 'unreachable' };

/**
 * `build` is called once per server with a fresh identifier; `accept` vets a reply's bytes
 * (its authenticator) before it is believed: anything else is ignored, as a forgery would be.
 */
export async function exchange(
  servers: readonly RadiusEndpoint[],
  opts: ExchangeOptions,
  build: (identifier: number) => Uint8Array,
  accept: (reply: Uint8Array, request: Uint8Array) => boolean,
  random: () => number = () => randomInt(256),
): Promise<ExchangeResult> {
  for (const server of servers) {
    const request = build(random() & 0xff);
    const reply = await tryServer(server, request, opts, accept);
    if (reply) return { kind: 'reply', ...reply, server };
  }
  return { kind: 'unreachable' };
}

function tryServer(
  server: RadiusEndpoint,
  request: Uint8Array,
  opts: ExchangeOptions,
  accept: (reply: Uint8Array, request: Uint8Array) => boolean,
): Promise<{ packet: RadiusPacket; bytes: Uint8Array } | undefined> {
  return new Promise((resolve) => {
    let socket: Socket;
    try {
      socket = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
    } catch {
      return resolve(undefined);
    }
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (v: { packet: RadiusPacket; bytes: Uint8Array } | undefined): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      socket.removeAllListeners('message');
      socket.close();
      resolve(v);
    };
    const transmit = (): void => {
      if (sent >= opts.tries) return finish(undefined);
      sent += 1;
      socket.send(request, server.port, server.host, () => undefined);
      timer = setTimeout(transmit, opts.timeoutMs);
    };
    socket.on('error', () => undefined);
    socket.on('message', (msg, rinfo) => {
      if (rinfo.port !== server.port) return;
      const bytes = new Uint8Array(msg);
      const decoded = decodePacket(bytes);
      if (!decoded.ok || decoded.packet.identifier !== request[1]) return;
      if (!accept(bytes, request)) return;
      finish({ packet: decoded.packet, bytes });
    });
    transmit();
  });
}
