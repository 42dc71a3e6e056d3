// Child-process entry point (run by Lab.download inside a namespace): GETs a URL and prints one
// JSON line {status, bytes, sha256, ms}, so the caller can compare the hash without the body
// ever crossing a pipe.   node fetch-hash.js <url> [timeoutMs]
import { createHash } from 'node:crypto';
import { get } from 'node:http';

const DEFAULT_TIMEOUT_MS = 30_000;
const url = process.argv[2];
const timeoutMs = Number(process.argv[3] ?? DEFAULT_TIMEOUT_MS);
if (!url) {
  process.stderr.write('usage: fetch-hash <url> [timeoutMs]\n');
  process.exit(2);
}

const started = performance.now();
const fail = (e: Error): void => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exit(1);
};
const req = get(url, (res) => {
  const hash = createHash('sha256');
  let bytes = 0;
  res.on('data', (b: Buffer) => {
    bytes += b.length;
    hash.update(b);
  });
  res.on('error', fail);
  res.on('end', () => {
    const ms = Math.round(performance.now() - started);
    const out = { status: res.statusCode, bytes, sha256: hash.digest('hex'), ms };
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
req.on('error', fail);
