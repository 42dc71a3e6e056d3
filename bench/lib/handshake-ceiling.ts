// How many handshakes per second any OpenVPN server could complete on this machine, and so what
// ratio to the reference it could show at best. The load generator runs on the same cores as the
// server: each handshake costs the machine the generator's CPU plus the server's, and no server
// spends less than OpenSSL's server side of the handshake (tls-floor.ts). So a server that did
// nothing else would still top out at cores / (generator + floor). The reference (OpenVPN, one
// thread) is bounded by one core and by its share of the machine.
//
// Two cases are printed: with the generator the bench runs, and with the leanest generator
// possible, one that costs no more than OpenSSL's client side of the handshake.
import { ratio } from './stats.js';
import type { TlsFloor } from './tls-floor.js';

export interface CeilingInput {
  cores: number;
  floor: TlsFloor;
  /** The generator's CPU per handshake in the steady rounds (median over subjects). */
  generatorMs: number | undefined;
  /** The reference's steady handshakes per second and its CPU per handshake. */
  referencePerSec: number | undefined;
  referenceCpuMs: number | undefined;
}

export interface HandshakeCeiling {
  cores: number;
  serverFloorMs: number;
  clientFloorMs: number;
  generatorMs?: number;
  /** A server costing only OpenSSL's server side, beside this bench's generator. */
  withThisGenerator?: { perSec: number; vsReference: number | null };
  /**
   * The same server beside a generator costing only OpenSSL's client side; the reference at
   * its measured CPU per handshake, on one thread, beside that generator.
   */
  withLeanestGenerator: {
    perSec: number;
    referencePerSec?: number;
    vsReference: number | null;
  };
}

const MS_PER_SECOND = 1000;

/** Handshakes per second when each one costs the machine `ms` of CPU across `cores`. */
function machineBound(cores: number, ms: number): number {
  return (cores * MS_PER_SECOND) / ms;
}

export function handshakeCeiling(input: CeilingInput): HandshakeCeiling {
  const { cores, floor, generatorMs, referencePerSec, referenceCpuMs } = input;
  const out: HandshakeCeiling = {
    cores,
    serverFloorMs: floor.serverMs,
    clientFloorMs: floor.clientMs,
    withLeanestGenerator: {
      perSec: machineBound(cores, floor.serverMs + floor.clientMs),
      vsReference: null,
    },
  };
  if (generatorMs !== undefined && generatorMs > 0) {
    out.generatorMs = generatorMs;
    const perSec = machineBound(cores, floor.serverMs + generatorMs);
    out.withThisGenerator = { perSec, vsReference: ratio(perSec, referencePerSec) };
  }
  if (referenceCpuMs !== undefined && referenceCpuMs > 0) {
    // One thread: at most a core's worth, and at most its share of the machine.
    const referenceLean = Math.min(
      machineBound(1, referenceCpuMs),
      machineBound(cores, referenceCpuMs + floor.clientMs),
    );
    out.withLeanestGenerator.referencePerSec = referenceLean;
    out.withLeanestGenerator.vsReference = ratio(out.withLeanestGenerator.perSec, referenceLean);
  }
  return out;
}

const fixed = (x: number, digits: number): string => x.toFixed(digits);
const times = (r: number | null): string => (r === null ? '' : ` = ${fixed(r, 2)}x the reference`);

/** A paragraph for the bench's output, under the tables. */
export function formatHandshakeCeiling(c: HandshakeCeiling, referenceLabel: string): string {
  const lines = [
    `Handshake ceiling on this machine (${c.cores} cores shared by the server and the load generator):`,
    `  OpenSSL's own work per handshake, in a loop: server side ${fixed(c.serverFloorMs, 2)} ms, ` +
      `client side ${fixed(c.clientFloorMs, 2)} ms of CPU.`,
  ];
  if (c.withThisGenerator !== undefined && c.generatorMs !== undefined) {
    lines.push(
      `  With this generator (${fixed(c.generatorMs, 2)} ms per handshake), a server doing ` +
        `nothing but OpenSSL's server side tops out at ${fixed(c.withThisGenerator.perSec, 0)}/s` +
        (c.withThisGenerator.vsReference === null
          ? '.'
          : `${times(c.withThisGenerator.vsReference)} (${referenceLabel}, steady).`),
    );
  }
  const lean = c.withLeanestGenerator;
  lines.push(
    `  With a generator costing only OpenSSL's client side: ${fixed(lean.perSec, 0)}/s` +
      (lean.referencePerSec === undefined
        ? '.'
        : `, against ~${fixed(lean.referencePerSec, 0)}/s for the reference at its CPU per ` +
          `handshake on one thread${times(lean.vsReference)} at best.`),
  );
  return lines.join('\n');
}
