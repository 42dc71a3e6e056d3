// Text control messages: PUSH_REPLY built, split and read back; the other messages; the NUL
// splitter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ControlMessageSplitter,
  encodeControlMessage,
  formatControlMessage,
  parseControlMessage,
} from '../../src/proto/openvpn/control-messages.js';
import {
  buildPushReplies,
  interpretPushOptions,
  pushConfigOptions,
  PushReplyAssembler,
} from '../../src/proto/openvpn/push-reply.js';
import type { PushConfig } from '../../src/proto/openvpn/push-reply.js';

const bytes = (s: string) => new TextEncoder().encode(s);

const typicalClient: PushConfig = {
  routes: [{ network: '198.51.100.0', netmask: '255.255.255.0' }],
  routesIpv6: [{ network: '2001:db8:100::/48' }],
  dns: ['100.64.0.1', '2001:db8::53'],
  searchDomains: ['corp.example'],
  redirectGateway: ['def1', 'ipv6'],
  routeGateway: '100.64.0.1',
  topology: 'subnet',
  ping: 10,
  pingRestart: 60,
  ifconfigIpv6: { address: '2001:db8::1000', prefixLength: 64, gateway: '2001:db8::1' },
  ifconfig: { local: '100.64.0.2', netmask: '255.255.255.0' },
  peerId: 0,
  authToken: 'SESS_ID_AT_0123456789abcdef',
  authTokenUser: 'alice',
  cipher: 'AES-256-GCM',
  protocolFlags: ['cc-exit', 'tls-ekm', 'dyn-tls-crypt'],
  tunMtu: 1500,
};

test('transcript: the PUSH_REPLY a Postern server sends a typical 2.6 client', () => {
  const [reply, ...more] = buildPushReplies(typicalClient);
  assert.deepEqual(more, [], 'fits in one message');
  assert.equal(
    reply,
    'PUSH_REPLY,route 198.51.100.0 255.255.255.0,route-ipv6 2001:db8:100::/48,' +
      'dhcp-option DNS 100.64.0.1,dhcp-option DNS 2001:db8::53,dhcp-option DOMAIN-SEARCH corp.example,' +
      'redirect-gateway def1 ipv6,route-gateway 100.64.0.1,topology subnet,ping 10,ping-restart 60,' +
      'ifconfig-ipv6 2001:db8::1000/64 2001:db8::1,ifconfig 100.64.0.2 255.255.255.0,peer-id 0,' +
      'auth-token SESS_ID_AT_0123456789abcdef,auth-token-user YWxpY2U=,cipher AES-256-GCM,' +
      'protocol-flags cc-exit tls-ekm dyn-tls-crypt,tun-mtu 1500',
  );
});

test('read back by the client: the same typed config', () => {
  const [reply] = buildPushReplies(typicalClient);
  const parsed = parseControlMessage(reply as string);
  assert.equal(parsed.kind, 'push-reply');
  if (parsed.kind !== 'push-reply') return;
  assert.equal(parsed.continuation, undefined);
  const config = interpretPushOptions(parsed.options);
  assert.deepEqual(config, { ...typicalClient, unrecognized: [] });
});

test('what OpenVPN 2.6 itself pushes is understood, unknown options are kept', () => {
  const text =
    'PUSH_REPLY,redirect-gateway def1 bypass-dhcp,dhcp-option DNS 208.67.222.222,' +
    'route-gateway 10.8.0.1,topology subnet,ping 10,ping-restart 120,ifconfig 10.8.0.2 255.255.255.0,' +
    'peer-id 0,cipher AES-256-GCM,key-derivation tls-ekm,route 192.0.2.0 255.255.255.0 vpn_gateway 5,' +
    'route-ipv6 2001:db8:1::/48 2001:db8::1,explicit-exit-notify 3';
  const parsed = parseControlMessage(text);
  assert.ok(parsed.kind === 'push-reply');
  const c = interpretPushOptions(parsed.options);
  assert.deepEqual(c.redirectGateway, ['def1', 'bypass-dhcp']);
  assert.deepEqual(c.dns, ['208.67.222.222']);
  assert.deepEqual(c.ifconfig, { local: '10.8.0.2', netmask: '255.255.255.0' });
  assert.equal(c.pingRestart, 120);
  assert.equal(c.keyDerivation, 'tls-ekm');
  assert.deepEqual(c.routes, [{ network: '192.0.2.0', netmask: '255.255.255.0', metric: 5 }]);
  assert.deepEqual(c.routesIpv6, [{ network: '2001:db8:1::/48', gateway: '2001:db8::1' }]);
  assert.deepEqual(c.unrecognized, ['explicit-exit-notify 3']);
});

