// The shape of DIR/postern.yaml. Keys are spelled as the admin writes them (kebab-case, like
// OpenVPN's options); defaults here are the same ones `postern init` writes out in full.
import { z } from 'zod';
import { cidrFamily, isCidr, isIpAddress } from './cidr.js';

const cidr = z
  .string()
  .refine(isCidr, { message: 'expected a CIDR such as 192.0.2.0/24 or 2001:db8::/64' });
const cidr4 = cidr.refine((s) => cidrFamily(s) === 4, { message: 'expected an IPv4 CIDR' });
const cidr6 = cidr.refine((s) => cidrFamily(s) === 6, { message: 'expected an IPv6 CIDR' });
const ip = z.string().refine(isIpAddress, { message: 'expected an IP address' });
const port = z.number().int().min(1).max(65535);
const seconds = z.number().int().min(0);

/** One allow rule: "any", or "CIDR", optionally followed by "tcp/80", "udp/1000-2000", "icmp". */
export const allowRule = z.string().refine(
  (s) => {
    const parts = s.trim().split(/\s+/);
    if (parts.length === 1 && parts[0] === 'any') return true;
    if (parts.length < 1 || parts.length > 2 || !isCidr(parts[0] ?? '')) return false;
    const proto = parts[1];
    return proto === undefined || /^(icmp|icmpv6|(tcp|udp)(\/\d{1,5}(-\d{1,5})?)?)$/.test(proto);
  },
  { message: 'expected "any" or "CIDR [tcp|udp[/PORT[-PORT]]|icmp]", e.g. "192.0.2.10/32 tcp/80"' },
);

export const groupSchema = z.strictObject({
  routes: z.array(cidr).default([]),
  allow: z.array(allowRule).default([]),
  'full-tunnel': z.boolean().default(false),
  'client-to-client': z.boolean().default(false),
});

const listenerSchema = z.strictObject({
  proto: z.enum(['udp', 'tcp']),
  address: ip.default('::'),
  port,
});

const radiusServerSchema = z.strictObject({
  host: z.string().min(1),
  'auth-port': port.default(1812),
  'acct-port': port.default(1813),
});

const radiusSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    servers: z.array(radiusServerSchema).default([]),
    secret: z.string().default(''),
    'nas-identifier': z.string().min(1).max(253).nullable().default(null),
    'timeout-ms': z.number().int().min(100).max(60_000).default(3000),
    tries: z.number().int().min(1).max(10).default(3),
    accounting: z.boolean().default(true),
  })
  .superRefine((r, ctx) => {
    if (!r.enabled) return;
    if (r.servers.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['servers'],
        message: 'RADIUS is enabled: list a server',
      });
    if (r.secret === '')
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'RADIUS is enabled: set the shared secret',
      });
  })
  .prefault({});

export const configSchema = z.strictObject({
  name: z.string().min(1).max(64).default('postern'),
  endpoint: z.string().min(1),
  store: z.strictObject({ url: z.string().min(1).default('sqlite:postern.db') }).prefault({}),
  api: z
    .strictObject({
      socket: z.string().min(1).default('postern.sock'),
      http: z.string().min(1).default('127.0.0.1:8443'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    })
    .prefault({}),
  openvpn: z
    .strictObject({
      enabled: z.boolean().default(true),
      listen: z.array(listenerSchema).default([
        { proto: 'udp', address: '::', port: 1194 },
        { proto: 'tcp', address: '::', port: 443 },
      ]),
      'data-ciphers': z
        .array(z.enum(['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']))
        .min(1)
        .default(['AES-256-GCM', 'AES-128-GCM', 'CHACHA20-POLY1305']),
      'tls-crypt': z.enum(['v1', 'v2']).default('v2'),
      dataplane: z.enum(['native', 'reference']).default('native'),
      'port-share': z
        .string()
        .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
          message: 'expected HOST:PORT, e.g. 127.0.0.1:8443',
        })
        .nullable()
        .default(null),
      'reneg-sec': seconds.default(3600),
      'reneg-bytes': z.number().int().min(0).default(0),
      keepalive: z
        .strictObject({ ping: seconds.default(10), restart: seconds.default(60) })
        .prefault({}),
      // OpenVPN 2.6's --connect-freq-initial (its default is 100 per 10 s; a Postern reset reply
      // costs ~10 us on the RX thread, so the default lets a reconnect storm through).
      'connect-freq-initial': z
        .strictObject({
          max: z.number().int().min(1).default(1000),
          seconds: z.number().int().min(1).default(1),
        })
        .prefault({}),
    })
    .prefault({}),
  ikev2: z
    .strictObject({
      enabled: z.boolean().default(true),
      ports: z.array(port).default([500, 4500]),
    })
    .prefault({}),
  pools: z
    .strictObject({ ipv4: cidr4.default('100.64.0.0/24'), ipv6: cidr6.default('fd00:64::/64') })
    .prefault({}),
  dns: z.array(ip).default([]),
  auth: z
    .strictObject({
      'max-failures': z.number().int().min(1).default(5),
      'backoff-seconds': z.number().min(0).default(30),
      'max-backoff-seconds': z.number().min(0).default(900),
      'token-lifetime-seconds': z.number().int().min(60).default(28800),
    })
    .prefault({}),
  crypto: z.strictObject({ 'min-tls': z.enum(['1.2', '1.3']).default('1.2') }).prefault({}),
  groups: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/), groupSchema).default({}),
  accounting: z
    .strictObject({
      'interim-seconds': z.number().int().min(1).max(86_400).default(30),
      export: z.string().min(1).nullable().default(null),
    })
    .prefault({}),
  radius: radiusSchema,
});

export type Config = z.infer<typeof configSchema>;
export type GroupConfig = z.infer<typeof groupSchema>;
