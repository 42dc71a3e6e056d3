// The gateway's table of live sessions. Each protocol registers its sessions here with the
// handles the management plane needs (rekey, kick); the API lists and acts through it.
export type Protocol = 'openvpn-udp' | 'openvpn-tcp' | 'ikev2';

export interface SessionInfo {
  id: string;
  user: string;
  protocol: Protocol;
  remote: string;
  address4: string | null;
  address6: string | null;
  cipher: string | null;
  connectedAt: string;
  bytesIn: number;
  bytesOut: number;
  rekeys: number;
  /** Packets from the client its policy dropped. */
  policyDrops?: number;
  /** OpenVPN: the data path carrying the session, the native fast path or the TypeScript one. */
  dataPath?: 'native' | 'reference';
}

export interface LiveSession {
  readonly id: string;
  readonly user: string;
  info(): SessionInfo;
  /**
   * Fresh keys now; the old ones stay valid through the transition so no packet is lost. False
   * when nothing started: a renegotiation is already under way (its keys are on their way).
   */
  rekey(reason: string): boolean;
  /** Ends the session at once, telling the peer where the protocol allows. */
  kick(reason: string): void;
}

export class SessionTable {
  readonly #byId = new Map<string, LiveSession>();

  add(s: LiveSession): void {
    this.#byId.set(s.id, s);
  }

  remove(id: string): void {
    this.#byId.delete(id);
  }

  get(id: string): LiveSession | undefined {
    return this.#byId.get(id);
  }

  all(): LiveSession[] {
    return [...this.#byId.values()];
  }

  ofUser(user: string): LiveSession[] {
    return this.all().filter((s) => s.user === user);
  }

  get size(): number {
    return this.#byId.size;
  }
}
