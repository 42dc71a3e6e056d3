// PAP authentication against RADIUS servers (RFC 2865): Access-Request with the password hidden
// and a Message-Authenticator (RFC 3579; servers hardened against BlastRADIUS require it), and
// a reply believed only when its Response Authenticator (and Message-Authenticator, if any)
// prove it came from a server holding the secret.
import { randomBytes } from 'node:crypto';
import {
  Attr,
  AUTHENTICATOR_OFFSET,
  AUTHENTICATOR_SIZE,
  checkMessageAuthenticator,
  Code,
  encodePacket,
  fillMessageAuthenticator,
  hidePassword,
  integerAttr,
  messageAuthenticatorPlaceholder,
  ServiceTypeValue,
  NasPortTypeValue,
  textAttr,
  verifyResponse,
  type RadiusAttribute,
} from '../../wire/radius/index.js';
import { exchange, type RadiusEndpoint } from './transport.js';

export interface RadiusServer {
  host: string;
  authPort: number;
  acctPort: number;
}

export interface RadiusSettings {
  servers: readonly RadiusServer[];
  secret: string;
  nasIdentifier: string;
  /** Per transmission (default 3000). */
  timeoutMs?: number;
  /** Transmissions per server (default 3). */
  tries?: number;
}

export type RadiusVerdict = 'accept' | 'reject' | 'unreachable';

export const DEFAULT_TIMEOUT_MS = 3000;
export const DEFAULT_TRIES = 3;

/** What a caller can expect at worst: every try of every server timed out. */
export function worstCaseMs(s: RadiusSettings): number {
  return s.servers.length * (s.tries ?? DEFAULT_TRIES) * (s.timeoutMs ?? DEFAULT_TIMEOUT_MS);
}

export async function radiusAuthenticate(
  s: RadiusSettings,
  user: string,
  password: string,
  extra: { callingStationId?: string } = {},
): Promise<RadiusVerdict> {
  const secret = new TextEncoder().encode(s.secret);
  const endpoints: RadiusEndpoint[] = s.servers.map((v) => ({ host: v.host, port: v.authPort }));
  const result = await exchange(
    endpoints,
    { timeoutMs: s.timeoutMs ?? DEFAULT_TIMEOUT_MS, tries: s.tries ?? DEFAULT_TRIES },
    (identifier) => {
      const authenticator = new Uint8Array(randomBytes(AUTHENTICATOR_SIZE));
      const attributes: RadiusAttribute[] = [
        messageAuthenticatorPlaceholder(),
        textAttr(Attr.UserName, user),
        {
          type: Attr.UserPassword,
          value: hidePassword(new TextEncoder().encode(password), secret, authenticator),
        },
        textAttr(Attr.NasIdentifier, s.nasIdentifier),
        integerAttr(Attr.ServiceType, ServiceTypeValue.Framed),
        integerAttr(Attr.NasPortType, NasPortTypeValue.Virtual),
      ];
      if (extra.callingStationId) {
        attributes.push(textAttr(Attr.CallingStationId, extra.callingStationId));
      }
      const bytes = encodePacket({
        code: Code.AccessRequest,
        identifier,
        authenticator,
        attributes,
      });
      fillMessageAuthenticator(bytes, authenticator, secret);
      return bytes;
    },
    (reply, request) => {
      const requestAuth = request.subarray(
        AUTHENTICATOR_OFFSET,
        AUTHENTICATOR_OFFSET + AUTHENTICATOR_SIZE,
      );
      if (!verifyResponse(reply, requestAuth, secret)) return false;
      return checkMessageAuthenticator(reply, requestAuth, secret) !== 'invalid';
    },
  );
  if (result.kind === 'unreachable') return 'unreachable';
  // A challenge (one more round) is something PAP cannot answer: treat it as a refusal.
  return result.packet.code === Code.AccessAccept ? 'accept' : 'reject';
}
