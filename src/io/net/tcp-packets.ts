// OpenVPN over TCP: each packet behind a 2-byte length. Wraps a connected socket into a packet
// stream; a stream that stops making sense (length 0 or too long) is closed, not trusted.
//
// The stream can be handed over to the native data path (native/ovpn_tcp.c): JS stops reading
// the socket, passes on the bytes it read but did not use, and from then on its packets come
// from (inject) and go to (the hand-over's send) the native side, which also says when the
// connection ended (ended). The socket object stays here only to be destroyed at the end.
import type { Socket } from 'node:net';
import { frame, TcpDeframer } from '../../wire/openvpn/tcp-framing.js';

/** What a stream needs from whoever takes it over. */
export interface StreamTakeover {
  /** Sends one packet on the stream (framing is the taker's). */
  send(packet: Uint8Array): void;
  /** JS has stopped reading: these bytes (whole frames, then the start of one) come first. */
  start(unread: Uint8Array): void;
}

/** Node's stream handle: the descriptor, and reading switched off at once. */
interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStop?: () => number;
}

export class TcpPacketStream {
  readonly socket: Socket;
  readonly #deframer = new TcpDeframer();
  #onPacket: (p: Uint8Array) => void = () => undefined;
  #onClose: (why: string) => void = () => undefined;
  #closed = false;
  /** The bytes the deframer holds (the start of a packet), kept for a hand-over. */
  #tail: Uint8Array = new Uint8Array(0);
  #takeover: StreamTakeover | undefined;
  /** Frames read before the hand-over but not yet given to onPacket. */
  #unread: Uint8Array[] = [];
  #started = false;

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

  /** Whether the stream was handed over (its packets now travel through the native path). */
  get handedOver(): boolean {
    return this.#takeover !== undefined;
  }

  send(packet: Uint8Array): void {
    if (this.#closed) return;
    if (this.#takeover) this.#takeover.send(packet);
    else this.socket.write(frame(packet));
  }

  close(why = 'closed'): void {
    if (this.#takeover) {
      // The taker holds its own descriptor and writes its last bytes; a shutdown here would cut
      // them off. Closing ours alone ends nothing on the wire.
      this.socket.destroy();
    } else {
      this.socket.end();
      this.socket.destroySoon?.();
    }
    this.#finish(why);
  }

  /**
   * The socket's descriptor if the stream can be handed over now: open, framing intact, and
   * nothing of ours still waiting to be written (it would interleave with the taker's bytes).
   */
  handoverFd(): number | undefined {
    const handle = (this.socket as unknown as { _handle?: StreamHandle })._handle;
    if (this.#closed || this.#takeover || this.socket.destroyed) return undefined;
    if (this.socket.writableLength > 0 || this.#deframer.state.kind !== 'ok') return undefined;
    if (typeof handle?.fd !== 'number' || handle.fd < 0 || !handle.readStop) return undefined;
    return handle.fd;
  }

  /**
   * Stops reading now and hands the stream over. Packets of the chunk being handled stay
   * unread; once this turn of the event loop ends, `t.start` gets them and the partial tail.
   */
  handOver(t: StreamTakeover): void {
    this.#takeover = t;
    this.#stopReading();
    queueMicrotask(() => this.#start());
  }

  /** A packet the taker read from the stream for JS (control channel). */
  inject(packet: Uint8Array): void {
    if (!this.#closed) this.#onPacket(packet);
  }

  /** The taker saw the stream end. */
  ended(why: string): void {
    this.#finish(why);
  }

  #stopReading(): void {
    const handle = (this.socket as unknown as { _handle?: StreamHandle })._handle;
    this.socket.pause();
    if (handle?.readStop) {
      handle.reading = false;
      handle.readStop();
    }
  }

  #start(): void {
    if (this.#started || !this.#takeover) return;
    this.#started = true;
    // Bytes Node read into the socket's own buffer come after what the deframer saw.
    const buffered: Uint8Array[] = [];
    if (this.socket.readableLength > 0) {
      for (let chunk = this.socket.read() as Buffer | null; chunk; chunk = this.socket.read()) {
        buffered.push(chunk);
      }
      this.#stopReading();
    }
    const parts = [...this.#unread, this.#tail, ...buffered];
    this.#unread = [];
    this.#tail = new Uint8Array(0);
    this.#takeover.start(Buffer.concat(parts));
  }

  #feed(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#started) {
      // Never expected: Node read the socket after the hand-over, so bytes are lost.
      this.socket.destroy();
      this.#finish('read after hand-over');
      return;
    }
    const packets = this.#deframer.push(chunk);
    this.#tail = keptTail(this.#tail, chunk, this.#deframer.bufferedBytes);
    for (const p of packets) {
      if (this.#takeover) this.#unread.push(frame(p));
      else this.#onPacket(p);
    }
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

/** The last `kept` bytes of `before` followed by `chunk` (a copy: chunks are not pinned). */
function keptTail(before: Uint8Array, chunk: Uint8Array, kept: number): Uint8Array {
  if (kept === 0) return new Uint8Array(0);
  if (kept <= chunk.length) return chunk.slice(chunk.length - kept);
  const out = new Uint8Array(kept);
  const fromBefore = kept - chunk.length;
  out.set(before.subarray(before.length - fromBefore), 0);
  out.set(chunk, fromBefore);
  return out;
}
