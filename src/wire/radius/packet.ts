// RADIUS packets as values: decode checks every length before reading and never throws on bad
// input (it returns why); encode refuses what it cannot represent.
import { PosternError } from '../../errors.js';
import {
  ATTRIBUTE_HEADER_SIZE,
  AUTHENTICATOR_OFFSET,
  AUTHENTICATOR_SIZE,
  CODE_OFFSET,
  HEADER_SIZE,
  IDENTIFIER_OFFSET,
  LENGTH_OFFSET,
  MAX_ATTRIBUTE_VALUE,
  MAX_PACKET_SIZE,
} from './constants.js';

export interface RadiusAttribute {
  type: number;
  value: Uint8Array;
}

export interface RadiusPacket {
  code: number;
  identifier: number;
  authenticator: Uint8Array;
  attributes: RadiusAttribute[];
}

export type DecodeResult = { ok: true; packet: RadiusPacket } | { ok: false; reason: string };

export function decodePacket(bytes: Uint8Array): DecodeResult {
  if (bytes.length < HEADER_SIZE) return { ok: false, reason: 'shorter than the header' };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint16(LENGTH_OFFSET);
  if (length < HEADER_SIZE || length > MAX_PACKET_SIZE) {
    return { ok: false, reason: `length field ${length} out of range` };
  }
  // RFC 2865 §3: octets past Length are padding and ignored; fewer than Length is a bad packet.
  if (length > bytes.length) return { ok: false, reason: 'truncated packet' };
  const attributes: RadiusAttribute[] = [];
  let at = HEADER_SIZE;
  while (at < length) {
    if (at + ATTRIBUTE_HEADER_SIZE > length) return { ok: false, reason: 'truncated attribute' };
    const type = view.getUint8(at);
    const attrLength = view.getUint8(at + 1);
    if (attrLength < ATTRIBUTE_HEADER_SIZE) {
      return { ok: false, reason: `attribute ${type} has length ${attrLength}` };
    }
    if (at + attrLength > length) return { ok: false, reason: `attribute ${type} overruns` };
    attributes.push({ type, value: bytes.slice(at + ATTRIBUTE_HEADER_SIZE, at + attrLength) });
    at += attrLength;
  }
  return {
    ok: true,
    packet: {
      code: view.getUint8(CODE_OFFSET),
      identifier: view.getUint8(IDENTIFIER_OFFSET),
      authenticator: bytes.slice(AUTHENTICATOR_OFFSET, AUTHENTICATOR_OFFSET + AUTHENTICATOR_SIZE),
      attributes,
    },
  };
}

export function encodePacket(p: RadiusPacket): Uint8Array {
  if (p.authenticator.length !== AUTHENTICATOR_SIZE) {
    throw new PosternError('RADIUS_ENCODE', 'the authenticator must be 16 octets');
  }
  let length = HEADER_SIZE;
  for (const a of p.attributes) {
    if (a.value.length > MAX_ATTRIBUTE_VALUE || a.type < 0 || a.type > 255) {
      throw new PosternError('RADIUS_ENCODE', `attribute ${a.type} cannot be encoded`);
    }
    length += ATTRIBUTE_HEADER_SIZE + a.value.length;
  }
  if (length > MAX_PACKET_SIZE) {
    throw new PosternError('RADIUS_ENCODE', `packet of ${length} octets exceeds 4096`);
  }
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint8(CODE_OFFSET, p.code);
  view.setUint8(IDENTIFIER_OFFSET, p.identifier);
  view.setUint16(LENGTH_OFFSET, length);
  out.set(p.authenticator, AUTHENTICATOR_OFFSET);
  let at = HEADER_SIZE;
  for (const a of p.attributes) {
    view.setUint8(at, a.type);
    view.setUint8(at + 1, ATTRIBUTE_HEADER_SIZE + a.value.length);
    out.set(a.value, at + ATTRIBUTE_HEADER_SIZE);
    at += ATTRIBUTE_HEADER_SIZE + a.value.length;
  }
  return out;
}

// Attribute values (RFC 2865 §5: text, string, address, integer).

const INTEGER_SIZE = 4;
const IPV4_SIZE = 4;

export function textAttr(type: number, text: string): RadiusAttribute {
  return { type, value: new TextEncoder().encode(text).subarray(0, MAX_ATTRIBUTE_VALUE) };
}

export function integerAttr(type: number, n: number): RadiusAttribute {
  const value = new Uint8Array(INTEGER_SIZE);
  new DataView(value.buffer).setUint32(0, n >>> 0);
  return { type, value };
}

export function ipv4Attr(type: number, address: string): RadiusAttribute {
  const parts = address.split('.').map(Number);
  if (parts.length !== IPV4_SIZE || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
    throw new PosternError('RADIUS_ENCODE', `"${address}" is not an IPv4 address`);
  }
  return { type, value: Uint8Array.from(parts) };
}

export function findAttr(p: RadiusPacket, type: number): Uint8Array | undefined {
  return p.attributes.find((a) => a.type === type)?.value;
}

export function readText(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : new TextDecoder().decode(value);
}

export function readInteger(value: Uint8Array | undefined): number | undefined {
  if (value?.length !== INTEGER_SIZE) return undefined;
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0);
}
