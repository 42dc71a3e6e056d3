// UDP at 1400-byte packets: iperf3 UDP from laptop to office with datagrams sized so that each
// inner IPv4 packet is exactly 1400 bytes (1372 bytes of payload + 8 UDP + 20 IP). 1400 fits
// every subject's tunnel MTU (strongSwan's libipsec TUN is fixed at 1400), so nothing is
// fragmented inside. Two figures:
// - the rate the receiver got when the sender goes as fast as it can (or at `--udp-bitrate`),
//   and the share of datagrams lost on the way: the tunnel under overload;
// - the highest rate that crossed with at most 1% loss ("clean rate", after RFC 2544's
//   throughput): short trials bisecting the offered load between 0 and the overload rate.
// On a two-core machine the iperf3 sender competes with the tunnel for CPU, as it would on a
// laptop.
import type { Lab } from '../../src/lab/index.js';
import { runIperf } from '../lib/iperf3.js';
import type { FigureSpec, Figures } from '../lib/types.js';

export const INNER_PACKET_BYTES = 1400;
const IPV4_HEADER_BYTES = 20;
const UDP_HEADER_BYTES = 8;
export const UDP_PAYLOAD_BYTES = INNER_PACKET_BYTES - IPV4_HEADER_BYTES - UDP_HEADER_BYTES;
/** Loss that still counts as clean, percent. */
export const CLEAN_LOSS_PCT = 1;
/** Bisection steps after the first trial: the clean rate is found to 1/16 of the overload rate. */
const BISECT_STEPS = 4;
const MAX_TRIAL_SECONDS = 2;
const MIN_TRIAL_SECONDS = 1;
const GIGA = 1e9;

export const UDP_RATE: FigureSpec = {
  key: 'udpGbps',
  label: 'UDP 1400 max',
  unit: 'Gbit/s',
  better: 'higher',
  digits: 2,
};
export const UDP_LOSS: FigureSpec = {
  key: 'udpLossPct',
  label: 'UDP loss at max',
  unit: '%',
  better: 'lower',
  digits: 1,
};
export const UDP_CLEAN_RATE: FigureSpec = {
  key: 'udpCleanGbps',
  label: `UDP 1400 <=${CLEAN_LOSS_PCT}% loss`,
  unit: 'Gbit/s',
  better: 'higher',
  digits: 2,
};

async function trial(lab: Lab, bitrate: string, seconds: number) {
  const r = await runIperf(lab, { kind: 'udp', payload: UDP_PAYLOAD_BYTES, bitrate }, seconds);
  return { gbps: r.gbps, lossPct: r.lossPct ?? 0 };
}

export async function measureUdp(lab: Lab, seconds: number, bitrate: string): Promise<Figures> {
  const max = await trial(lab, bitrate, seconds);
  const trialSeconds = Math.max(MIN_TRIAL_SECONDS, Math.min(MAX_TRIAL_SECONDS, seconds / 2));
  let good = 0; // offered Gbit/s known to pass
  let bad = max.gbps; // offered Gbit/s not yet known to pass
  let clean = 0;
  for (let step = 0; step <= BISECT_STEPS && bad > 0; step++) {
    const offered = step === 0 ? bad : (good + bad) / 2;
    const t = await trial(lab, String(Math.round(offered * GIGA)), trialSeconds);
    if (t.lossPct <= CLEAN_LOSS_PCT) {
      good = offered;
      clean = Math.max(clean, t.gbps);
      if (step === 0) break;
    } else {
      bad = offered;
    }
  }
  return { udpGbps: max.gbps, udpLossPct: max.lossPct, udpCleanGbps: clean };
}