test('a long push list is split like push.c: continuation 2 ... continuation 1, under 1024 bytes', () => {
  const routes = Array.from({ length: 120 }, (_, i) => ({
    network: `198.18.${i}.0`,
    netmask: '255.255.255.0',
  }));
  const config: PushConfig = { ...typicalClient, routes };
  const messages = buildPushReplies(config);
  assert.ok(messages.length >= 3, `${messages.length} messages`);
  for (const [i, m] of messages.entries()) {
    assert.ok(m.startsWith('PUSH_REPLY,'));
    assert.ok(m.length < 1024 - 84 + ',push-continuation 2'.length, `message ${i}: ${m.length}`);
    const last = i === messages.length - 1;
    assert.ok(m.endsWith(last ? ',push-continuation 1' : ',push-continuation 2'));
  }
  const assembler = new PushReplyAssembler();
  let result;
  for (const m of messages) {
    const parsed = parseControlMessage(m);
    assert.ok(parsed.kind === 'push-reply');
    result = assembler.add(parsed);
    assert.equal(result.complete, m === messages[messages.length - 1]);
  }
  assert.ok(result?.complete);
  assert.deepEqual(result.options, pushConfigOptions(config), 'every option, in order, once');
});

test('split boundary as push.c: an option that would reach 940 bytes starts a new message', () => {
  const prefix = 'PUSH_REPLY'.length; // 10
  const a = 'x'.repeat(900);
  // 10 + 1 + 900 = 911; an option of length 29 makes 911 + 29 = 940 >= 940: new message.
  assert.equal(buildPushReplies([a, 'y'.repeat(28)]).length, 1);
  assert.equal(buildPushReplies([a, 'y'.repeat(29)]).length, 2);
  assert.equal(prefix + 1 + 900, 911);
  assert.throws(() => buildPushReplies(['z'.repeat(930)]), { code: 'OVPN_PUSH_TOO_LONG' });
  assert.deepEqual(buildPushReplies([]), ['PUSH_REPLY'], 'an empty reply is still sent');
  assert.throws(() => buildPushReplies(['route a,b']), { code: 'OVPN_PUSH_BAD_VALUE' });
  assert.throws(() => buildPushReplies({ dns: ['1.1.1.1 2.2.2.2'] }), {
    code: 'OVPN_PUSH_BAD_VALUE',
  });
});

