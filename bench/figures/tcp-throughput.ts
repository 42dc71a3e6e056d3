// TCP throughput: iperf3 from laptop to office through the tunnel, one stream and four streams,
// Gbit/s as the receiver counted it.
import type { Lab } from '../../src/lab/index.js';
import type { IperfResult } from '../lib/iperf3.js';
import { runIperf } from '../lib/iperf3.js';
import type { FigureSpec } from '../lib/types.js';

export const TCP_1_STREAM: FigureSpec = {
  key: 'tcp1Gbps',
  label: 'TCP x1',
  unit: 'Gbit/s',
  better: 'higher',
  digits: 2,
};
export const TCP_4_STREAMS: FigureSpec = {
  key: 'tcp4Gbps',
  label: 'TCP x4',
  unit: 'Gbit/s',
  better: 'higher',
  digits: 2,
};

export function measureTcp(lab: Lab, streams: number, seconds: number): Promise<IperfResult> {
  return runIperf(lab, { kind: 'tcp', streams }, seconds);
}
