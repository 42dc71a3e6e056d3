// One-time codes (RFC 6238, 30-second steps) with replay protection: the last time-step
// accepted for each user is kept in the store, and a code is accepted only for a later step,
// so a code seen once (on the wire, over a shoulder) cannot open a second session.
import otplib from 'otplib';
import type { Db } from '../store/index.js';
import { getMeta, setMeta } from '../store/index.js';

const STEP_MS = 30_000;
/** One step either side, for clocks that drift a little. */
const DRIFT_WINDOW_STEPS = 1;
const lastStepKey = (user: string): string => `totp-last-step:${user}`;

export type TotpVerdict = 'ok' | 'wrong' | 'replayed';

/** The time-step a code belongs to, or undefined when it matches none near `now`. */
export function totpStep(secret: string, code: string, now: Date): number | undefined {
  const checker = otplib.authenticator.clone({
    epoch: now.getTime(),
    window: DRIFT_WINDOW_STEPS,
  });
  const clean = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(clean)) return undefined;
  let delta: number | null;
  try {
    delta = checker.checkDelta(clean, secret);
  } catch {
    return undefined;
  }
  if (delta === null) return undefined;
  return Math.floor(now.getTime() / STEP_MS) + delta;
}

export async function checkTotp(
  db: Db,
  user: string,
  secret: string,
  code: string,
  now: Date,
): Promise<TotpVerdict> {
  const step = totpStep(secret, code, now);
  if (step === undefined) return 'wrong';
  // Read and advance in one transaction: two logins racing with one code, only one wins.
  return db.transaction().execute(async (tx) => {
    const last = Number((await getMeta(tx, lastStepKey(user))) ?? '-1');
    if (step <= last) return 'replayed';
    await setMeta(tx, lastStepKey(user), String(step));
    return 'ok';
  });
}
