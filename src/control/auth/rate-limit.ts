// Brute-force brake: failed logins are counted per user and per source address. After
// `maxFailures` in a row a key is locked for a backoff that doubles with each further failure
// (up to `maxBackoffMs`); while locked, attempts are refused without looking at the secret, so
// guessing gets no faster than the backoff allows. Counts live in memory: a restart forgives.

export interface LimiterOptions {
  /** Failures allowed before the first lockout. */
  maxFailures: number;
  /** The first lockout; each further failure doubles it. */
  backoffMs: number;
  maxBackoffMs: number;
  /** A key with no failure for this long is forgotten. */
  forgetMs: number;
}

export const DEFAULT_LIMITS: LimiterOptions = {
  maxFailures: 5,
  backoffMs: 30_000,
  maxBackoffMs: 15 * 60_000,
  forgetMs: 60 * 60_000,
};

/** Which keys an attempt is counted under. */
export interface AttemptKeys {
  user?: string | undefined;
  source?: string | undefined;
}

export type LimitVerdict =
  { limited: false } | { limited: true; key: 'user' | 'source'; retryAfterMs: number };

interface Entry {
  failures: number;
  lastFailureMs: number;
}

export class AuthLimiter {
  readonly #opts: LimiterOptions;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: Partial<LimiterOptions> = {}) {
    this.#opts = { ...DEFAULT_LIMITS, ...opts };
  }

  get options(): LimiterOptions {
    return this.#opts;
  }

  /** Whether an attempt may be checked now. */
  check(keys: AttemptKeys, nowMs: number): LimitVerdict {
    for (const kind of ['user', 'source'] as const) {
      const name = keys[kind];
      if (name === undefined) continue;
      const wait = this.#lockedFor(`${kind}:${name}`, nowMs);
      if (wait > 0) return { limited: true, key: kind, retryAfterMs: wait };
    }
    return { limited: false };
  }

  failure(keys: AttemptKeys, nowMs: number): void {
    for (const kind of ['user', 'source'] as const) {
      const name = keys[kind];
      if (name === undefined) continue;
      const key = `${kind}:${name}`;
      const e = this.#live(key, nowMs);
      this.#entries.set(key, { failures: (e?.failures ?? 0) + 1, lastFailureMs: nowMs });
    }
  }

  /**
   * A good login clears the user's count. The source's count stays: one valid account must not
   * reset the brake on guessing others' passwords from the same address.
   */
  success(keys: AttemptKeys): void {
    if (keys.user !== undefined) this.#entries.delete(`user:${keys.user}`);
  }

  #live(key: string, nowMs: number): Entry | undefined {
    const e = this.#entries.get(key);
    if (e && nowMs - e.lastFailureMs > this.#opts.forgetMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  #lockedFor(key: string, nowMs: number): number {
    const e = this.#live(key, nowMs);
    if (!e || e.failures < this.#opts.maxFailures) return 0;
    const doublings = Math.min(e.failures - this.#opts.maxFailures, 30);
    const backoff = Math.min(this.#opts.backoffMs * 2 ** doublings, this.#opts.maxBackoffMs);
    return Math.max(0, e.lastFailureMs + backoff - nowMs);
  }
}

/**
 * Limits from the environment (POSTERN_AUTH_MAX_FAILURES, POSTERN_AUTH_BACKOFF_MS,
 * POSTERN_AUTH_MAX_BACKOFF_MS), for deployments and tests that need other numbers.
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Partial<LimiterOptions> {
  const out: Partial<LimiterOptions> = {};
  const read = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const maxFailures = read('POSTERN_AUTH_MAX_FAILURES');
  const backoffMs = read('POSTERN_AUTH_BACKOFF_MS');
  const maxBackoffMs = read('POSTERN_AUTH_MAX_BACKOFF_MS');
  if (maxFailures !== undefined) out.maxFailures = maxFailures;
  if (backoffMs !== undefined) out.backoffMs = backoffMs;
  if (maxBackoffMs !== undefined) out.maxBackoffMs = maxBackoffMs;
  return out;
}

/** The address part of "ip:port" or "[ip6]:port", the key an attempt's source is counted under. */
export function sourceAddress(remote: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(remote);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const v4 = /^([^:]+):\d+$/.exec(remote);
  return v4?.[1] ?? remote;
}
