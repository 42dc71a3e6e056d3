// The load generator as a program, run in laptop by the session figures:
//
//   node dist/bench/load/load-client.js TARGET.json COUNT CONCURRENCY
//
// Opens COUNT sessions against the target, prints one JSON line with the result, then keeps the
// configured sessions idle (pinging) until SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import { openSessions, type LoadTarget } from './openvpn-load.js';

const HANDSHAKE_TIMEOUT_MS = 60_000;
/** Below any server's ping-restart (OpenVPN's --keepalive 10 60 gives 120 s on the server). */
const PING_INTERVAL_SEC = 10;

async function main(): Promise<void> {
  const [targetPath, countText, concurrencyText] = process.argv.slice(2);
  const count = Number(countText);
  const concurrency = Number(concurrencyText);
  if (!targetPath || !(count > 0) || !(concurrency > 0)) {
    process.stderr.write('usage: load-client TARGET.json COUNT CONCURRENCY\n');
    process.exit(2);
  }
  const target = JSON.parse(readFileSync(targetPath, 'utf8')) as LoadTarget;
  const run = await openSessions(target, {
    count,
    concurrency,
    handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    pingIntervalSec: PING_INTERVAL_SEC,
  });
  process.stdout.write(JSON.stringify({ event: 'opened', ...run.result }) + '\n');
  const stop = (): void => {
    run.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`load-client: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
