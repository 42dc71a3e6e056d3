// Writes the postern.yaml that `postern init` leaves in DIR: every setting spelled out with its
// default and a comment, so the file itself is the reference an admin edits.
import { stringify } from 'yaml';

export interface InitSettings {
  name: string;
  endpoint: string;
  routes: string[];
  dns: string[];
  pool4: string;
  pool6: string;
}

const q = (v: unknown): string => stringify(v).trim();
const list = (items: string[]): string => `[${items.map((i) => q(i)).join(', ')}]`;

export function renderConfig(s: InitSettings): string {
  return `# Postern gateway configuration. Edit, then \`postern reload\` (or SIGHUP) to apply;
# a broken file is refused with its line number and the running configuration stays.

name: ${q(s.name)}                  # shown in logs, profiles and the console
endpoint: ${q(s.endpoint)}          # host name or address clients connect to (in profiles and the certificate)

store:                              # where users, certificates, sessions, audit and accounting live
  url: sqlite:postern.db            # SQLite file in this directory (a postgres:// URL later)

api:                                # how the CLI and the console reach the gateway
  socket: postern.sock              # unix socket in this directory for the CLI (mode 0600)
  http: 127.0.0.1:8443              # console and HTTP API (not served yet: the CLI uses the socket)

log:                                # JSON lines on stdout
  level: info                       # fatal | error | warn | info | debug | trace

openvpn:                            # SSL VPN, wire-compatible with OpenVPN 2.6 clients
  enabled: true
  listen:
    - { proto: udp, address: "::", port: 1194 }
    - { proto: tcp, address: "::", port: 443 }
  data-ciphers: [AES-256-GCM, AES-128-GCM, CHACHA20-POLY1305]   # preference order; AEAD only
  tls-crypt: v2                     # v2: a key per client profile; v1: one shared key
  dataplane: native                 # native: the C fast path (UDP and TCP); reference: TypeScript only
  port-share: null                  # HOST:PORT of a web server: non-OpenVPN TCP connections go there
  reneg-sec: 3600                   # fresh data keys this often (the server jitters 90-100%)
  reneg-bytes: 0                    # and after this many bytes each way together (0: no limit)
  keepalive: { ping: 10, restart: 60 }
  connect-freq-initial: { max: 1000, seconds: 1 }   # UDP: reset replies per window, to everyone (flood guard)

ikev2:                              # IPsec: IKEv2 + ESP in UDP (not implemented yet)
  enabled: true
  ports: [500, 4500]

pools:                              # addresses handed to clients
  ipv4: ${q(s.pool4)}
  ipv6: ${q(s.pool6)}

dns: ${list(s.dns)}                 # DNS servers pushed to clients

auth:                               # the brake on guessing, and auth-tokens
  max-failures: 5                   # wrong answers per user and per source before a lockout
  backoff-seconds: 30               # the first lockout; each further failure doubles it
  max-backoff-seconds: 900
  token-lifetime-seconds: 28800     # how long a pushed auth-token replaces the password

crypto:                             # the floor: nothing weaker is negotiated, whatever a peer offers
  min-tls: "1.2"                    # lowest TLS version accepted on the control channel

# Groups decide what is inside the tunnel for their members: \`routes\` are pushed to the
# client (split tunnel), \`allow\` is what the gateway lets through ("any", or "CIDR" with an
# optional "tcp/80", "udp/1000-2000" or "icmp"); everything else is dropped and counted.
# A user in no group is in \`default\`.
groups:                             # see above
  default:
    routes: ${list(s.routes)}
    allow: ${list(s.routes)}
    full-tunnel: false              # true: all of the client's traffic goes through the gateway
    client-to-client: false         # true: members may reach each other's VPN addresses

accounting:                         # bytes and packets each way per session, in the store
  interim-seconds: 30               # live totals saved this often: at most this much is lost if the gateway dies
  export: null                      # path of a JSON-lines file for a SIEM: every audit record and accounting update, one line each

radius:                             # optional RADIUS (RFC 2865/2866) for passwords and accounting
  enabled: false
  servers: []                       # e.g. [{ host: 192.0.2.10, auth-port: 1812, acct-port: 1813 }], tried in order
  secret: ""                        # shared secret, the same as in the server's clients.conf
  nas-identifier: null              # NAS-Identifier sent to the server (null: the name above)
  timeout-ms: 3000                  # wait this long for each answer before retransmitting
  tries: 3                          # transmissions per server before the next one
  accounting: true                  # also send Accounting-Request Start / Interim-Update / Stop
`;
}
