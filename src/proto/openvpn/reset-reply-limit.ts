// How many stateless reset replies a gateway sends per time window, whoever asks: OpenVPN 2.6's
// --connect-freq-initial. A reset reply needs no state, so a captured client reset replayed
// from forged source addresses would otherwise have the gateway send a reply to each of them
// (reflection; the reply is smaller than the request, so there is no amplification). Over the
// limit, a reset is dropped and counted; a real client sends it again a moment later.
//
// A window opens at the first reset after the previous one closed and lasts `windowMs`; at most
// `max` replies go out in it. The RX thread keeps the same count for the resets it answers
// (native/ovpn_rx.c rx_reply_admitted); each path has its own.

export interface ResetReplyLimitSettings {
  /** Replies per window. */
  max: number;
  windowMs: number;
}

export class ResetReplyLimit {
  #start = 0;
  #sent = 0;

  /** True if a reply may go out at `now` (and counts it); false: drop this reset. */
  admit(now: number, limit: ResetReplyLimitSettings): boolean {
    // A clock that went back also starts a new window.
    if (this.#sent === 0 || now - this.#start >= limit.windowMs || now < this.#start) {
      this.#start = now;
      this.#sent = 0;
    }
    if (this.#sent >= limit.max) return false;
    this.#sent++;
    return true;
  }
}
