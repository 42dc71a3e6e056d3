// The gateway's subscribers to the session bus: the accounting store (start, interim, final),
// the audit record of a kick, RADIUS accounting when postern.yaml enables it, and the JSON-lines
// export for a SIEM.
import { isAbsolute, join } from 'node:path';
import { JsonLinesExport, type AccountingLine } from '../control/accounting/jsonl-export.js';
import type { Config } from '../control/config/index.js';
import { RadiusAccounting, radiusSettingsFrom } from '../control/radius/index.js';
import { AccountingUpdates, writeAudit, type Db } from '../control/store/index.js';
import type { Logger } from '../io/log.js';
import { SessionEvents, ZERO_COUNTERS, type SessionEvent } from './session-events.js';

/** How often audit records written by other processes (the CLI) reach the export file. */
const EXPORT_POLL_MS = 1000;

export interface SessionListeners {
  readonly events: SessionEvents;
  /** Waits for pending writes and RADIUS requests; stops the export's polling. */
  close(): Promise<void>;
}

export function startSessionListeners(
  ctx: { db: Db; config: Config; dir: string },
  log: Logger,
): SessionListeners {
  const events = new SessionEvents((listener, e) =>
    log.error(
      { event: 'listener.error', listener, error: (e as Error).message },
      'listener failed',
    ),
  );
  const { db, config } = ctx;

  const updates = new AccountingUpdates(db);
  events.subscribe('accounting-store', (e) => storeAccounting(updates, e));
  events.subscribe('audit-kick', (e) => auditKick(db, e));

  const radius = radiusSettingsFrom(config);
  let radiusAccounting: RadiusAccounting | undefined;
  if (radius && config.radius.accounting) {
    const acct = new RadiusAccounting(radius);
    acct.onOutcome = (status, session, outcome) => {
      if (outcome === 'unreachable')
        log.warn(
          { event: 'radius.accounting', status, session, result: 'unreachable' },
          'no RADIUS accounting server answered',
        );
    };
    radiusAccounting = acct;
    events.subscribe('radius-accounting', async (e) => {
      const session = {
        id: e.session.id,
        user: e.session.user,
        remote: e.session.remote,
        address4: e.session.address4,
        startedAt: e.session.startedAt,
      };
      if (e.kind === 'start') await acct.start(session);
      else if (e.kind === 'interim') await acct.interim(session, e.counters);
      else await acct.stop(session, e.counters, e.reason);
    });
  }

  let exporter: JsonLinesExport | undefined;
  let poll: NodeJS.Timeout | undefined;
  const exportPath = config.accounting.export;
  if (exportPath) {
    const file = isAbsolute(exportPath) ? exportPath : join(ctx.dir, exportPath);
    const x = JsonLinesExport.open(db, file);
    exporter = x;
    events.subscribe('jsonl-export', async (e) => {
      x.accounting(exportLine(e));
      await x.flushAudit();
    });
    const flush = (): void =>
      void x
        .flushAudit()
        .catch((err: unknown) =>
          log.error({ event: 'export.error', error: (err as Error).message }, 'export failed'),
        );
    poll = setInterval(flush, EXPORT_POLL_MS);
    poll.unref();
    flush();
  }

  return {
    events,
    async close() {
      clearInterval(poll);
      await events.drain();
      await radiusAccounting?.drain();
      await exporter?.flushAudit();
    },
  };
}

async function storeAccounting(updates: AccountingUpdates, e: SessionEvent): Promise<void> {
  const s = e.session;
  if (e.kind === 'start') {
    await updates.start({ session: s.id, user: s.user, protocol: s.protocol }, e.at);
  } else {
    await updates.update(s.id, e.counters, e.at, e.kind === 'stop');
  }
}

/** A session the gateway ended (an admin's kick, a revocation) leaves a `kick` record. */
async function auditKick(db: Db, e: SessionEvent): Promise<void> {
  if (e.kind !== 'stop' || e.reason !== 'kicked') return;
  await writeAudit(
    db,
    {
      event: 'kick',
      user: e.session.user,
      remote: e.session.remote,
      result: 'ok',
      reason: e.detail ?? null,
      detail: { session: e.session.id, protocol: e.session.protocol },
    },
    e.at,
  );
}

function exportLine(e: SessionEvent): AccountingLine {
  const s = e.session;
  const c = e.kind === 'start' ? ZERO_COUNTERS : e.counters;
  return {
    status: e.kind,
    time: e.at.toISOString(),
    session: s.id,
    user: s.user,
    protocol: s.protocol,
    remote: s.remote,
    address4: s.address4,
    address6: s.address6,
    sessionSeconds: Math.max(0, Math.floor((e.at.getTime() - s.startedAt.getTime()) / 1000)),
    bytesIn: c.bytesIn,
    bytesOut: c.bytesOut,
    packetsIn: c.packetsIn,
    packetsOut: c.packetsOut,
    ...(e.kind === 'stop' ? { reason: e.detail ? `${e.reason}: ${e.detail}` : e.reason } : {}),
  };
}
