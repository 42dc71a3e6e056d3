// CIDR and address checks shared by config validation and the CLI.
import { isIP } from 'node:net';

export function parseCidr(
  text: string,
): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family };
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

export function isIpAddress(text: string): boolean {
  return isIP(text) !== 0;
}
