// The client's link to one server address: UDP datagrams, or a TCP connection (optionally
// through an HTTP proxy) carrying 2-byte-length framed packets.
import { connect } from 'node:net';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { connectViaHttpProxy } from '../io/net/http-connect.js';
import { TcpPacketStream } from '../io/net/tcp-packets.js';
import { UdpEndpoint } from '../io/net/udp-endpoint.js';

export interface Link {
  readonly proto: 'udp' | 'tcp';
  readonly description: string;
  send(packet: Uint8Array): void;
  onPacket(cb: (p: Uint8Array) => void): void;
  onClose(cb: (why: string) => void): void;
  close(): Promise<void>;
}

export interface Remote {
  proto: 'udp' | 'tcp';
  host: string;
  port: number;
}

/** The remote's IP address: itself when it is one, else the first the resolver gives. */
export async function resolveRemote(remote: Remote): Promise<string> {
  return isIP(remote.host) ? remote.host : (await lookup(remote.host)).address;
}

export async function openLink(
  remote: Remote,
  httpProxy?: { host: string; port: number },
): Promise<Link> {
  const address = await resolveRemote(remote);
  const description = `${remote.proto}:${address}:${remote.port}${httpProxy ? ` via http-proxy ${httpProxy.host}:${httpProxy.port}` : ''}`;
  if (remote.proto === 'udp') {
    const ep = await UdpEndpoint.bind(isIP(address) === 6 ? '::' : '0.0.0.0', 0);
    const to = { address, port: remote.port };
    return {
      proto: 'udp',
      description,
      send: (p) => ep.send(p, to),
      onPacket: (cb) =>
        ep.onDatagram((bytes, from) => {
          if (from.address === address && from.port === remote.port) cb(bytes);
        }),
      onClose: () => undefined,
      close: () => ep.close(),
    };
  }
  const { socket, rest } = httpProxy
    ? await connectViaHttpProxy(httpProxy, { host: address, port: remote.port })
    : await new Promise<{ socket: ReturnType<typeof connect>; rest: Uint8Array }>(
        (resolve, reject) => {
          const s = connect({ host: address, port: remote.port });
          s.once('connect', () => resolve({ socket: s, rest: new Uint8Array(0) }));
          s.once('error', reject);
        },
      );
  const stream = new TcpPacketStream(socket, rest);
  return {
    proto: 'tcp',
    description,
    send: (p) => stream.send(p),
    onPacket: (cb) => stream.onPacket(cb),
    onClose: (cb) => stream.onClose(cb),
    close: async () => stream.close('client closed'),
  };
}
