// Validity periods: when a certificate or CRL starts and stops being good.
import { PosternError } from '../../errors.js';

const MS_PER_SECOND = 1000;
export const MS_PER_DAY = 86_400_000;

/**
 * notBefore is set this far before `now` so a client whose clock runs a little slow does not
 * reject a certificate issued a moment ago as "not yet valid".
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 60 * 60 * MS_PER_SECOND;

/** X.509 times carry whole seconds; truncating here keeps what we return equal to what is signed. */
export function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / MS_PER_SECOND) * MS_PER_SECOND);
}

export function checkDays(days: number, what: string): number {
  if (!Number.isInteger(days) || days < 1) {
    throw new PosternError('PKI_BAD_VALIDITY', `${what} must be a whole number of days >= 1`);
  }
  return days;
}

export function checkNow(now: Date): Date {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new PosternError('PKI_BAD_VALIDITY', '`now` must be a valid Date');
  }
  return now;
}

export function validityPeriod(now: Date, validDays: number): { notBefore: Date; notAfter: Date } {
  const start = checkNow(now).getTime();
  return {
    notBefore: wholeSeconds(new Date(start - CLOCK_SKEW_ALLOWANCE_MS)),
    notAfter: wholeSeconds(new Date(start + checkDays(validDays, 'validDays') * MS_PER_DAY)),
  };
}
