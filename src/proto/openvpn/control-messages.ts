// Text control messages carried in the TLS stream after key method 2: each one a printable
// string terminated by NUL (ssl_pkt.c extract_command_buffer, forward.c
// process_incoming_control_channel). The client asks PUSH_REQUEST; the server answers PUSH_REPLY
// with comma-separated options, or AUTH_FAILED / AUTH_PENDING; either side may later send
// RESTART, HALT, INFO, EXIT or a CR_RESPONSE. A stock client dispatches on the message prefix.
//
// PUSH_REPLY options are built and read in push-reply.ts. A peer reads at most
// TLS_CHANNEL_BUF_SIZE (2048) bytes per message.

import { TLS_CHANNEL_BUF_SIZE } from './constants.js';
import { PosternError } from '../../errors.js';

export const PUSH_REQUEST = 'PUSH_REQUEST';
export const PUSH_REPLY = 'PUSH_REPLY';
const PUSH_UPDATE = 'PUSH_UPDATE';
const AUTH_FAILED = 'AUTH_FAILED';
const AUTH_PENDING = 'AUTH_PENDING';
const INFO_PRE = 'INFO_PRE';
const INFO = 'INFO';
const CR_RESPONSE = 'CR_RESPONSE';
const RESTART = 'RESTART';
const HALT = 'HALT';
const EXIT = 'EXIT';
export const PUSH_CONTINUATION_OPTION = 'push-continuation';
const TEMP_PREFIX = 'TEMP';
const CRV1_PREFIX = 'CRV1:';

/** Whether more PUSH_REPLY messages follow (2) or this is the last of a series (1). */
export type PushContinuation = 1 | 2;

/** AUTH_FAILED,TEMP[backoff N,advance no|remote|addr]:message (options_util.c). */
export interface AuthFailedTemp {
  backoffSec: number | undefined;
  advance: 'no' | 'remote' | 'addr' | undefined;
  message: string;
}

/** AUTH_FAILED,CRV1:flags:state_id:username_base64:challenge_text, a dynamic challenge. */
export interface Crv1Challenge {
  flags: string;
  stateId: string;
  usernameBase64: string;
  text: string;
}

export type ControlMessage =
  | { kind: 'push-request' }
  | { kind: 'push-reply'; options: string[]; continuation: PushContinuation | undefined }
  | { kind: 'push-update'; options: string[]; continuation: PushContinuation | undefined }
  | {
      kind: 'auth-failed';
      /** Text after "AUTH_FAILED,", if any. */
      reason: string | undefined;
      temp: AuthFailedTemp | undefined;
      challenge: Crv1Challenge | undefined;
    }
  | {
      kind: 'auth-pending';
      /** Keywords after the comma, e.g. ["timeout 180"]. */
      keywords: string[];
      timeoutSec: number | undefined;
    }
  | { kind: 'info-pre'; text: string }
  | { kind: 'info'; text: string }
  | { kind: 'cr-response'; response: string }
  | { kind: 'restart'; flags: string | undefined; text: string | undefined }
  | { kind: 'halt'; flags: string | undefined; text: string | undefined }
  | { kind: 'exit' }
  | { kind: 'unknown'; text: string };

/** Text after `prefix` and a comma, or undefined when nothing follows the prefix. */
function afterComma(text: string, prefix: string): string | undefined {
  const rest = text.slice(prefix.length);
  if (rest.startsWith(',')) return rest.slice(1);
  return undefined;
}

function splitOptions(body: string | undefined): {
  options: string[];
  continuation: PushContinuation | undefined;
} {
  const options: string[] = [];
  let continuation: PushContinuation | undefined;
  for (const raw of (body ?? '').split(',')) {
    const option = raw.trim();
    if (option === '') continue;
    const words = option.split(/\s+/);
    if (words[0] === PUSH_CONTINUATION_OPTION) {
      if (words[1] === '1' || words[1] === '2') continuation = Number(words[1]) as PushContinuation;
      continue;
    }
    options.push(option);
  }
  return { options, continuation };
}

function parseTemp(body: string): AuthFailedTemp {
  let backoffSec: number | undefined;
  let advance: AuthFailedTemp['advance'];
  let rest = body;
  const close = body.indexOf(']');
  if (body.startsWith('[') && close > 0) {
    for (const token of body.slice(1, close).split(',')) {
      const t = token.trim();
      const backoff = /^backoff (\d+)$/.exec(t);
      if (backoff !== null) backoffSec = Number(backoff[1]);
      const adv = /^advance (no|remote|addr)$/.exec(t);
      if (adv !== null) advance = adv[1] as AuthFailedTemp['advance'];
    }
    rest = body.slice(close + 1);
  }
  return { backoffSec, advance, message: rest.startsWith(':') ? rest.slice(1) : '' };
}

