// OpenVPN over TCP: each packet is preceded by its length, 16-bit big-endian (socket.c
// stream_buf). A length of 0 or above the configured maximum means the stream is garbage:
// OpenVPN then drops the connection ("Bad encapsulated packet length from peer"). There is no
// way to find the next packet boundary again, so the deframer stops and says why.
import { PosternError } from '../../errors.js';
import { TCP_LENGTH_PREFIX_SIZE, TCP_MAX_PACKET_SIZE } from './constants.js';

/**
 * Postern tunable: default largest packet accepted from a TCP peer. Covers a 1500-byte tunnel
 * MTU plus data-channel overhead and the largest control packet, with room to spare.
 */
export const DEFAULT_TCP_MAX_PACKET = 2048;

/** Prefixes one packet with its length. Throws on our own misuse (empty or oversize packet). */
export function frame(packet: Uint8Array): Uint8Array {
  if (packet.length === 0 || packet.length > TCP_MAX_PACKET_SIZE) {
    throw new PosternError(
      'OPENVPN_TCP_FRAME_SIZE',
      `cannot frame a ${packet.length}-byte packet: must be 1..${TCP_MAX_PACKET_SIZE}`,
    );
  }
  const out = new Uint8Array(TCP_LENGTH_PREFIX_SIZE + packet.length);
  new DataView(out.buffer).setUint16(0, packet.length);
  out.set(packet, TCP_LENGTH_PREFIX_SIZE);
  return out;
}

export type DeframerState =
  { kind: 'ok' } | { kind: 'broken'; reason: 'zero-length' | 'too-long'; length: number };

export interface DeframerOptions {
  /** Largest packet accepted; a longer length prefix breaks the stream. 1..65535. */
  maxPacketLength?: number;
}

/** Turns a TCP byte stream, in chunks of any size, back into packets. */
export class TcpDeframer {
  readonly maxPacketLength: number;
  private pending: Uint8Array = new Uint8Array(0);
  private broken: DeframerState = { kind: 'ok' };
  private errorCount = 0;
  private droppedBytes = 0;

  constructor(options: DeframerOptions = {}) {
    const max = options.maxPacketLength ?? DEFAULT_TCP_MAX_PACKET;
    if (!Number.isInteger(max) || max < 1 || max > TCP_MAX_PACKET_SIZE) {
      throw new PosternError(
        'OPENVPN_TCP_MAX_PACKET',
        `maxPacketLength ${max} must be an integer in 1..${TCP_MAX_PACKET_SIZE}`,
      );
    }
    this.maxPacketLength = max;
  }

  /** `ok`, or `broken` with the reason once the stream went bad; then it stays broken. */
  get state(): DeframerState {
    return this.broken;
  }

  /** Framing errors seen (0 or 1 per stream, since the first one ends it). */
  get errors(): number {
    return this.errorCount;
  }

  /** Bytes received after the stream broke, thrown away. */
  get discardedBytes(): number {
    return this.droppedBytes;
  }

  /** Bytes held back waiting for the rest of a packet. */
  get bufferedBytes(): number {
    return this.pending.length;
  }

  /** Feeds one chunk; returns the packets it completed, in order. Never throws. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.broken.kind === 'broken') {
      this.droppedBytes += chunk.length;
      return [];
    }
    const data = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    const packets: Uint8Array[] = [];
    let off = 0;
    while (data.length - off >= TCP_LENGTH_PREFIX_SIZE) {
      const length = ((data[off] ?? 0) << 8) | (data[off + 1] ?? 0);
      if (length === 0 || length > this.maxPacketLength) {
        this.broken = { kind: 'broken', reason: length === 0 ? 'zero-length' : 'too-long', length };
        this.errorCount += 1;
        this.droppedBytes += data.length - off;
        this.pending = new Uint8Array(0);
        return packets;
      }
      const end = off + TCP_LENGTH_PREFIX_SIZE + length;
      if (end > data.length) break;
      packets.push(data.slice(off + TCP_LENGTH_PREFIX_SIZE, end));
      off = end;
    }
    // Copy the tail so we never pin the caller's (possibly large, reused) chunk buffer.
    this.pending = data.slice(off);
    return packets;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
