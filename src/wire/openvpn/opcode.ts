// The first byte of every OpenVPN packet: opcode (high 5 bits) and key id (low 3 bits).
import { PosternError } from '../../errors.js';
import { KEY_ID_MASK, LAST_OPCODE, Opcode, OPCODE_SHIFT } from './constants.js';

export interface OpcodeByte {
  opcode: Opcode;
  keyId: number;
}

const KNOWN_OPCODES: ReadonlySet<number> = new Set(Object.values(Opcode));

/** Splits the first byte; undefined when the opcode is not one OpenVPN 2.6 defines. */
export function readOpcodeByte(byte: number): OpcodeByte | undefined {
  const opcode = (byte & 0xff) >>> OPCODE_SHIFT;
  if (opcode > LAST_OPCODE || !KNOWN_OPCODES.has(opcode)) return undefined;
  return { opcode: opcode as Opcode, keyId: byte & KEY_ID_MASK };
}

/** Joins opcode and key id into the first byte. Throws on our own misuse only. */
export function opcodeByte(opcode: Opcode, keyId: number): number {
  if (!KNOWN_OPCODES.has(opcode)) {
    throw new PosternError('OPENVPN_BAD_OPCODE', `unknown OpenVPN opcode ${String(opcode)}`);
  }
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > KEY_ID_MASK) {
    throw new PosternError('OPENVPN_BAD_KEY_ID', `key id ${keyId} is outside 0..${KEY_ID_MASK}`);
  }
  return (opcode << OPCODE_SHIFT) | keyId;
}

export function isDataOpcode(
  opcode: Opcode,
): opcode is typeof Opcode.DATA_V1 | typeof Opcode.DATA_V2 {
  return opcode === Opcode.DATA_V1 || opcode === Opcode.DATA_V2;
}

/** Control opcodes that carry a message packet id and payload (everything but ACK_V1). */
export type MessageOpcode =
  | typeof Opcode.CONTROL_SOFT_RESET_V1
  | typeof Opcode.CONTROL_V1
  | typeof Opcode.CONTROL_HARD_RESET_CLIENT_V2
  | typeof Opcode.CONTROL_HARD_RESET_SERVER_V2
  | typeof Opcode.CONTROL_HARD_RESET_CLIENT_V3
  | typeof Opcode.CONTROL_WKC_V1;

export function isMessageOpcode(opcode: Opcode): opcode is MessageOpcode {
  return opcode !== Opcode.ACK_V1 && !isDataOpcode(opcode);
}

/** Opcodes after which a tls-crypt-v2 wrapped client key (WKc) is appended. */
export function carriesWrappedClientKey(opcode: Opcode): boolean {
  return opcode === Opcode.CONTROL_HARD_RESET_CLIENT_V3 || opcode === Opcode.CONTROL_WKC_V1;
}
