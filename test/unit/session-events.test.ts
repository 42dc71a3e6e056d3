// The session bus and its subscribers, without a network: each session starts once and stops
// once whatever the protocol reports, a failing listener harms no other, the accounting store
// follows start/interim/stop, and the SIEM export holds every audit record exactly once across
// a restart, one JSON object per line.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { JsonLinesExport } from '../../src/control/accounting/jsonl-export.js';
import { parseConfig } from '../../src/control/config/load.js';
import { renderConfig } from '../../src/control/config/render.js';
import { listAccounting, openStore, writeAudit } from '../../src/control/store/index.js';
import { SessionEvents, type SessionEvent } from '../../src/gateway/session-events.js';
import { startSessionListeners } from '../../src/gateway/session-listeners.js';
import { createLogger } from '../../src/io/log.js';
import { tempDir } from '../helpers/postern-cli.js';

const session = {
  id: 's1',
  user: 'ann',
  protocol: 'openvpn-udp',
  remote: '198.51.100.2:5000',
  address4: '100.64.0.2',
  address6: null,
  startedAt: new Date('2026-11-27T10:00:00Z'),
};
const counters = (n: number) => ({
  bytesIn: n,
  bytesOut: 2 * n,
  packetsIn: n / 100,
  packetsOut: n / 50,
});

describe('session bus', () => {
  it('delivers start, interim, stop once each, in order, and survives a throwing listener', async () => {
    const seen: string[] = [];
    const bus = new SessionEvents();
    const errors: string[] = [];
    const noisy = new SessionEvents((name) => errors.push(name));
    for (const b of [bus, noisy]) {
      b.subscribe('broken', () => {
        throw new Error('boom');
      });
      b.subscribe('rejecting', () => Promise.reject(new Error('async boom')));
      b.subscribe('recorder', (e) => void seen.push(e.kind));
    }
    const at = new Date();
    const events: SessionEvent[] = [
      { kind: 'interim', session, counters: counters(1), at }, // before start: dropped
      { kind: 'start', session, at },
      { kind: 'start', session, at }, // twice: dropped
      { kind: 'interim', session, counters: counters(100), at },
      { kind: 'stop', session, counters: counters(200), at, reason: 'exit', detail: undefined },
      { kind: 'stop', session, counters: counters(200), at, reason: 'shutdown', detail: undefined },
    ];
    for (const e of events) noisy.emit(e);
    await noisy.drain();
    assert.deepEqual(seen, ['start', 'interim', 'stop']);
    assert.deepEqual(errors.sort(), [
      'broken',
      'broken',
      'broken',
      'rejecting',
      'rejecting',
      'rejecting',
    ]);
    assert.equal(noisy.live, 0);
  });

  it('a bus that adopts sessions started before it delivers their interim and stop', () => {
    const seen: string[] = [];
    const bus = new SessionEvents();
    bus.subscribe('recorder', (e) => void seen.push(`${e.kind} ${e.session.id}`));
    const at = new Date();
    const other = { ...session, id: 's2' };
    bus.adopt([session.id]);
    bus.emit({ kind: 'interim', session, counters: counters(100), at });
    bus.emit({ kind: 'interim', session: other, counters: counters(100), at }); // not adopted
    bus.emit({ kind: 'stop', session, counters: counters(200), at, reason: 'exit', detail: '' });
    bus.emit({ kind: 'stop', session, counters: counters(200), at, reason: 'exit', detail: '' });
    assert.deepEqual(seen, ['interim s1', 'stop s1']);
    assert.equal(bus.live, 0);
  });
});

describe('session listeners: store and export', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  it('keeps accounting in the store and writes every audit record once across a restart', async () => {
    const store = await openStore(tmp.path, 'sqlite:postern.db');
    const config = parseConfig(
      renderConfig({
        name: 'gw',
        endpoint: 'vpn.example',
        routes: [],
        dns: [],
        pool4: '100.64.0.0/24',
        pool6: 'fd00:64::/64',
      }).replace('export: null', 'export: siem.jsonl'),
      'postern.yaml',
    );
    const log = createLogger('fatal', 'test');
    const ctx = { db: store.db, config, dir: tmp.path };
    await writeAudit(store.db, { event: 'admin', result: 'ok', reason: 'init' }, new Date());

    const first = startSessionListeners(ctx, log);
    const t0 = new Date();
    first.events.emit({ kind: 'start', session, at: t0 });
    await writeAudit(store.db, { event: 'session.start', user: 'ann', result: 'ok' }, t0);
    first.events.emit({ kind: 'interim', session, counters: counters(1000), at: new Date() });
    await first.close();
    let rows = await listAccounting(store.db);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.bytesOut, 2000);
    assert.equal(rows[0]?.stop, null);

    // A restart (as after SIGKILL): the export resumes after the last audit id it holds.
    const second = startSessionListeners(ctx, log);
    second.events.emit({ kind: 'start', session: { ...session, id: 's2' }, at: new Date() });
    second.events.emit({
      kind: 'stop',
      session: { ...session, id: 's2' },
      counters: counters(5000),
      at: new Date(),
      reason: 'kicked',
      detail: 'by admin',
    });
    await second.close();
    rows = await listAccounting(store.db);
    assert.equal(rows.find((r) => r.session === 's2')?.bytesIn, 5000);
    assert.ok(rows.find((r) => r.session === 's2')?.stop);

    const lines = readFileSync(join(tmp.path, 'siem.jsonl'), 'utf8').trimEnd().split('\n');
    const objects = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const audit = objects.filter((o) => o.type === 'audit');
    assert.deepEqual(
      audit.map((o) => o.event),
      ['admin', 'session.start', 'kick'],
    );
    assert.deepEqual(
      objects
        .filter((o) => o.type === 'accounting')
        .map((o) => `${String(o.session)}:${String(o.status)}`),
      ['s1:start', 's1:interim', 's2:start', 's2:stop'],
    );
    const kick = audit.find((o) => o.event === 'kick');
    assert.equal(kick?.reason, 'by admin', 'the kick is audited by its listener');
    const stop = objects.find((o) => o.status === 'stop');
    assert.equal(stop?.reason, 'kicked: by admin');
    assert.equal(stop?.bytesOut, 10000);
    // Opening the same file again finds nothing new to add.
    const again = JsonLinesExport.open(store.db, join(tmp.path, 'siem.jsonl'));
    await again.flushAudit();
    assert.equal(
      readFileSync(join(tmp.path, 'siem.jsonl'), 'utf8').trimEnd().split('\n').length,
      lines.length,
    );
    await store.close();
  });

  it('refuses RADIUS switched on without a server or a secret, naming the key', () => {
    const base = renderConfig({
      name: 'gw',
      endpoint: 'vpn.example',
      routes: [],
      dns: [],
      pool4: '100.64.0.0/24',
      pool6: 'fd00:64::/64',
    });
    const on = base.replace(/(radius:[^\n]*\n\s+)enabled: false/, '$1enabled: true');
    assert.throws(() => parseConfig(on, 'postern.yaml'), /radius\.servers: RADIUS is enabled/);
    const withServer = on.replace('servers: []', 'servers: [{ host: 192.0.2.10 }]');
    assert.throws(() => parseConfig(withServer, 'postern.yaml'), /radius\.secret/);
    const ok = parseConfig(withServer.replace('secret: ""', 'secret: s3cret'), 'postern.yaml');
    assert.deepEqual(ok.radius.servers, [
      { host: '192.0.2.10', 'auth-port': 1812, 'acct-port': 1813 },
    ]);
    assert.equal(parseConfig(base, 'postern.yaml').accounting['interim-seconds'], 30);
  });
});
