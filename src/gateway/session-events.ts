// The session bus: protocol services announce a session's start, its interim totals and its
// stop; side concerns (the accounting store, RADIUS accounting, the SIEM export) subscribe.
// A listener's failure is its own: it is logged and never reaches the session or the others.

export interface SessionFacts {
  id: string;
  user: string;
  protocol: string;
  /** The client's outer address, "IP:PORT" or "[IP]:PORT". */
  remote: string;
  address4: string | null;
  address6: string | null;
  startedAt: Date;
}

export interface SessionCounters {
  /** Inner bytes from the client. */
  bytesIn: number;
  /** Inner bytes to the client. */
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

export type SessionEvent =
  | { kind: 'start'; session: SessionFacts; at: Date }
  | { kind: 'interim'; session: SessionFacts; counters: SessionCounters; at: Date }
  | {
      kind: 'stop';
      session: SessionFacts;
      counters: SessionCounters;
      at: Date;
      /** Why it ended, as the protocol names it: exit, ping-restart, kicked, shutdown, ... */
      reason: string;
      detail: string | undefined;
    };

export type SessionListener = (e: SessionEvent) => void | Promise<void>;

export const ZERO_COUNTERS: SessionCounters = {
  bytesIn: 0,
  bytesOut: 0,
  packetsIn: 0,
  packetsOut: 0,
};

export class SessionEvents {
  readonly #listeners: { name: string; fn: SessionListener }[] = [];
  readonly #live = new Set<string>();
  readonly #pending = new Set<Promise<void>>();
  readonly #onError: (listener: string, e: unknown) => void;

  constructor(onError: (listener: string, e: unknown) => void = () => undefined) {
    this.#onError = onError;
  }

  subscribe(name: string, fn: SessionListener): () => void {
    const entry = { name, fn };
    this.#listeners.push(entry);
    return () => {
      const i = this.#listeners.indexOf(entry);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /**
   * Sessions that started before this bus existed (a reload replaced the listeners): their
   * interim and stop events are delivered, with no start of their own.
   */
  adopt(sessionIds: Iterable<string>): void {
    for (const id of sessionIds) this.#live.add(id);
  }

  /** Sessions started and not yet stopped. */
  get live(): number {
    return this.#live.size;
  }

  /**
   * Delivers the event to every listener in subscription order. An interim or stop for a session
   * that never started, or already stopped, is dropped: each session stops exactly once.
   */
  emit(e: SessionEvent): void {
    if (e.kind === 'start') {
      if (this.#live.has(e.session.id)) return;
      this.#live.add(e.session.id);
    } else if (!this.#live.has(e.session.id)) {
      return;
    } else if (e.kind === 'stop') {
      this.#live.delete(e.session.id);
    }
    for (const { name, fn } of this.#listeners) {
      let result: void | Promise<void>;
      try {
        result = fn(e);
      } catch (err) {
        this.#onError(name, err);
        continue;
      }
      if (result instanceof Promise) {
        const p = result.catch((err: unknown) => this.#onError(name, err));
        this.#pending.add(p);
        void p.finally(() => this.#pending.delete(p));
      }
    }
  }

  /** Resolves once every listener's work started so far has finished. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
