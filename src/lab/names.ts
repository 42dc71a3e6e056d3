// Names of a lab's namespaces. A lab id is `<prefix><pid><rand>`: the owning process id in base
// 36, zero-padded to a fixed width, then a few random characters. The fixed widths make the id
// parse back without a separator, so a sweeper can tell which process owns a namespace and
// whether that process is still alive, and two parallel runs (different pids) never clash.

/** Every lab prefix starts with this; the sweeper only ever looks at names that do. */
export const LAB_PREFIX = 'pst';
/** Base-36 digits of the owner pid. Linux caps pids at 2^22 ("2hwcg" in base 36): five digits. */
const PID_DIGITS = 5;
/** Random base-36 digits after the pid: tells apart the labs of one process. */
export const RAND_DIGITS = 3;
const BASE = 36;
const PREFIX_RE = /^pst[a-z0-9]{0,8}$/;
const ID_RE = new RegExp(`^(pst[a-z0-9]*?)([a-z0-9]{${PID_DIGITS}})([a-z0-9]{${RAND_DIGITS}})$`);
const NAMESPACE_RE = /^([a-z0-9]+)-([a-z0-9-]+)$/;

export interface LabId {
  id: string;
  prefix: string;
  pid: number;
}

export function isValidPrefix(prefix: string): boolean {
  return PREFIX_RE.test(prefix);
}

/** `rand` is RAND_DIGITS base-36 characters (the caller draws them). */
export function makeLabId(prefix: string, pid: number, rand: string): string {
  return `${prefix}${pid.toString(BASE).padStart(PID_DIGITS, '0')}${rand}`;
}

export function parseLabId(id: string): LabId | undefined {
  const m = ID_RE.exec(id);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const pid = parseInt(m[2], BASE);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { id, prefix: m[1], pid };
}

export function namespaceName(id: string, host: string): string {
  return `${id}-${host}`;
}

/** The lab a namespace belongs to, or undefined when the name is not a lab's. */
export function parseNamespaceName(name: string): (LabId & { host: string }) | undefined {
  const m = NAMESPACE_RE.exec(name);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const lab = parseLabId(m[1]);
  return lab ? { ...lab, host: m[2] } : undefined;
}
