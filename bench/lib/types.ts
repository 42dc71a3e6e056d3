// What a benchmark subject is (one tunnel, set up between laptop and office through gw in a
// fresh lab) and what one measured run of it yields.
import type { Lab } from '../../src/lab/index.js';
import type { LoadTarget } from '../load/openvpn-load.js';

/** The client end of a tunnel, in laptop. */
export interface ClientEnd {
  /** Processes that carry the client end: their CPU time is charged to the tunnel. */
  readonly pids: readonly number[];
  /**
   * Called once the first packet went through: throws if the tunnel is not what the subject
   * claims (e.g. another cipher was negotiated, the fast path is off).
   */
  verify?(): Promise<void>;
  stop(): Promise<void>;
}

/** The gateway end of a tunnel, in gw, up and waiting for its client. */
export interface ServerEnd {
  readonly pids: readonly number[];
  /**
   * Starts the client end in laptop. Resolves once the client is started and configured by the
   * subject, not once the tunnel carries traffic: the runner probes for that itself, so every
   * subject's connect time is measured the same way. Absent when there is no tunnel (veth).
   */
  startClient?(): Promise<ClientEnd>;
  /** Where the load generator connects (OpenVPN UDP subjects): the session figures need it. */
  readonly loadTarget?: LoadTarget;
  stop(): Promise<void>;
}

export interface Subject {
  /** Short, stable, used by `--only` and in the JSON (e.g. "openvpn-udp"). */
  readonly id: string;
  /** What a reader of the table sees (e.g. "OpenVPN 2.6 UDP AES-256-GCM"). */
  readonly label: string;
  /** Programs that must be on PATH; a subject whose programs are missing is skipped. */
  readonly needs: readonly string[];
  /** Sets up the gateway end in gw (not timed). */
  startServer(lab: Lab): Promise<ServerEnd>;
}

/** Every figure the bench reports; one run may leave some out (e.g. veth has no connect time). */
export const FIGURE_KEYS = [
  'tcp1Gbps',
  'tcp4Gbps',
  'udpGbps',
  'udpLossPct',
  'udpCleanGbps',
  'rttMs',
  'addedLatencyMs',
  'firstConnectMs',
  'connectMs',
  'cpuTunnelSecPerGB',
  'cpuSystemSecPerGB',
  'handshakesPerSec',
  'stormHandshakesPerSec',
  'cpuMsPerHandshake',
  'generatorCpuMsPerHandshake',
  'heldHandshakesPerSec',
  'heldCpuMsPerHandshake',
  'kibPerIdleSession',
  'kibPerIdleSessionSettled',
] as const;
export type FigureKey = (typeof FIGURE_KEYS)[number];
export type Figures = Partial<Record<FigureKey, number>>;

export interface FigureSpec {
  readonly key: FigureKey;
  /** Column heading. */
  readonly label: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  /** Decimal places when printed. */
  readonly digits: number;
}

/** Durations and counts of one bench run; `--quick` shortens them. */
export interface MeasureOptions {
  /** Length of each iperf3 run, seconds. */
  seconds: number;
  /** Echo requests per latency measurement. */
  pings: number;
  /** iperf3 UDP offered load (`-b`): "0" is as fast as the sender can go. */
  udpBitrate: string;
  /** Sessions the load generator opens and holds idle (subjects with a `loadTarget`). */
  sessions: number;
}
