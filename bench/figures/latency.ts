// Latency: the median round trip of pings from laptop to office through the tunnel, and what
// the tunnel adds: that minus the round trip laptop -> gw's public address in the same lab, on
// the plain path just before. Pings are spaced (not a flood) and the link is idle.
import type { Lab } from '../../src/lab/index.js';
import { median } from '../lib/stats.js';
import type { FigureSpec, Figures } from '../lib/types.js';

export const RTT: FigureSpec = {
  key: 'rttMs',
  label: 'RTT',
  unit: 'ms',
  better: 'lower',
  digits: 3,
};
export const ADDED_LATENCY: FigureSpec = {
  key: 'addedLatencyMs',
  label: 'added RTT',
  unit: 'ms',
  better: 'lower',
  digits: 3,
};

const PING_INTERVAL_SEC = '0.05';
const PING_WAIT_SEC = '1';
const RTT_RE = /time=([\d.]+) ms/g;

async function pingRtts(lab: Lab, target: string, count: number): Promise<number[]> {
  const args = ['-4', '-n', '-c', String(count), '-i', PING_INTERVAL_SEC, '-W', PING_WAIT_SEC];
  const r = await lab.exec('laptop', 'ping', [...args, target]);
  return [...r.stdout.matchAll(RTT_RE)].map((m) => Number(m[1]));
}

export async function measureLatency(lab: Lab, count: number): Promise<Figures> {
  const plain = await pingRtts(lab, lab.addr.gw.outside.v4, count);
  const tunnel = await pingRtts(lab, lab.addr.office.v4, count);
  const rtt = median(tunnel);
  const underlay = median(plain);
  if (rtt === undefined || underlay === undefined) {
    throw new Error(`ping got no replies (through the tunnel: ${tunnel.length}/${count})`);
  }
  return { rttMs: rtt, addedLatencyMs: rtt - underlay };
}
