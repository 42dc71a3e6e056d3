// Medians of repeated runs, and ratios that stay honest when a figure is missing or zero.

export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

/** value / reference, or null when either is missing or the reference is not positive. */
export function ratio(value: number | undefined, reference: number | undefined): number | null {
  if (value === undefined || reference === undefined || !(reference > 0)) return null;
  return value / reference;
}