test('other messages, both ways', () => {
  const cases: [string, ReturnType<typeof parseControlMessage>][] = [
    ['PUSH_REQUEST', { kind: 'push-request' }],
    [
      'AUTH_FAILED',
      { kind: 'auth-failed', reason: undefined, temp: undefined, challenge: undefined },
    ],
    [
      'AUTH_FAILED,Data channel cipher negotiation failed (no shared cipher)',
      {
        kind: 'auth-failed',
        reason: 'Data channel cipher negotiation failed (no shared cipher)',
        temp: undefined,
        challenge: undefined,
      },
    ],
    [
      'AUTH_FAILED,TEMP[backoff 30,advance no]:server busy',
      {
        kind: 'auth-failed',
        reason: 'TEMP[backoff 30,advance no]:server busy',
        temp: { backoffSec: 30, advance: 'no', message: 'server busy' },
        challenge: undefined,
      },
    ],
    [
      'AUTH_FAILED,CRV1:R,E:Om01u7Fh4LrGBS7uh0SWmzwabUiGiW6l:Y3Ix:Please enter token PIN',
      {
        kind: 'auth-failed',
        reason: 'CRV1:R,E:Om01u7Fh4LrGBS7uh0SWmzwabUiGiW6l:Y3Ix:Please enter token PIN',
        temp: undefined,
        challenge: {
          flags: 'R,E',
          stateId: 'Om01u7Fh4LrGBS7uh0SWmzwabUiGiW6l',
          usernameBase64: 'Y3Ix',
          text: 'Please enter token PIN',
        },
      },
    ],
    [
      'AUTH_PENDING,timeout 180',
      { kind: 'auth-pending', keywords: ['timeout 180'], timeoutSec: 180 },
    ],
    ['AUTH_PENDING', { kind: 'auth-pending', keywords: [], timeoutSec: undefined }],
    [
      'INFO_PRE,OPEN_URL:https://vpn.example/auth',
      { kind: 'info-pre', text: 'OPEN_URL:https://vpn.example/auth' },
    ],
    ['INFO,hello', { kind: 'info', text: 'hello' }],
    ['CR_RESPONSE,MTIzNDU2', { kind: 'cr-response', response: 'MTIzNDU2' }],
    ['RESTART', { kind: 'restart', flags: undefined, text: undefined }],
    ['RESTART,[N]server moving', { kind: 'restart', flags: 'N', text: 'server moving' }],
    ['HALT,bye', { kind: 'halt', flags: undefined, text: 'bye' }],
    ['EXIT', { kind: 'exit' }],
    ['SOMETHING_ELSE', { kind: 'unknown', text: 'SOMETHING_ELSE' }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseControlMessage(text), expected, text);

  assert.equal(formatControlMessage({ kind: 'push-request' }), 'PUSH_REQUEST');
  assert.equal(
    formatControlMessage({
      kind: 'auth-failed',
      reason: 'Data channel cipher negotiation failed (no shared cipher)',
    }),
    'AUTH_FAILED,Data channel cipher negotiation failed (no shared cipher)',
  );
  assert.equal(formatControlMessage({ kind: 'auth-failed' }), 'AUTH_FAILED');
  assert.equal(
    formatControlMessage({
      kind: 'auth-failed-temp',
      backoffSec: 30,
      advance: 'no',
      message: 'server busy',
    }),
    'AUTH_FAILED,TEMP[backoff 30,advance no]:server busy',
  );
  assert.equal(
    formatControlMessage({ kind: 'auth-pending', timeoutSec: 180 }),
    'AUTH_PENDING,timeout 180',
  );
  assert.equal(formatControlMessage({ kind: 'restart', flags: 'N', text: 'x' }), 'RESTART,[N]x');
  assert.equal(formatControlMessage({ kind: 'halt' }), 'HALT');
  assert.equal(formatControlMessage({ kind: 'exit' }), 'EXIT');
  assert.equal(
    formatControlMessage({ kind: 'info-pre', text: 'WEB_AUTH::https://x' }),
    'INFO_PRE,WEB_AUTH::https://x',
  );
  assert.throws(() => formatControlMessage({ kind: 'info', text: 'a\nb' }), {
    code: 'OVPN_CONTROL_BAD_TEXT',
  });
  assert.deepEqual(encodeControlMessage('EXIT'), Uint8Array.from([0x45, 0x58, 0x49, 0x54, 0]));
});

test('splitter: messages come out whole whatever the TLS read boundaries', () => {
  const stream = new Uint8Array([
    ...encodeControlMessage('PUSH_REQUEST'),
    ...encodeControlMessage('PUSH_REPLY,ping 10'),
    0, // a stray empty message is skipped
    ...bytes('EXIT\r\n\0'), // CR/LF before the NUL are trimmed, as OpenVPN does
    ...bytes('PART'),
  ]);
  for (const chunk of [1, 2, 3, 7, stream.length]) {
    const splitter = new ControlMessageSplitter();
    const got: string[] = [];
    for (let off = 0; off < stream.length; off += chunk) {
      for (const out of splitter.push(stream.subarray(off, off + chunk))) {
        assert.equal(out.kind, 'message');
        if (out.kind === 'message') got.push(out.text);
      }
    }
    assert.deepEqual(got, ['PUSH_REQUEST', 'PUSH_REPLY,ping 10', 'EXIT'], `chunk ${chunk}`);
    assert.equal(splitter.pendingBytes(), 4, 'PART waits for its NUL');
  }
});

test('splitter: control characters and oversize messages are reported, the stream goes on', () => {
  const splitter = new ControlMessageSplitter({ maxMessageBytes: 16 });
  const out = [
    ...splitter.push(bytes('BAD\x01MSG\0')),
    ...splitter.push(bytes('x'.repeat(10))),
    ...splitter.push(bytes('y'.repeat(10))),
    ...splitter.push(bytes('zz\0PUSH_REQUEST\0')),
  ];
  assert.deepEqual(
    out.map((o) => o.kind),
    ['invalid', 'overflow', 'message'],
  );
  assert.deepEqual(out[2], { kind: 'message', text: 'PUSH_REQUEST' });
});

test('property: any printable messages survive any chunking, in order', () => {
  const printable = fc
    .string({ minLength: 1, maxLength: 80 })
    .map((s) => s.replace(/[^\x20-\x7e]/g, 'a'))
    .filter((s) => s.trim() !== '' && !/[\r\n]$/.test(s));
  fc.assert(
    fc.property(
      fc.array(printable, { maxLength: 10 }),
      fc.integer({ min: 1, max: 50 }),
      (msgs, size) => {
        const stream = new Uint8Array(msgs.flatMap((m) => [...encodeControlMessage(m)]));
        const splitter = new ControlMessageSplitter();
        const got: string[] = [];
        for (let off = 0; off < stream.length; off += size) {
          for (const o of splitter.push(stream.subarray(off, off + size))) {
            if (o.kind === 'message') got.push(o.text);
          }
        }
        assert.deepEqual(got, msgs);
      },
    ),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseControlMessage(s); // never throws
      interpretPushOptions(s.split(','));
    }),
  );
});
