// The session driver carries out a core call's outputs in an order the client can live with:
// data keys installed before the PUSH_REPLY that lets the client send with them, and the
// 'established' bookkeeping (session table, audit, accounting, log) only once that call's
// packets are out, so it does not hold up the PUSH_REPLY; still before a close it came with.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionDriver, type DriverHooks } from '../../src/gateway/openvpn/session-driver.js';
import type {
  ServerOutput,
  ServerSession,
} from '../../src/proto/openvpn/session/server-session.js';

function driverLogging(): { driver: SessionDriver; log: string[] } {
  const log: string[] = [];
  const hooks: DriverHooks = {
    authenticate: () => log.push('authenticate'),
    keys: (_d, out) => log.push(`keys ${out.keyId}`),
    useKey: () => log.push('use-key'),
    retireKey: () => log.push('retire-key'),
    established: (_d, out) => log.push(`established ${out.cipher}`),
    closed: (_d, reason) => log.push(`closed ${reason}`),
    kicked: () => log.push('kicked'),
    counters: () => ({ bytesIn: 0, bytesOut: 0 }),
  };
  const driver = new SessionDriver({
    protocol: 'openvpn-udp',
    peerId: 1,
    transport: { send: (p: Uint8Array) => void log.push(`send ${p[0]}`) },
    remote: '198.51.100.7:40000',
    hooks,
  });
  // Only what run() asks of its core: when to call again.
  driver.core = { nextDeadline: () => undefined } as unknown as ServerSession;
  return { driver, log };
}

const KEYS = {
  kind: 'keys',
  keyId: 0,
  peerId: 1,
  sendNow: true,
  keys: {},
} as unknown as ServerOutput;
const ESTABLISHED = {
  kind: 'established',
  commonName: 'alice',
  username: undefined,
  cipher: 'AES-256-GCM',
  peerId: 1,
  tls: {},
} as unknown as ServerOutput;
const send = (n: number): ServerOutput => ({ kind: 'send', packet: Uint8Array.of(n) });

describe('session driver', () => {
  it("installs the keys, sends the PUSH_REPLY, then does the 'established' bookkeeping", () => {
    const { driver, log } = driverLogging();
    // As ServerSession.accept returns them: events first, packets at the end.
    driver.run([KEYS, ESTABLISHED, send(1), send(2)]);
    assert.deepEqual(log, ['keys 0', 'send 1', 'send 2', 'established AES-256-GCM']);
  });

  it("a close in the same call comes after the 'established' it followed", () => {
    const { driver, log } = driverLogging();
    driver.run([KEYS, ESTABLISHED, send(1), { kind: 'closed', reason: 'exit' } as ServerOutput]);
    assert.deepEqual(log, ['keys 0', 'send 1', 'established AES-256-GCM', 'closed exit']);
    assert.equal(driver.isClosed, true);
  });
});
