// Anti-replay sliding window over packet sequence numbers, shared by the OpenVPN data channel
// (packet_id.c, `--replay-window`, 64 by default) and ESP (RFC 4303 section 3.4.3, 32/64/1024).
//
// A sequence number is accepted when it is above every one seen, or inside the window behind the
// highest and not seen yet. Checking and marking are separate: check() before decryption (cheap
// rejection), update() only once the packet authenticated, so forged packets cannot move the
// window. The bitmap is a ring of 32-bit words a power of two in size, one word larger than the
// window (RFC 6479), so sliding forward clears whole words and costs at most one pass over the
// ring however far the window jumps.
//
// Sequence numbers are positive integers up to Number.MAX_SAFE_INTEGER (2^53 - 1): enough for
// 32-bit OpenVPN ids and for 64-bit ESP extended sequence numbers in practice. 0 is never valid.
import { PosternError } from '../errors.js';

export type ReplayCheck = 'ok' | 'too-old' | 'duplicate' | 'invalid';

const WORD_BITS = 32;
/** RFC 4303 asks for at least 32; OpenVPN allows up to 65536 (MAX_SEQ_BACKTRACK). */
export const MIN_REPLAY_WINDOW = 1;
export const MAX_REPLAY_WINDOW = 65536;
export const DEFAULT_REPLAY_WINDOW = 64;

export class ReplayWindow {
  readonly width: number;
  private readonly ring: Uint32Array;
  private readonly ringBits: number;
  private top = 0;

  constructor(width: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(width) || width < MIN_REPLAY_WINDOW || width > MAX_REPLAY_WINDOW) {
      throw new PosternError(
        'REPLAY_BAD_WINDOW',
        `replay window ${width} must be an integer in ${MIN_REPLAY_WINDOW}..${MAX_REPLAY_WINDOW}`,
      );
    }
    this.width = width;
    let bits = WORD_BITS;
    while (bits < width + WORD_BITS) bits *= 2;
    this.ringBits = bits;
    this.ring = new Uint32Array(bits / WORD_BITS);
  }

  /** Highest sequence number marked so far; 0 before the first. */
  get highest(): number {
    return this.top;
  }

  /** Would `seq` be accepted? Changes nothing. */
  check(seq: number): ReplayCheck {
    if (!Number.isSafeInteger(seq) || seq < 1) return 'invalid';
    if (seq > this.top) return 'ok';
    if (this.top - seq >= this.width) return 'too-old';
    return this.isMarked(seq) ? 'duplicate' : 'ok';
  }

  /**
   * Marks `seq` as seen, sliding the window forward if it is the new highest. Call only after
   * check() said 'ok' and the packet authenticated; anything else is ignored.
   */
  update(seq: number): void {
    if (this.check(seq) !== 'ok') return;
    if (seq > this.top) this.slideTo(seq);
    const bit = seq % this.ringBits;
    const word = bit >>> 5;
    this.ring[word] = (this.ring[word] ?? 0) | (1 << (bit & (WORD_BITS - 1)));
  }

  /** check() then update() in one step, for callers that authenticate first. */
  checkAndUpdate(seq: number): ReplayCheck {
    const verdict = this.check(seq);
    if (verdict === 'ok') this.update(seq);
    return verdict;
  }

  /** Forgets everything, as for a new key. */
  reset(): void {
    this.ring.fill(0);
    this.top = 0;
  }

  private isMarked(seq: number): boolean {
    const bit = seq % this.ringBits;
    return ((this.ring[bit >>> 5] ?? 0) & (1 << (bit & (WORD_BITS - 1)))) !== 0;
  }

  private slideTo(seq: number): void {
    const words = this.ring.length;
    const oldBlock = Math.floor(this.top / WORD_BITS);
    const newBlock = Math.floor(seq / WORD_BITS);
    const clear = Math.min(newBlock - oldBlock, words);
    for (let i = 1; i <= clear; i++) this.ring[(oldBlock + i) % words] = 0;
    this.top = seq;
  }
}
