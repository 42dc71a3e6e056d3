// Loads the golden OpenVPN captures made by capture.sh (see README.md next to it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The source folder of the vectors, whether running from src or from dist. */
export const VECTORS_DIR = join(
  process.env.POSTERN_ROOT ?? fileURLToPath(new URL('../../../../', import.meta.url)),
  'test',
  'vectors',
  'openvpn',
);

export type Direction = 'c2s' | 's2c';

export interface CapturedPacket {
  dir: Direction;
  bytes: Uint8Array;
}

/** What OpenVPN itself logged about its keys (verb 7+), to check our key handling against. */
export interface ObservedKeys {
  tlsCryptSendCipherKey: string;
  tlsCryptSendHmacKey: string;
  tlsCryptReceiveCipherKey: string;
  tlsCryptReceiveHmacKey: string;
  dynamicTlsCryptSendCipherKeys: string[];
  dynamicTlsCryptSendHmacKeys: string[];
  dataSendCipherKeys: string[];
  dataReceiveCipherKeys: string[];
  dataSendImplicitIvs: string[];
  dataReceiveImplicitIvs: string[];
  peerId: number;
}

export interface Capture {
  scenario: string;
  description: string;
  openvpnVersion: string;
  transport: 'udp' | 'tcp';
  /** RFC 5705 exports in the order OpenVPN made them. */
  exportedKeyingMaterial: { label: string; bytes: Uint8Array }[];
  observed: { client: ObservedKeys; server: ObservedKeys };
  packets: CapturedPacket[];
  tcpStreams?: { c2s: Uint8Array; s2c: Uint8Array };
}

export type Scenario = 'udp-tls-crypt' | 'udp-tls-crypt-v2' | 'tcp-tls-crypt';

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

interface RawCapture extends Omit<Capture, 'exportedKeyingMaterial' | 'packets' | 'tcpStreams'> {
  exportedKeyingMaterial: { label: string; hex: string }[];
  packets: { dir: Direction; hex: string }[];
  tcpStreams?: { c2s: string; s2c: string };
}

export function loadCapture(scenario: Scenario): Capture {
  const raw = JSON.parse(readFileSync(join(VECTORS_DIR, `${scenario}.json`), 'utf8')) as RawCapture;
  const { exportedKeyingMaterial, packets, tcpStreams, ...rest } = raw;
  return {
    ...rest,
    exportedKeyingMaterial: exportedKeyingMaterial.map((e) => ({
      label: e.label,
      bytes: hex(e.hex),
    })),
    packets: packets.map((p) => ({ dir: p.dir, bytes: hex(p.hex) })),
    ...(tcpStreams ? { tcpStreams: { c2s: hex(tcpStreams.c2s), s2c: hex(tcpStreams.s2c) } } : {}),
  };
}

export function readVectorFile(name: string): string {
  return readFileSync(join(VECTORS_DIR, name), 'utf8');
}
