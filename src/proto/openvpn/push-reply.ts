// PUSH_REPLY: the options a server pushes to a client, as a typed config (server side), cut into
// messages as push.c does, and read back and joined (client side).
//
// Options are comma-separated, so no option may contain a comma. push.c builds each message in a
// PUSH_BUNDLE_SIZE (1024) buffer and starts a new one, ending the previous with
// ",push-continuation 2", when the next option would reach 1024 - 84 bytes; the last of a series
// ends ",push-continuation 1". A single message needs no marker.

import { PUSH_BUNDLE_RESERVE, PUSH_BUNDLE_SIZE } from './constants.js';
import type { PushContinuation } from './control-messages.js';
import { hasControlCharacter, PUSH_CONTINUATION_OPTION, PUSH_REPLY } from './control-messages.js';
import { PosternError } from '../../errors.js';

const utf8Encoder = new TextEncoder();

function checkPrintable(text: string, what: string): void {
  if (hasControlCharacter(text)) {
    throw new PosternError('OVPN_PUSH_BAD_VALUE', `${what} contains a control character`);
  }
}

export interface PushRoute {
  network: string;
  netmask: string;
  gateway?: string;
  metric?: number;
}

export interface PushRouteIpv6 {
  /** "2001:db8:1::/48". */
  network: string;
  gateway?: string;
  metric?: number;
}

export type ProtocolFlag = 'cc-exit' | 'tls-ekm' | 'dyn-tls-crypt';

/** What a Postern server pushes to one client, in typed form. */
export interface PushConfig {
  topology?: 'subnet' | 'net30' | 'p2p';
  routeGateway?: string;
  /** IPv4 tunnel address; in subnet topology `ifconfig <local> <netmask>`. */
  ifconfig?: { local: string; netmask: string };
  /** `ifconfig-ipv6 <address>/<prefixLength> <gateway>`. */
  ifconfigIpv6?: { address: string; prefixLength: number; gateway: string };
  routes?: PushRoute[];
  routesIpv6?: PushRouteIpv6[];
  /** `dhcp-option DNS <addr>` (2.5+ clients take IPv6 addresses here too). */
  dns?: string[];
  /** `dhcp-option DOMAIN <name>`. */
  dnsDomain?: string;
  /** `dhcp-option DOMAIN-SEARCH <name>`, one option each. */
  searchDomains?: string[];
  /** `redirect-gateway <flags...>`, e.g. ['def1', 'ipv6'] or ['def1', 'bypass-dhcp']. */
  redirectGateway?: string[];
  /** `block-outside-dns` (Windows clients). */
  blockOutsideDns?: boolean;
  ping?: number;
  pingRestart?: number;
  /** `peer-id N`: the client's DATA_V2 id (only for IV_PROTO DATA_V2 clients). */
  peerId?: number;
  /** `cipher X`: the negotiated data-channel cipher. */
  cipher?: string;
  /** `protocol-flags ...` (2.6 clients with CC_EXIT_NOTIFY). */
  protocolFlags?: ProtocolFlag[];
  /** `key-derivation tls-ekm`: for clients without CC_EXIT_NOTIFY that support EKM. */
  keyDerivation?: 'tls-ekm';
  /** `tun-mtu N` (clients that sent IV_MTU). */
  tunMtu?: number;
  /** `auth-token X`: replaces the password on renegotiation. */
  authToken?: string;
  /** `auth-token-user <base64 username>`: given here as the plain username. */
  authTokenUser?: string;
  /** Options passed through verbatim, placed before the per-client ones. */
  extra?: string[];
}

function num(name: string, value: number, min = 0): string {
  if (!Number.isInteger(value) || value < min) {
    throw new PosternError('OVPN_PUSH_BAD_VALUE', `push option ${name} needs an integer >= ${min}`);
  }
  return String(value);
}

function word(name: string, value: string): string {
  if (value === '' || /[\s,]/.test(value) || hasControlCharacter(value)) {
    throw new PosternError('OVPN_PUSH_BAD_VALUE', `push option ${name} has a bad value "${value}"`);
  }
  return value;
}

function routeOption(r: PushRoute): string {
  const parts = ['route', word('route', r.network), word('route', r.netmask)];
  // A metric needs a gateway before it; "vpn_gateway" is OpenVPN's name for route-gateway.
  if (r.gateway !== undefined || r.metric !== undefined) {
    parts.push(word('route', r.gateway ?? 'vpn_gateway'));
  }
  if (r.metric !== undefined) parts.push(num('route metric', r.metric));
  return parts.join(' ');
}

function routeIpv6Option(r: PushRouteIpv6): string {
  const parts = ['route-ipv6', word('route-ipv6', r.network)];
  if (r.gateway !== undefined || r.metric !== undefined) {
    parts.push(word('route-ipv6', r.gateway ?? 'vpn_gateway'));
  }
  if (r.metric !== undefined) parts.push(num('route-ipv6 metric', r.metric));
  return parts.join(' ');
}

