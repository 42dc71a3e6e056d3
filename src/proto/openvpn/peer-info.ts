// Peer info: the newline-separated `KEY=VALUE` text a peer sends at the end of its key method 2
// message to announce what it is and what it supports (ssl.c push_peer_info), e.g.
//
//   IV_VER=2.6.12
//   IV_PLAT=linux
//   IV_TCPNL=1
//   IV_MTU=1600
//   IV_NCP=2
//   IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305
//   IV_PROTO=990
//
// IV_PROTO is a bit field of protocol features (ssl.h IV_PROTO_*). Bit 0 is reserved: older
// servers tested `IV_PROTO >= 2` to mean "DATA_V2 and peer-id".

import { PosternError } from '../../errors.js';

/** IV_PROTO feature bits, as defined in OpenVPN's ssl.h (bits 10-12 arrived with 2.7). */
export const IV_PROTO = {
  /** DATA_V2 packets and a server-assigned peer-id. */
  DATA_V2: 1 << 1,
  /** The server may push without waiting for PUSH_REQUEST. */
  REQUEST_PUSH: 1 << 2,
  /** Data keys from the TLS keying-material exporter (RFC 5705, "tls-ekm"). */
  TLS_KEY_EXPORT: 1 << 3,
  /** Keywords in AUTH_PENDING, e.g. "AUTH_PENDING,timeout 60". */
  AUTH_PENDING_KW: 1 << 4,
  /** Peer-to-peer NCP from both sides' IV_ variables. */
  NCP_P2P: 1 << 5,
  /** The 2.6 `--dns` option. */
  DNS_OPTION: 1 << 6,
  /** Explicit exit notify over the control channel ("EXIT"), and `protocol-flags`. */
  CC_EXIT_NOTIFY: 1 << 7,
  /** AUTH_FAILED,TEMP messages. */
  AUTH_FAIL_TEMP: 1 << 8,
  /** Renegotiation under a tls-crypt key derived by TLS-EKM ("dyn-tls-crypt"). */
  DYN_TLS_CRYPT: 1 << 9,
  /** 2.7: epoch data keys (64-bit packet ids, tag at the end). */
  DATA_EPOCH: 1 << 10,
  /** 2.7: the stable `--dns` option. */
  DNS_OPTION_V2: 1 << 11,
  /** 2.7: PUSH_UPDATE messages. */
  PUSH_UPDATE: 1 << 12,
} as const;

export type IvProtoFlag = keyof typeof IV_PROTO;

const IV_PROTO_FLAG_NAMES = Object.keys(IV_PROTO) as IvProtoFlag[];

/** What a peer announced, with the variables Postern acts on pulled out. */
export interface PeerInfo {
  /** Every `KEY=VALUE` line, in order (duplicates kept). */
  entries: [string, string][];
  /** First value of each key, as OpenVPN's lookups find the first occurrence. */
  vars: ReadonlyMap<string, string>;
  /** IV_VER, e.g. "2.6.12" or "3.git::..." for OpenVPN 3 based clients. */
  version: string | undefined;
  /** IV_PLAT: linux, win, mac, ios, android, ... */
  platform: string | undefined;
  /** IV_PROTO as a number; 0 when absent. */
  proto: number;
  /** IV_PROTO as named flags. */
  protoFlags: Record<IvProtoFlag, boolean>;
  /** IV_CIPHERS split on ':', or undefined when the peer did not send it. */
  ciphers: string[] | undefined;
  /** IV_NCP (2 = the peer accepts AES-256-GCM and AES-128-GCM pushed to it). */
  ncp: number | undefined;
  /** IV_MTU: the largest tun-mtu the client can take (it then accepts a pushed tun-mtu). */
  mtu: number | undefined;
  /** IV_SSO methods (openurl, webauth, crtext). */
  sso: string[];
  /** IV_GUI_VER, e.g. "OCmacOS_3.4.4-4629". */
  guiVersion: string | undefined;
  /** IV_TCPNL=1: the peer tolerates non-linear packet ids on TCP. */
  tcpNonLinear: boolean;
}

