// Every figure, in the order the table shows them.
import type { FigureSpec } from '../lib/types.js';
import { CONNECT_TIME, FIRST_CONNECT_TIME } from './connect-time.js';
import { CPU_SYSTEM, CPU_TUNNEL } from './cpu-per-gb.js';
import { ADDED_LATENCY, RTT } from './latency.js';
import {
  GENERATOR_HANDSHAKE_CPU,
  HANDSHAKE_CPU,
  HANDSHAKE_RATE,
  HELD_HANDSHAKE_CPU,
  HELD_HANDSHAKE_RATE,
  IDLE_SESSION_MEMORY,
  IDLE_SESSION_MEMORY_SETTLED,
  STORM_HANDSHAKE_RATE,
} from './sessions.js';
import { TCP_1_STREAM, TCP_4_STREAMS } from './tcp-throughput.js';
import { UDP_CLEAN_RATE, UDP_LOSS, UDP_RATE } from './udp-1400.js';

export const FIGURES: readonly FigureSpec[] = [
  TCP_1_STREAM,
  TCP_4_STREAMS,
  UDP_RATE,
  UDP_LOSS,
  UDP_CLEAN_RATE,
  RTT,
  ADDED_LATENCY,
  FIRST_CONNECT_TIME,
  CONNECT_TIME,
  CPU_TUNNEL,
  CPU_SYSTEM,
  HANDSHAKE_RATE,
  STORM_HANDSHAKE_RATE,
  HANDSHAKE_CPU,
  GENERATOR_HANDSHAKE_CPU,
  HELD_HANDSHAKE_RATE,
  HELD_HANDSHAKE_CPU,
  IDLE_SESSION_MEMORY,
  IDLE_SESSION_MEMORY_SETTLED,
];
