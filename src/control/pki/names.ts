// What goes into subject names and subjectAltName, checked before it reaches a certificate.
import { isIP } from 'node:net';
import { PosternError } from '../../errors.js';

/** X.520 upper bound for commonName. */
const MAX_COMMON_NAME_CHARS = 64;
const MAX_DNS_NAME_CHARS = 253;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

export function checkCommonName(commonName: string): string {
  if (commonName.length === 0 || commonName.length > MAX_COMMON_NAME_CHARS) {
    throw new PosternError(
      'PKI_BAD_NAME',
      `common name must be 1 to ${MAX_COMMON_NAME_CHARS} characters, got ${commonName.length}`,
    );
  }
  // Control characters would let a name forge lines in logs and in OpenVPN's X509 env variables.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(commonName)) {
    throw new PosternError('PKI_BAD_NAME', 'common name must not contain control characters');
  }
  return commonName;
}

export interface EndpointName {
  type: 'dns' | 'ip';
  value: string;
}

/**
 * How the gateway's endpoint goes into subjectAltName: an IPv4 or IPv6 literal as iPAddress,
 * anything else as dNSName. IPv6 is rewritten to plain hex groups (an embedded dotted quad such
 * as ::ffff:192.0.2.1 becomes ::ffff:c000:201) because that is the form the encoder understands.
 */
export function endpointName(endpoint: string): EndpointName {
  const host = endpoint.trim().replace(/^\[(.*)\]$/, '$1');
  if (host.includes('%')) {
    throw new PosternError(
      'PKI_BAD_ENDPOINT',
      `endpoint ${JSON.stringify(endpoint)} has an IPv6 zone; a certificate cannot name one`,
    );
  }
  const family = isIP(host);
  if (family === 4) return { type: 'ip', value: host };
  if (family === 6)
    return { type: 'ip', value: new URL(`http://[${host}]/`).hostname.slice(1, -1) };
  const name = host.replace(/\.$/, '').toLowerCase();
  const labels = name.split('.');
  if (
    name.length === 0 ||
    name.length > MAX_DNS_NAME_CHARS ||
    !labels.every((l) => DNS_LABEL.test(l)) ||
    /^\d+$/.test(labels[labels.length - 1] ?? '')
  ) {
    throw new PosternError(
      'PKI_BAD_ENDPOINT',
      `endpoint ${JSON.stringify(endpoint)} is neither a DNS name nor an IP address`,
      'give the host name or address clients will connect to, e.g. vpn.example.com or 203.0.113.1',
    );
  }
  return { type: 'dns', value: name };
}