/** Leading decimal integer, as sscanf("%d") reads it; undefined when there is none. */
function leadingInteger(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*([+-]?\d+)/.exec(value);
  if (m === null) return undefined;
  const n = Number.parseInt(m[1] as string, 10);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The named flags set in an IV_PROTO value. */
export function ivProtoFlags(value: number): Record<IvProtoFlag, boolean> {
  const flags = {} as Record<IvProtoFlag, boolean>;
  for (const name of IV_PROTO_FLAG_NAMES) flags[name] = (value & IV_PROTO[name]) !== 0;
  return flags;
}

/** The IV_PROTO value for a set of flags. */
export function ivProtoValue(flags: Iterable<IvProtoFlag>): number {
  let value = 0;
  for (const name of flags) value |= IV_PROTO[name];
  return value;
}

/** True when the peer announced `flag` in IV_PROTO. */
export function peerSupports(info: PeerInfo, flag: IvProtoFlag): boolean {
  return info.protoFlags[flag];
}

/** Parses peer-info text (absent text gives an empty result). Never throws. */
export function parsePeerInfo(text: string | undefined): PeerInfo {
  const entries: [string, string][] = [];
  const vars = new Map<string, string>();
  for (const rawLine of (text ?? '').split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    entries.push([key, value]);
    if (!vars.has(key)) vars.set(key, value);
  }
  const protoValue = leadingInteger(vars.get('IV_PROTO'));
  const proto = protoValue !== undefined && protoValue > 0 ? protoValue : 0;
  const ciphers = vars.get('IV_CIPHERS');
  const sso = vars.get('IV_SSO');
  return {
    entries,
    vars,
    version: vars.get('IV_VER'),
    platform: vars.get('IV_PLAT'),
    proto,
    protoFlags: ivProtoFlags(proto),
    ciphers: ciphers === undefined ? undefined : ciphers.split(':').filter((c) => c !== ''),
    ncp: leadingInteger(vars.get('IV_NCP')),
    mtu: leadingInteger(vars.get('IV_MTU')),
    sso: sso === undefined ? [] : sso.split(',').filter((s) => s !== ''),
    guiVersion: vars.get('IV_GUI_VER'),
    tcpNonLinear: vars.get('IV_TCPNL') === '1',
  };
}

/**
 * Flags `postern connect` announces by default: what a 2.6 client in pull mode sends, minus
 * NCP_P2P (server mode), DNS_OPTION (we take dhcp-option) and DYN_TLS_CRYPT (opt in once the
 * client implements the derived tls-crypt key for renegotiation).
 */
export const POSTERN_CLIENT_PROTO_FLAGS: readonly IvProtoFlag[] = [
  'DATA_V2',
  'REQUEST_PUSH',
  'TLS_KEY_EXPORT',
  'AUTH_PENDING_KW',
  'CC_EXIT_NOTIFY',
  'AUTH_FAIL_TEMP',
];

export interface ClientPeerInfoOptions {
  /** IV_VER. */
  version: string;
  /** IV_PLAT. */
  platform: string;
  /** IV_CIPHERS, in preference order. IV_NCP=2 is added when both AES-GCM sizes are in it. */
  ciphers: readonly string[];
  /** IV_PROTO flags; default POSTERN_CLIENT_PROTO_FLAGS. */
  protoFlags?: readonly IvProtoFlag[];
  /** IV_MTU, the largest tun-mtu we accept; default 1600 (2.6's tun-max-mtu default). */
  mtu?: number;
  /** IV_SSO methods we can complete, e.g. ['openurl', 'crtext']. */
  sso?: readonly string[];
  /** IV_GUI_VER, e.g. "postern_0.1.0". */
  guiVersion?: string;
  /** Extra UV_ variables (the key must start with "UV_"). */
  userVars?: Readonly<Record<string, string>>;
}

const DEFAULT_CLIENT_MTU = 1600;

function checkedValue(key: string, value: string): string {
  if (/[\n\r\0]/.test(value)) {
    throw new PosternError('OVPN_PEER_INFO_BAD_VALUE', `peer-info ${key} has a line break or NUL`);
  }
  return value;
}

/** Builds the peer-info text `postern connect` sends, in the order a 2.6 client writes it. */
export function buildPeerInfo(options: ClientPeerInfoOptions): string {
  const lines: [string, string][] = [
    ['IV_VER', options.version],
    ['IV_PLAT', options.platform],
    ['IV_TCPNL', '1'],
    ['IV_MTU', String(options.mtu ?? DEFAULT_CLIENT_MTU)],
  ];
  const upper = options.ciphers.map((c) => c.toUpperCase());
  if (upper.includes('AES-256-GCM') && upper.includes('AES-128-GCM')) lines.push(['IV_NCP', '2']);
  lines.push(['IV_CIPHERS', options.ciphers.join(':')]);
  lines.push(['IV_PROTO', String(ivProtoValue(options.protoFlags ?? POSTERN_CLIENT_PROTO_FLAGS))]);
  if (options.sso !== undefined && options.sso.length > 0) {
    lines.push(['IV_SSO', options.sso.join(',')]);
  }
  if (options.guiVersion !== undefined) lines.push(['IV_GUI_VER', options.guiVersion]);
  for (const [key, value] of Object.entries(options.userVars ?? {})) {
    if (!/^UV_[A-Za-z0-9_]+$/.test(key)) {
      throw new PosternError('OVPN_PEER_INFO_BAD_VALUE', `peer-info user variable ${key}`);
    }
    lines.push([key, value]);
  }
  return lines.map(([k, v]) => `${k}=${checkedValue(k, v)}\n`).join('');
}
