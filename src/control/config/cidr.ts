// Address and CIDR checks for configuration values, on top of the IP codecs in src/wire/ip.
import { parseIpAddress } from '../../wire/ip/address.js';
import { parseCidr } from '../../wire/ip/cidr.js';

export function isCidr(text: string): boolean {
  return parseCidr(text) !== undefined;
}

export function cidrFamily(text: string): 4 | 6 | undefined {
  return parseCidr(text)?.version;
}

export function isIpAddress(text: string): boolean {
  return parseIpAddress(text) !== undefined;
}
