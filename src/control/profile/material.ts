// What a client profile carries, whatever its format: gathered once from postern.yaml, the store
// and the PKI (gather.ts), then written out as an .ovpn file or a Postern JSON document.
import type { Config } from '../config/index.js';

export const PROFILE_FORMATS = ['ovpn', 'postern'] as const;
export type ProfileFormat = (typeof PROFILE_FORMATS)[number];

export type DataCipher = Config['openvpn']['data-ciphers'][number];

/** One place a client may reach the gateway; tried in the order given, UDP first. */
export interface ProfileRemote {
  proto: 'udp' | 'tcp';
  host: string;
  port: number;
}

/**
 * The control-channel key, as the file text OpenVPN reads: with v2, this client's own
 * tls-crypt-v2 key (Kc and the wrapped WKc); with v1, the gateway's shared tls-crypt key.
 */
export type ControlChannelKey = { version: 'v2'; key: string } | { version: 'v1'; key: string };

export interface ProfileAuth {
  /** The user has a password: the client asks for user name and password. */
  password: boolean;
  /** The user has TOTP: the client also asks for a one-time code (sent in the SCRV1 form). */
  totp: boolean;
}

export interface ProfileMaterial {
  /** The gateway's `name` from postern.yaml. */
  gatewayName: string;
  user: string;
  /** Serial of the client certificate in this profile. */
  serial: string;
  remotes: ProfileRemote[];
  caPem: string;
  certPem: string;
  keyPem: string;
  tlsCrypt: ControlChannelKey;
  dataCiphers: DataCipher[];
  tlsMin: Config['crypto']['min-tls'];
  /** The server certificate's commonName, which the client insists on (verify-x509-name). */
  verifyName: string;
  auth: ProfileAuth;
}
