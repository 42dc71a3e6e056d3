// OpenVPN over TCP: each packet behind a 2-byte length. Wraps a connected socket into a packet
// stream; a stream that stops making sense (length 0 or too long) is closed, not trusted.
import type { Socket } from 'node:net';
import { frame, TcpDeframer } from '../../wire/openvpn/tcp-framing.js';

export class TcpPacketStream {
  readonly socket: Socket;
  readonly #deframer = new TcpDeframer();
  #onPacket: (p: Uint8Array) => void = () => undefined;
  #onClose: (why: string) => void = () => undefined;
  #closed = false;

  constructor(socket: Socket, firstBytes?: Uint8Array) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#feed(chunk));
    socket.on('close', () => this.#finish('closed by peer'));
    socket.on('error', (e) => this.#finish(e.message));
    if (firstBytes && firstBytes.length) queueMicrotask(() => this.#feed(firstBytes));
  }

  onPacket(cb: (p: Uint8Array) => void): void {
    this.#onPacket = cb;
  }

  onClose(cb: (why: string) => void): void {
    this.#onClose = cb;
  }

  send(packet: Uint8Array): void {
    if (!this.#closed) this.socket.write(frame(packet));
  }

  close(why = 'closed'): void {
    this.socket.end();
    this.socket.destroySoon?.();
    this.#finish(why);
  }

  #feed(chunk: Uint8Array): void {
    if (this.#closed) return;
    for (const p of this.#deframer.push(chunk)) this.#onPacket(p);
    if (this.#deframer.state.kind === 'broken') {
      this.socket.destroy();
      this.#finish('bad framing');
    }
  }

  #finish(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose(why);
  }
}