/** Options every client of a group gets (OpenVPN's `push` list). */
function commonOptions(config: PushConfig): string[] {
  const out = (config.routes ?? []).map(routeOption);
  out.push(...(config.routesIpv6 ?? []).map(routeIpv6Option));
  for (const d of config.dns ?? []) out.push(`dhcp-option DNS ${word('dhcp-option DNS', d)}`);
  if (config.dnsDomain !== undefined) {
    out.push(`dhcp-option DOMAIN ${word('dhcp-option DOMAIN', config.dnsDomain)}`);
  }
  for (const d of config.searchDomains ?? []) {
    out.push(`dhcp-option DOMAIN-SEARCH ${word('dhcp-option DOMAIN-SEARCH', d)}`);
  }
  if (config.blockOutsideDns === true) out.push('block-outside-dns');
  if (config.redirectGateway !== undefined) {
    const flags = config.redirectGateway.map((f) => word('redirect-gateway', f));
    out.push(['redirect-gateway', ...flags].join(' '));
  }
  if (config.routeGateway !== undefined) {
    out.push(`route-gateway ${word('route-gateway', config.routeGateway)}`);
  }
  if (config.topology !== undefined) out.push(`topology ${config.topology}`);
  if (config.ping !== undefined) out.push(`ping ${num('ping', config.ping, 1)}`);
  if (config.pingRestart !== undefined) {
    out.push(`ping-restart ${num('ping-restart', config.pingRestart, 1)}`);
  }
  out.push(...(config.extra ?? []));
  return out;
}

/** Options OpenVPN adds per client (push.c prepare_push_reply), in its order. */
function perClientOptions(config: PushConfig): string[] {
  const out: string[] = [];
  const v6 = config.ifconfigIpv6;
  if (v6 !== undefined) {
    const address = `${word('ifconfig-ipv6', v6.address)}/${num('ifconfig-ipv6 prefix', v6.prefixLength)}`;
    out.push(`ifconfig-ipv6 ${address} ${word('ifconfig-ipv6', v6.gateway)}`);
  }
  const v4 = config.ifconfig;
  if (v4 !== undefined) {
    out.push(`ifconfig ${word('ifconfig', v4.local)} ${word('ifconfig', v4.netmask)}`);
  }
  if (config.peerId !== undefined) out.push(`peer-id ${num('peer-id', config.peerId)}`);
  if (config.authToken !== undefined) {
    out.push(`auth-token ${word('auth-token', config.authToken)}`);
  }
  if (config.authTokenUser !== undefined) {
    out.push(`auth-token-user ${Buffer.from(config.authTokenUser, 'utf8').toString('base64')}`);
  }
  if (config.cipher !== undefined) out.push(`cipher ${word('cipher', config.cipher)}`);
  if (config.keyDerivation !== undefined) out.push(`key-derivation ${config.keyDerivation}`);
  if (config.protocolFlags !== undefined && config.protocolFlags.length > 0) {
    out.push(`protocol-flags ${config.protocolFlags.join(' ')}`);
  }
  if (config.tunMtu !== undefined) out.push(`tun-mtu ${num('tun-mtu', config.tunMtu, 1)}`);
  return out;
}

/**
 * The options of a typed push config, in the order a 2.6 server sends them: the common push
 * list (routes, DNS, redirect-gateway, route-gateway, topology, ping, extras), then the
 * per-client options (ifconfig-ipv6, ifconfig, peer-id, auth-token, cipher, protocol-flags,
 * tun-mtu). Throws on a value with whitespace, a comma or a control character.
 */
export function pushConfigOptions(config: PushConfig): string[] {
  return [...commonOptions(config), ...perClientOptions(config)];
}

export interface PushReplyLimits {
  /** The bundle buffer (`PUSH_BUNDLE_SIZE`); default 1024. */
  bundleSize?: number;
  /** Room kept free at its end; default 84, as push.c. */
  reserve?: number;
}

/**
 * Cuts push options into PUSH_REPLY messages the way push.c send_push_reply does: a new message
 * starts (the previous one ending ",push-continuation 2") when adding an option would reach
 * bundleSize - reserve bytes; the last of several ends ",push-continuation 1". With no options
 * the result is a bare "PUSH_REPLY". Throws when one option alone cannot fit.
 */
export function buildPushReplies(
  options: readonly string[] | PushConfig,
  limits: PushReplyLimits = {},
): string[] {
  const list = Array.isArray(options)
    ? (options as readonly string[])
    : pushConfigOptions(options as PushConfig);
  const safeCap = (limits.bundleSize ?? PUSH_BUNDLE_SIZE) - (limits.reserve ?? PUSH_BUNDLE_RESERVE);
  const messages: string[] = [];
  let current = PUSH_REPLY;
  for (const option of list) {
    if (option === '' || option.includes(',')) {
      throw new PosternError(
        'OVPN_PUSH_BAD_VALUE',
        `push option "${option}" is empty or has a comma`,
      );
    }
    checkPrintable(option, 'push option');
    const length = utf8Encoder.encode(option).length;
    if (utf8Encoder.encode(current).length + length >= safeCap) {
      messages.push(`${current},${PUSH_CONTINUATION_OPTION} 2`);
      current = PUSH_REPLY;
    }
    if (utf8Encoder.encode(current).length + length >= safeCap) {
      throw new PosternError(
        'OVPN_PUSH_TOO_LONG',
        `push option is too long: ${option.slice(0, 40)}...`,
      );
    }
    current += `,${option}`;
  }
  if (messages.length > 0) current += `,${PUSH_CONTINUATION_OPTION} 1`;
  messages.push(current);
  return messages;
}

