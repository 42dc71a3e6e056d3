// Which policy drops become `policy.drop` audit records: at most a few per session per minute,
// so a client hammering a closed port cannot flood the audit log (the drop counter still counts
// every packet). Sans-I/O: the caller passes the clock.

/** Audit records per session per window. */
export const POLICY_DROP_AUDITS_PER_WINDOW = 5;
export const POLICY_DROP_WINDOW_MS = 60_000;

export class DropSampler {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #windows = new Map<string, { start: number; used: number }>();

  constructor(limit = POLICY_DROP_AUDITS_PER_WINDOW, windowMs = POLICY_DROP_WINDOW_MS) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** The first samples the session may still record in its current window. */
  take<T>(session: string, samples: readonly T[], now: number): T[] {
    if (samples.length === 0) return [];
    let w = this.#windows.get(session);
    if (!w || now - w.start >= this.#windowMs) {
      w = { start: now, used: 0 };
      this.#windows.set(session, w);
    }
    const n = Math.max(0, Math.min(samples.length, this.#limit - w.used));
    w.used += n;
    return samples.slice(0, n);
  }

  forget(session: string): void {
    this.#windows.delete(session);
  }
}