function parseCrv1(reason: string): Crv1Challenge | undefined {
  if (!reason.startsWith(CRV1_PREFIX)) return undefined;
  const parts = reason.slice(CRV1_PREFIX.length).split(':');
  if (parts.length < 4) return undefined;
  const [flags, stateId, usernameBase64] = parts as [string, string, string];
  return { flags, stateId, usernameBase64, text: parts.slice(3).join(':') };
}

/** Splits "RESTART,[flags]text" / "HALT,[flags]text" (push.c server_pushed_signal). */
function parseSignal(rest: string | undefined): {
  flags: string | undefined;
  text: string | undefined;
} {
  if (rest === undefined || rest === '') return { flags: undefined, text: undefined };
  const close = rest.indexOf(']');
  if (rest.startsWith('[') && close > 0) {
    const text = rest.slice(close + 1);
    return { flags: rest.slice(1, close), text: text === '' ? undefined : text };
  }
  return { flags: undefined, text: rest };
}

/**
 * Classifies one control message (without its NUL), by prefix as a stock client does. Never
 * throws; anything unrecognised is `{ kind: 'unknown' }`.
 */
export function parseControlMessage(text: string): ControlMessage {
  if (text.startsWith(PUSH_REQUEST)) return { kind: 'push-request' };
  if (text.startsWith(PUSH_REPLY)) {
    return { kind: 'push-reply', ...splitOptions(afterComma(text, PUSH_REPLY)) };
  }
  if (text.startsWith(PUSH_UPDATE)) {
    return { kind: 'push-update', ...splitOptions(afterComma(text, PUSH_UPDATE)) };
  }
  if (text.startsWith(AUTH_FAILED)) {
    const reason = afterComma(text, AUTH_FAILED);
    return {
      kind: 'auth-failed',
      reason,
      temp:
        reason?.startsWith(TEMP_PREFIX) === true
          ? parseTemp(reason.slice(TEMP_PREFIX.length))
          : undefined,
      challenge: reason === undefined ? undefined : parseCrv1(reason),
    };
  }
  if (text.startsWith(AUTH_PENDING)) {
    const keywords = (afterComma(text, AUTH_PENDING) ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== '');
    let timeoutSec: number | undefined;
    for (const k of keywords) {
      const m = /^timeout (\d+)$/.exec(k);
      if (m !== null) timeoutSec = Number(m[1]);
    }
    return { kind: 'auth-pending', keywords, timeoutSec };
  }
  if (text.startsWith(INFO_PRE)) {
    return { kind: 'info-pre', text: afterComma(text, INFO_PRE) ?? '' };
  }
  if (text.startsWith(INFO)) return { kind: 'info', text: afterComma(text, INFO) ?? '' };
  if (text.startsWith(CR_RESPONSE)) {
    return { kind: 'cr-response', response: afterComma(text, CR_RESPONSE) ?? '' };
  }
  if (text.startsWith(RESTART)) {
    return { kind: 'restart', ...parseSignal(afterComma(text, RESTART)) };
  }
  if (text.startsWith(HALT)) return { kind: 'halt', ...parseSignal(afterComma(text, HALT)) };
  if (text.startsWith(EXIT)) return { kind: 'exit' };
  return { kind: 'unknown', text };
}

function withReason(head: string, reason: string | undefined): string {
  return reason === undefined || reason === '' ? head : `${head},${reason}`;
}

/** A control message to send; PUSH_REPLY goes through buildPushReplies instead. */
export type OutgoingControlMessage =
  | { kind: 'push-request' }
  | { kind: 'auth-failed'; reason?: string }
  | {
      kind: 'auth-failed-temp';
      backoffSec?: number;
      advance?: 'no' | 'remote' | 'addr';
      message?: string;
    }
  | { kind: 'auth-pending'; timeoutSec?: number; keywords?: string[] }
  | { kind: 'info-pre'; text: string }
  | { kind: 'info'; text: string }
  | { kind: 'cr-response'; response: string }
  | { kind: 'restart'; flags?: string; text?: string }
  | { kind: 'halt'; flags?: string; text?: string }
  | { kind: 'exit' };

