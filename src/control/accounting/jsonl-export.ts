// The SIEM export: one JSON object per line, appended to a file, for every audit record and
// every accounting update. Audit records are read back from the store in id order (the CLI
// writes some of them from another process), so the file holds each exactly once; after a
// restart the export resumes after the last audit id the file already has.
import { appendFileSync, closeSync, openSync, readSync, statSync } from 'node:fs';
import { auditRecordOf, type Db } from '../store/index.js';

/** How much of the file's end is read to find where a previous run stopped. */
const TAIL_BYTES = 64 * 1024;
const FILE_MODE = 0o600;

export interface AccountingLine {
  status: 'start' | 'interim' | 'stop';
  time: string;
  session: string;
  user: string;
  protocol: string;
  remote: string;
  address4: string | null;
  address6: string | null;
  sessionSeconds: number;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  reason?: string;
}

export class JsonLinesExport {
  readonly path: string;
  readonly #db: Db;
  #auditCursor: number;
  #flushing: Promise<void> = Promise.resolve();

  private constructor(db: Db, path: string, cursor: number) {
    this.#db = db;
    this.path = path;
    this.#auditCursor = cursor;
  }

  static open(db: Db, path: string): JsonLinesExport {
    closeSync(openSync(path, 'a', FILE_MODE));
    return new JsonLinesExport(db, path, lastAuditId(path));
  }

  accounting(line: AccountingLine): void {
    this.#append([{ type: 'accounting', ...line }]);
  }

  /** Appends the audit records written since the last flush. Calls are serialised. */
  flushAudit(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushAudit());
    return this.#flushing;
  }

  async #flushAudit(): Promise<void> {
    const rows = await this.#db
      .selectFrom('audit')
      .selectAll()
      .where('id', '>', this.#auditCursor)
      .orderBy('id', 'asc')
      .execute();
    if (rows.length === 0) return;
    this.#append(rows.map((r) => ({ type: 'audit', id: r.id, ...auditRecordOf(r) })));
    this.#auditCursor = rows[rows.length - 1]?.id ?? this.#auditCursor;
  }

  // One write(2) per batch on an O_APPEND file: a line is whole or absent, even after SIGKILL.
  #append(objects: object[]): void {
    appendFileSync(this.path, objects.map((o) => JSON.stringify(o) + '\n').join(''), {
      mode: FILE_MODE,
    });
  }
}

function lastAuditId(path: string): number {
  const size = statSync(path).size;
  if (size === 0) return 0;
  const length = Math.min(size, TAIL_BYTES);
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  let last = 0;
  for (const line of buf.toString('utf8').split('\n')) {
    try {
      const o = JSON.parse(line) as { type?: unknown; id?: unknown };
      if (o.type === 'audit' && typeof o.id === 'number' && o.id > last) last = o.id;
    } catch {
      // the first line of the tail may be cut; a torn last line cannot happen (see #append)
    }
  }
  return last;
}
