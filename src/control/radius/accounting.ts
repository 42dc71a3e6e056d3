// RADIUS accounting (RFC 2866): Start, Interim-Update and Stop for each session, sent in order
// per session, retransmitted by the transport, given up on (and logged) when no server answers.
import {
  AcctStatusType,
  Attr,
  AUTHENTICATOR_OFFSET,
  AUTHENTICATOR_SIZE,
  Code,
  GIGAWORD,
  integerAttr,
  ipv4Attr,
  NasPortTypeValue,
  ServiceTypeValue,
  signAccountingRequest,
  TerminateCause,
  textAttr,
  verifyResponse,
  type RadiusAttribute,
} from '../../wire/radius/index.js';
import { DEFAULT_TIMEOUT_MS, DEFAULT_TRIES, type RadiusSettings } from './authenticate.js';
import { exchange } from './transport.js';

export interface AccountingSession {
  id: string;
  user: string;
  /** The client's outer address and port, as "IP:PORT" or "[IP]:PORT". */
  remote: string;
  address4: string | null;
  startedAt: Date;
}

export interface AccountingCounters {
  /** From the client (RADIUS "input"). */
  bytesIn: number;
  /** To the client (RADIUS "output"). */
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}

export type AccountingOutcome = 'acknowledged' | 'unreachable';

/** Postern's close reasons as RADIUS Terminate-Cause values. */
export function terminateCauseFor(reason: string): number {
  switch (reason) {
    case 'exit':
      return TerminateCause.UserRequest;
    case 'ping-restart':
    case 'handshake-timeout':
      return TerminateCause.LostCarrier;
    case 'kicked':
    case 'revoked':
      return TerminateCause.AdminReset;
    case 'shutdown':
      return TerminateCause.AdminReboot;
    case 'tls-error':
    case 'protocol-error':
      return TerminateCause.UserError;
    default:
      return TerminateCause.NasRequest;
  }
}

export class RadiusAccounting {
  readonly #s: RadiusSettings;
  readonly #secret: Uint8Array;
  readonly #now: () => Date;
  /** Each session's requests go out one after another, so a Stop never overtakes its Start. */
  readonly #queues = new Map<string, Promise<unknown>>();
  onOutcome: ((status: string, session: string, outcome: AccountingOutcome) => void) | undefined;

  constructor(s: RadiusSettings, now: () => Date = () => new Date()) {
    this.#s = s;
    this.#secret = new TextEncoder().encode(s.secret);
    this.#now = now;
  }

  start(session: AccountingSession): Promise<AccountingOutcome> {
    return this.#send(session, AcctStatusType.Start, []);
  }

  interim(session: AccountingSession, c: AccountingCounters): Promise<AccountingOutcome> {
    return this.#send(session, AcctStatusType.InterimUpdate, this.#usage(session, c));
  }

  stop(
    session: AccountingSession,
    c: AccountingCounters,
    reason: string,
  ): Promise<AccountingOutcome> {
    const p = this.#send(session, AcctStatusType.Stop, [
      ...this.#usage(session, c),
      integerAttr(Attr.AcctTerminateCause, terminateCauseFor(reason)),
    ]);
    void p.finally(() => {
      if (this.#queues.get(session.id) === p) this.#queues.delete(session.id);
    });
    return p;
  }

  /** Resolves when every request queued so far has been answered or given up on. */
  async drain(): Promise<void> {
    await Promise.all([...this.#queues.values()]);
  }

  #usage(session: AccountingSession, c: AccountingCounters): RadiusAttribute[] {
    const seconds = Math.max(
      0,
      Math.floor((this.#now().getTime() - session.startedAt.getTime()) / 1000),
    );
    return [
      integerAttr(Attr.AcctSessionTime, seconds),
      integerAttr(Attr.AcctInputOctets, c.bytesIn % GIGAWORD),
      integerAttr(Attr.AcctInputGigawords, Math.floor(c.bytesIn / GIGAWORD)),
      integerAttr(Attr.AcctOutputOctets, c.bytesOut % GIGAWORD),
      integerAttr(Attr.AcctOutputGigawords, Math.floor(c.bytesOut / GIGAWORD)),
      integerAttr(Attr.AcctInputPackets, c.packetsIn),
      integerAttr(Attr.AcctOutputPackets, c.packetsOut),
    ];
  }

  #send(
    session: AccountingSession,
    status: number,
    more: RadiusAttribute[],
  ): Promise<AccountingOutcome> {
    const attributes: RadiusAttribute[] = [
      integerAttr(Attr.AcctStatusType, status),
      textAttr(Attr.AcctSessionId, session.id),
      textAttr(Attr.UserName, session.user),
      textAttr(Attr.NasIdentifier, this.#s.nasIdentifier),
      integerAttr(Attr.ServiceType, ServiceTypeValue.Framed),
      integerAttr(Attr.NasPortType, NasPortTypeValue.Virtual),
      textAttr(Attr.CallingStationId, session.remote),
      integerAttr(Attr.EventTimestamp, Math.floor(this.#now().getTime() / 1000)),
      ...(session.address4 ? [ipv4Attr(Attr.FramedIpAddress, session.address4)] : []),
      ...more,
    ];
    const endpoints = this.#s.servers.map((v) => ({ host: v.host, port: v.acctPort }));
    const opts = {
      timeoutMs: this.#s.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      tries: this.#s.tries ?? DEFAULT_TRIES,
    };
    const previous = this.#queues.get(session.id) ?? Promise.resolve();
    const next = previous.then(async (): Promise<AccountingOutcome> => {
      const result = await exchange(
        endpoints,
        opts,
        (identifier) =>
          signAccountingRequest(
            { code: Code.AccountingRequest, identifier, attributes },
            this.#secret,
          ),
        (reply, request) =>
          (reply[0] ?? 0) === Code.AccountingResponse &&
          verifyResponse(
            reply,
            request.subarray(AUTHENTICATOR_OFFSET, AUTHENTICATOR_OFFSET + AUTHENTICATOR_SIZE),
            this.#secret,
          ),
      );
      const outcome = result.kind === 'reply' ? 'acknowledged' : 'unreachable';
      this.onOutcome?.(statusName(status), session.id, outcome);
      return outcome;
    });
    this.#queues.set(session.id, next);
    return next;
  }
}

function statusName(status: number): string {
  return status === AcctStatusType.Start
    ? 'start'
    : status === AcctStatusType.Stop
      ? 'stop'
      : 'interim';
}
