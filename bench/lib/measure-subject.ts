// One run of one subject: a fresh lab, the tunnel set up (connect time), then every figure in
// turn, then everything torn down, whatever happened.
import { createLab } from '../../src/lab/index.js';
import { connectAndTime } from '../figures/connect-time.js';
import { measureCpuPerGb } from '../figures/cpu-per-gb.js';
import { measureLatency } from '../figures/latency.js';
import {
  measureSteady,
  measureSteadyBesideStorm,
  measureStorm,
  STEADY_SESSIONS_MAX,
} from '../figures/sessions.js';
import { measureTcp } from '../figures/tcp-throughput.js';
import { measureUdp } from '../figures/udp-1400.js';
import { median } from './stats.js';
import type { ClientEnd, Figures, MeasureOptions, ServerEnd, Subject } from './types.js';

/** Namespaces of the bench are named pstbench…, apart from the tests' labs. */
export const BENCH_LAB_PREFIX = 'pstbench';
const CONNECT_TIMEOUT_MS = 60_000;
const MULTI_STREAMS = 4;
/**
 * Connects after the first, one client at a time, whose median is the "connect" figure. Nine:
 * with five, medians moved by 1-2 ms between runs of the same code, about the size of the
 * difference between subjects.
 */
const NEXT_CONNECTS = 9;

export async function measureSubject(
  subject: Subject,
  opts: MeasureOptions,
  progress: (what: string) => void = () => {},
): Promise<Figures> {
  const lab = await createLab({ prefix: BENCH_LAB_PREFIX });
  let server: ServerEnd | undefined;
  let client: ClientEnd | undefined;
  try {
    progress('setting up');
    server = await subject.startServer(lab);
    const figures: Figures = {};
    const { startClient } = server;
    if (startClient) {
      progress('connecting');
      const first = await connectAndTime(lab, { ...server, startClient }, CONNECT_TIMEOUT_MS);
      client = first.client;
      figures.firstConnectMs = first.connectMs;
      await client.verify?.();
      // Again, a client at a time, to the same server: the figure a running gateway's users
      // see. One connect alone swung by +-5 ms between runs; the median of a few holds still.
      const times: number[] = [];
      for (let i = 1; i <= NEXT_CONNECTS; i++) {
        await client?.stop();
        client = undefined;
        progress(`connecting again (${i} of ${NEXT_CONNECTS})`);
        const again = await connectAndTime(lab, { ...server, startClient }, CONNECT_TIMEOUT_MS);
        client = again.client;
        times.push(again.connectMs);
      }
      figures.connectMs = median(times);
      await client?.verify?.();
    }
    progress('latency');
    Object.assign(figures, await measureLatency(lab, opts.pings));
    const pids = [...server.pids, ...(client?.pids ?? [])];
    progress('TCP, 1 stream');
    const tcp1 = await measureCpuPerGb(pids, () => measureTcp(lab, 1, opts.seconds));
    figures.tcp1Gbps = tcp1.result.gbps;
    Object.assign(figures, tcp1.figures);
    progress(`TCP, ${MULTI_STREAMS} streams`);
    figures.tcp4Gbps = (await measureTcp(lab, MULTI_STREAMS, opts.seconds)).gbps;
    progress('UDP, 1400-byte packets');
    Object.assign(figures, await measureUdp(lab, opts.seconds, opts.udpBitrate));
    const serverPid = server.pids[0];
    if (server.loadTarget && serverPid !== undefined) {
      const target = server.loadTarget;
      const count = Math.min(opts.sessions, STEADY_SESSIONS_MAX);
      progress(`${opts.sessions} sessions from the load generator, a reconnect storm`);
      const storm = await measureStorm(lab, target, serverPid, opts.sessions, () => {
        progress(`${count} more, steadily, while the storm's ${opts.sessions} stay connected`);
        return measureSteadyBesideStorm(lab, target, serverPid, count);
      });
      Object.assign(figures, storm);
      // The idle-server steady round gets a server of its own: this one still holds the
      // storm's sessions (they time out, they do not leave).
      await client?.stop();
      client = undefined;
      const stormServer = server;
      server = undefined;
      await stormServer.stop();
      progress('starting afresh');
      server = await subject.startServer(lab);
      const steadyPid = server.pids[0];
      if (!server.loadTarget || steadyPid === undefined) throw new Error('no load target');
      progress(`${count} sessions from the load generator, steadily, nobody else connected`);
      Object.assign(figures, await measureSteady(lab, server.loadTarget, steadyPid, count));
    }
    return figures;
  } finally {
    await client?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await lab.destroy();
  }
}
