// Connect time: from the moment the client is started to the first packet that went through the
// tunnel and came back. A UDP echo server runs in office; a probe in laptop sends to it every
// millisecond from before the client starts, and reports when the first echo arrived. The same
// probe for every subject: no client's own "connected" message is trusted.
import type { SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../src/lab/index.js';
import { exited, waitForOutput } from '../../src/lab/run.js';
import type { ClientEnd, FigureSpec, ServerEnd } from '../lib/types.js';

/** The first client a freshly started server ever sees (cold: caches empty, code not compiled). */
export const FIRST_CONNECT_TIME: FigureSpec = {
  key: 'firstConnectMs',
  label: 'first connect',
  unit: 'ms',
  better: 'lower',
  digits: 0,
};

/** The next client, on a server that has served one before: what users of a running gateway see. */
export const CONNECT_TIME: FigureSpec = {
  key: 'connectMs',
  label: 'connect',
  unit: 'ms',
  better: 'lower',
  digits: 0,
};

const ECHO_PORT = 7;
const READY_TIMEOUT_MS = 5_000;
const UDP_ECHO_JS = fileURLToPath(new URL('../probes/udp-echo.js', import.meta.url));
const FIRST_ECHO_JS = fileURLToPath(new URL('../probes/first-echo.js', import.meta.url));

const wallClockMs = (): number => performance.timeOrigin + performance.now();

export interface Connected {
  client: ClientEnd;
  connectMs: number;
}

/** Starts the subject's client and measures how long until the first packet goes through. */
export async function connectAndTime(
  lab: Lab,
  server: ServerEnd & { startClient(): Promise<ClientEnd> },
  timeoutMs: number,
): Promise<Connected> {
  const stdio: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'] };
  const echo = lab.spawn(
    'office',
    process.execPath,
    [UDP_ECHO_JS, lab.addr.office.v4, String(ECHO_PORT)],
    stdio,
  );
  try {
    await waitForOutput(echo, echo.stdout, /listening/, READY_TIMEOUT_MS);
    const probe = lab.spawn(
      'laptop',
      process.execPath,
      [FIRST_ECHO_JS, lab.addr.office.v4, String(ECHO_PORT), String(timeoutMs)],
      stdio,
    );
    let out = '';
    probe.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    await waitForOutput(probe, probe.stdout, /ready/, READY_TIMEOUT_MS);
    const startedAt = wallClockMs();
    let client: ClientEnd | undefined;
    try {
      client = await server.startClient();
      await exited(probe);
      const line = out.trim().split('\n').pop() ?? '';
      const result = JSON.parse(line.startsWith('{') ? line : '{}') as {
        firstEchoAt?: number;
        error?: string;
      };
      if (result.firstEchoAt === undefined) {
        throw new Error(`the tunnel carried no packet: ${result.error ?? out.trim()}`);
      }
      return { client, connectMs: result.firstEchoAt - startedAt };
    } catch (e) {
      probe.kill('SIGKILL');
      await client?.stop();
      throw e;
    }
  } finally {
    echo.kill('SIGTERM');
  }
}