/** A pushed configuration as our client understands it; unknown options are kept verbatim. */
export interface PushedConfig extends PushConfig {
  /** Options we did not interpret, in order. */
  unrecognized: string[];
}

function optionalNumber(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** Interprets pushed options into a typed config (for `postern connect`). Never throws. */
export function interpretPushOptions(options: readonly string[]): PushedConfig {
  const config: PushedConfig = { unrecognized: [] };
  for (const option of options) {
    const w = option.trim().split(/\s+/);
    const [name, a, b, c, d] = w;
    switch (name) {
      case 'route':
        if (a !== undefined) {
          const route: PushRoute = { network: a, netmask: b ?? '255.255.255.255' };
          if (c !== undefined && c !== 'vpn_gateway') route.gateway = c;
          const metric = optionalNumber(d);
          if (metric !== undefined) route.metric = metric;
          (config.routes ??= []).push(route);
          continue;
        }
        break;
      case 'route-ipv6':
        if (a !== undefined) {
          const route: PushRouteIpv6 = { network: a };
          if (b !== undefined && b !== 'vpn_gateway') route.gateway = b;
          const metric = optionalNumber(c);
          if (metric !== undefined) route.metric = metric;
          (config.routesIpv6 ??= []).push(route);
          continue;
        }
        break;
      case 'dhcp-option':
        if ((a === 'DNS' || a === 'DNS6') && b !== undefined) {
          (config.dns ??= []).push(b);
          continue;
        }
        if (a === 'DOMAIN' && b !== undefined) {
          config.dnsDomain = b;
          continue;
        }
        if (a === 'DOMAIN-SEARCH' && b !== undefined) {
          (config.searchDomains ??= []).push(b);
          continue;
        }
        break;
      case 'block-outside-dns':
        config.blockOutsideDns = true;
        continue;
      case 'redirect-gateway':
        config.redirectGateway = w.slice(1);
        continue;
      case 'route-gateway':
        if (a !== undefined) {
          config.routeGateway = a;
          continue;
        }
        break;
      case 'topology':
        if (a === 'subnet' || a === 'net30' || a === 'p2p') {
          config.topology = a;
          continue;
        }
        break;
      case 'ping':
      case 'ping-restart':
      case 'peer-id':
      case 'tun-mtu': {
        const n = optionalNumber(a);
        if (n !== undefined) {
          if (name === 'ping') config.ping = n;
          else if (name === 'ping-restart') config.pingRestart = n;
          else if (name === 'peer-id') config.peerId = n;
          else config.tunMtu = n;
          continue;
        }
        break;
      }
      case 'ifconfig':
        if (a !== undefined && b !== undefined) {
          config.ifconfig = { local: a, netmask: b };
          continue;
        }
        break;
      case 'ifconfig-ipv6': {
        const slash = a?.lastIndexOf('/') ?? -1;
        const prefixLength = optionalNumber(a?.slice(slash + 1));
        if (a !== undefined && slash > 0 && prefixLength !== undefined && b !== undefined) {
          config.ifconfigIpv6 = { address: a.slice(0, slash), prefixLength, gateway: b };
          continue;
        }
        break;
      }
      case 'cipher':
        if (a !== undefined) {
          config.cipher = a;
          continue;
        }
        break;
      case 'protocol-flags':
        config.protocolFlags = w
          .slice(1)
          .filter(
            (f): f is ProtocolFlag => f === 'cc-exit' || f === 'tls-ekm' || f === 'dyn-tls-crypt',
          );
        continue;
      case 'key-derivation':
        if (a === 'tls-ekm') {
          config.keyDerivation = a;
          continue;
        }
        break;
      case 'auth-token':
        if (a !== undefined) {
          config.authToken = a;
          continue;
        }
        break;
      case 'auth-token-user':
        if (a !== undefined) {
          config.authTokenUser = Buffer.from(a, 'base64').toString('utf8');
          continue;
        }
        break;
    }
    config.unrecognized.push(option);
  }
  return config;
}

export type PushAssembly = { complete: false } | { complete: true; options: string[] };

/**
 * Joins a series of PUSH_REPLY messages into one option list (client side). Messages marked
 * "push-continuation 2" are held until the one without it, or with "push-continuation 1".
 */
export class PushReplyAssembler {
  private readonly collected: string[] = [];

  /** Adds one parsed PUSH_REPLY; the options are complete when it is the last of its series. */
  add(message: {
    options: readonly string[];
    continuation: PushContinuation | undefined;
  }): PushAssembly {
    this.collected.push(...message.options);
    if (message.continuation === 2) return { complete: false };
    const options = this.collected.splice(0, this.collected.length);
    return { complete: true, options };
  }

  /** Drops a partial series (e.g. on reconnect). */
  reset(): void {
    this.collected.length = 0;
  }
}
