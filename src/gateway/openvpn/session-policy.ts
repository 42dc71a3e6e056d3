// The policy of each live OpenVPN session: compiled from postern.yaml for the user's groups when
// the session is authorised, handed to whichever data path carries it once its peer exists,
// recompiled on every reload (live sessions keep running under the new rules), and its drops
// sampled into `policy.drop` audit records, a few per session per minute.
import { compilePolicy } from '../../control/policy/compile.js';
import { DropSampler } from '../../control/policy/drop-sampler.js';
import { formatFlow } from '../../control/policy/dropped-flow.js';
import type { CompiledPolicy } from '../../control/policy/matcher.js';
import { writeAudit } from '../../control/store/index.js';
import type { Logger } from '../../io/log.js';
import type { Gateway } from '../gateway.js';
import type { GatewayDataPath } from './data-path.js';

/** What the records need of a session. */
export interface PolicySession {
  readonly id: string;
  readonly peerId: number;
  readonly user: string;
  readonly remote: string;
}

interface Entry {
  session: PolicySession;
  groups: string[];
  policy: CompiledPolicy;
  /** The drop count at the last sweep: samples are drained only when it moved. */
  seenDrops: number;
}

export class SessionPolicies {
  readonly #gw: Gateway;
  readonly #dp: GatewayDataPath;
  readonly #log: Logger;
  readonly #byPeerId = new Map<number, Entry>();
  readonly #peerIdBySession = new Map<string, number>();
  /**
   * Compiled policies by group set: sessions of the same groups share one (10,000 sessions of a
   * few group sets hold a few policies). Emptied when postern.yaml changes.
   */
  readonly #compiled = new Map<string, CompiledPolicy>();
  readonly #sampler = new DropSampler();

  constructor(gw: Gateway, dp: GatewayDataPath, log: Logger) {
    this.#gw = gw;
    this.#dp = dp;
    this.#log = log;
    gw.policyCounters.push((id) => this.drops(id));
  }

  /** The session was authorised for `groups`: compile its policy (applied once its peer exists). */
  assign(session: PolicySession, groups: string[]): void {
    const policy = this.#policyFor(groups);
    this.#byPeerId.set(session.peerId, { session, groups, policy, seenDrops: 0 });
    this.#peerIdBySession.set(session.id, session.peerId);
    if (this.#dp.hasPeer(session.peerId)) this.#dp.setPolicy(session.peerId, policy);
  }

  /**
   * Compiles the policy of each configured group alone and of the default ahead of the first
   * client (most users are in one group); other group sets compile when first seen.
   */
  prepare(): void {
    this.#policyFor([]);
    for (const group of Object.keys(this.#gw.config.groups)) this.#policyFor([group]);
  }

  /** The data path just created the session's peer: it gets its policy before any packet. */
  peerAdded(peerId: number): void {
    const e = this.#byPeerId.get(peerId);
    if (e) this.#dp.setPolicy(peerId, e.policy);
  }

  /** postern.yaml changed: every live session follows its groups' new rules. */
  refresh(): void {
    this.#compiled.clear();
    for (const [peerId, e] of this.#byPeerId) {
      e.policy = this.#policyFor(e.groups);
      if (this.#dp.hasPeer(peerId)) this.#dp.setPolicy(peerId, e.policy);
    }
    this.#log.info(
      { event: 'policy', sessions: this.#byPeerId.size },
      'policy applied to live sessions',
    );
  }

  /** Packets of the session its policy dropped; undefined for a session not known here. */
  drops(sessionId: string): number | undefined {
    const peerId = this.#peerIdBySession.get(sessionId);
    return peerId === undefined ? undefined : this.#dp.policyDrops(peerId);
  }

  #policyFor(groups: readonly string[]): CompiledPolicy {
    const key = groups.join('\n');
    let policy = this.#compiled.get(key);
    if (policy === undefined) {
      policy = compilePolicy(this.#gw.config, [...groups]);
      this.#compiled.set(key, policy);
    }
    return policy;
  }

  /** Turns the drops sampled since the last sweep into audit records, within the rate limit. */
  sweep(now: number): void {
    for (const [peerId, e] of this.#byPeerId) {
      // Reading the count is lock-free; draining samples takes the native path's lock.
      const drops = this.#dp.policyDrops(peerId);
      if (drops === e.seenDrops) continue;
      e.seenDrops = drops;
      this.#audit(e, this.#dp.takePolicySamples(peerId), now);
    }
  }

  /** The session ends: its last samples are recorded, then it is forgotten. */
  forget(peerId: number): void {
    const e = this.#byPeerId.get(peerId);
    if (!e) return;
    this.#audit(e, this.#dp.takePolicySamples(peerId), Date.now());
    this.#byPeerId.delete(peerId);
    this.#peerIdBySession.delete(e.session.id);
    this.#sampler.forget(e.session.id);
  }

  #audit(e: Entry, samples: ReturnType<GatewayDataPath['takePolicySamples']>, now: number): void {
    const taken = this.#sampler.take(e.session.id, samples, now);
    if (taken.length === 0) return;
    const at = new Date(now);
    const drops = this.#dp.policyDrops(e.session.peerId);
    for (const flow of taken) {
      void writeAudit(
        this.#gw.store.db,
        {
          event: 'policy.drop',
          user: e.session.user,
          remote: e.session.remote,
          result: 'fail',
          reason: `not allowed: ${formatFlow(flow)}`,
          detail: { session: e.session.id, ...flow, drops },
        },
        at,
      ).catch((err: unknown) =>
        this.#log.warn(
          { event: 'policy.drop', error: (err as Error).message },
          'audit write failed',
        ),
      );
    }
  }
}
