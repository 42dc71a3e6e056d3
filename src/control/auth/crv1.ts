// OpenVPN's dynamic challenge (CRV1), for clients whose profile has no `static-challenge`: the
// password is right but the code is missing, so the gateway answers
//   AUTH_FAILED,CRV1:R,E:<state id>:<base64 username>:<challenge text>
// and the client, after asking its user, reconnects with the password
//   CRV1::<state id>::<response>
// The state remembers whose password was already checked, for a short while, once.
import { randomBytes } from 'node:crypto';

const STATE_ID_BYTES = 16;
const CHALLENGE_FLAGS = 'R,E';
export const DEFAULT_CHALLENGE_TTL_MS = 3 * 60_000;
export const ONE_TIME_CODE_PROMPT = 'One-time code';

interface PendingChallenge {
  user: string;
  serial: string;
  expiresMs: number;
}

export function crv1Challenge(
  stateId: string,
  user: string,
  prompt = ONE_TIME_CODE_PROMPT,
): string {
  const b64user = Buffer.from(user, 'utf8').toString('base64');
  return `CRV1:${CHALLENGE_FLAGS}:${stateId}:${b64user}:${prompt}`;
}

/** A client's answer to a dynamic challenge, or undefined when the password is not one. */
export function parseCrv1Response(
  password: string,
): { stateId: string; response: string } | undefined {
  const m = /^CRV1::([^:]+)::(.*)$/s.exec(password);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  return { stateId: m[1], response: m[2] };
}

/** Challenges issued and not yet answered, in memory: a restart asks for the password again. */
export class ChallengeBook {
  readonly #pending = new Map<string, PendingChallenge>();
  readonly #ttlMs: number;

  constructor(ttlMs = DEFAULT_CHALLENGE_TTL_MS) {
    this.#ttlMs = ttlMs;
  }

  issue(user: string, serial: string, nowMs: number): string {
    this.#sweep(nowMs);
    const id = randomBytes(STATE_ID_BYTES).toString('hex');
    this.#pending.set(id, { user, serial, expiresMs: nowMs + this.#ttlMs });
    return id;
  }

  /** True once per state id, for the same user and certificate, before it expires. */
  take(stateId: string, user: string, serial: string, nowMs: number): boolean {
    const c = this.#pending.get(stateId);
    if (!c) return false;
    this.#pending.delete(stateId);
    return c.user === user && c.serial === serial && nowMs < c.expiresMs;
  }

  get size(): number {
    return this.#pending.size;
  }

  #sweep(nowMs: number): void {
    for (const [id, c] of this.#pending) if (c.expiresMs <= nowMs) this.#pending.delete(id);
  }
}
