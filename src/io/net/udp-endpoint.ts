// A bound UDP socket for a protocol listener or client: datagrams in with their source, datagrams
// out to an address. IPv6 sockets bound to "::" also take IPv4 (mapped addresses are unmapped).
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface UdpRemote {
  address: string;
  port: number;
}

export function remoteText(r: UdpRemote): string {
  return isIPv6(r.address) ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

const MAPPED = '::ffff:';

export class UdpEndpoint {
  readonly #socket: Socket;
  #onDatagram: (bytes: Uint8Array, from: UdpRemote) => void = () => undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg, rinfo) => {
      const address = rinfo.address.startsWith(MAPPED)
        ? rinfo.address.slice(MAPPED.length)
        : rinfo.address;
      this.#onDatagram(msg, { address, port: rinfo.port });
    });
    // A send to an unreachable peer reports an error here; it is the network's answer, not ours.
    socket.on('error', () => undefined);
  }

  static async bind(address: string, port: number): Promise<UdpEndpoint> {
    const v6 = isIPv6(address);
    const socket = createSocket({
      type: v6 ? 'udp6' : 'udp4',
      ipv6Only: false,
      recvBufferSize: 4 << 20,
      sendBufferSize: 4 << 20,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpEndpoint(socket);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get family(): 'IPv4' | 'IPv6' {
    return this.#socket.address().family as 'IPv4' | 'IPv6';
  }

  onDatagram(cb: (bytes: Uint8Array, from: UdpRemote) => void): void {
    this.#onDatagram = cb;
  }

  send(bytes: Uint8Array, to: UdpRemote): void {
    const address =
      this.family === 'IPv6' && !isIPv6(to.address) ? `${MAPPED}${to.address}` : to.address;
    this.#socket.send(bytes, to.port, address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