/** The text of a control message (without its NUL). Throws on control characters. */
export function formatControlMessage(message: OutgoingControlMessage): string {
  let text: string;
  switch (message.kind) {
    case 'push-request':
      text = PUSH_REQUEST;
      break;
    case 'auth-failed':
      text = withReason(AUTH_FAILED, message.reason);
      break;
    case 'auth-failed-temp': {
      const flags: string[] = [];
      if (message.backoffSec !== undefined) flags.push(`backoff ${message.backoffSec}`);
      if (message.advance !== undefined) flags.push(`advance ${message.advance}`);
      const body = flags.length > 0 ? `[${flags.join(',')}]` : '';
      const tail = message.message === undefined ? '' : `:${message.message}`;
      text = `${AUTH_FAILED},${TEMP_PREFIX}${body}${tail}`;
      break;
    }
    case 'auth-pending': {
      const keywords = [...(message.keywords ?? [])];
      if (message.timeoutSec !== undefined) keywords.unshift(`timeout ${message.timeoutSec}`);
      text = withReason(AUTH_PENDING, keywords.join(','));
      break;
    }
    case 'info-pre':
      text = `${INFO_PRE},${message.text}`;
      break;
    case 'info':
      text = `${INFO},${message.text}`;
      break;
    case 'cr-response':
      text = `${CR_RESPONSE},${message.response}`;
      break;
    case 'restart':
    case 'halt': {
      const head = message.kind === 'restart' ? RESTART : HALT;
      const flags = message.flags === undefined ? '' : `[${message.flags}]`;
      text = withReason(head, `${flags}${message.text ?? ''}`);
      break;
    }
    case 'exit':
      text = EXIT;
      break;
  }
  checkPrintable(text, 'control message');
  return text;
}

const FIRST_PRINTABLE = 0x20;
const DELETE = 0x7f;

/** True when `text` has a C0 control character or DEL. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < FIRST_PRINTABLE || c === DELETE) return true;
  }
  return false;
}

function checkPrintable(text: string, what: string): void {
  // Stock peers drop messages with control characters (string_check_buf CC_PRINT).
  if (hasControlCharacter(text)) {
    throw new PosternError('OVPN_CONTROL_BAD_TEXT', `${what} contains a control character`);
  }
}

const utf8Encoder = new TextEncoder();

/** A control message as TLS plaintext: its bytes and the terminating NUL. */
export function encodeControlMessage(text: string): Uint8Array {
  checkPrintable(text, 'control message');
  const body = utf8Encoder.encode(text);
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  return out;
}

export type SplitterOutput =
  | { kind: 'message'; text: string }
  /** A message with control characters or bad UTF-8: stock peers drop these too. */
  | { kind: 'invalid'; bytes: Uint8Array }
  /** More than `maxMessageBytes` without a NUL: the buffered bytes were discarded. */
  | { kind: 'overflow'; discarded: number };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Cuts a stream of TLS plaintext into NUL-terminated control messages, whatever the chunking.
 * Trailing CR/LF is removed from each message (as extract_command_buffer does); a message with
 * other control characters is reported invalid; an empty message (a lone NUL) is skipped.
 */
export class ControlMessageSplitter {
  private readonly maxMessageBytes: number;
  private parts: Uint8Array[] = [];
  private buffered = 0;
  private discarding = false;

  constructor(options: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? TLS_CHANNEL_BUF_SIZE;
  }

  /** Feeds plaintext; returns the messages completed by it, in order. */
  push(bytes: Uint8Array): SplitterOutput[] {
    const out: SplitterOutput[] = [];
    let start = 0;
    while (start < bytes.length) {
      const nul = bytes.indexOf(0, start);
      const end = nul < 0 ? bytes.length : nul;
      const piece = bytes.slice(start, end); // the caller may reuse its buffer
      if (!this.discarding) {
        this.parts.push(piece);
        this.buffered += piece.length;
        if (this.buffered > this.maxMessageBytes) {
          out.push({ kind: 'overflow', discarded: this.buffered });
          this.parts = [];
          this.buffered = 0;
          this.discarding = true;
        }
      }
      if (nul < 0) break;
      if (this.discarding) {
        this.discarding = false;
      } else {
        const message = this.takeMessage();
        if (message !== undefined) out.push(message);
      }
      start = nul + 1;
    }
    return out;
  }

  /** Bytes held waiting for a NUL. */
  pendingBytes(): number {
    return this.buffered;
  }

  private takeMessage(): SplitterOutput | undefined {
    const joined = new Uint8Array(this.buffered);
    let off = 0;
    for (const p of this.parts) {
      joined.set(p, off);
      off += p.length;
    }
    this.parts = [];
    this.buffered = 0;
    let len = joined.length;
    while (len > 0 && (joined[len - 1] === 0x0a || joined[len - 1] === 0x0d)) len--;
    if (len === 0) return undefined;
    const body = joined.subarray(0, len);
    let text: string;
    try {
      text = strictUtf8.decode(body);
    } catch {
      return { kind: 'invalid', bytes: joined };
    }
    if (hasControlCharacter(text)) return { kind: 'invalid', bytes: joined };
    return { kind: 'message', text };
  }
}
