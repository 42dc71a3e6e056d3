// Child-process entry point (run by Lab.httpServer inside a namespace): an HTTP server whose
// every GET answers the same deterministic file. Prints `listening <port>` once it accepts.
//   node serve-file.js <port> <bytes>
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { deterministicChunks } from './deterministic-bytes.js';

const port = Number(process.argv[2]);
const bytes = Number(process.argv[3]);
if (!Number.isInteger(port) || !Number.isInteger(bytes) || bytes < 0) {
  process.stderr.write('usage: serve-file <port> <bytes>\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(bytes),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  Readable.from(deterministicChunks(bytes)).pipe(res);
});

function announce(): void {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
}

// `::` takes both IPv4 and IPv6; a namespace with IPv6 disabled falls back to IPv4 only.
server.once('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EAFNOSUPPORT' && e.code !== 'EADDRNOTAVAIL') throw e;
  server.listen(port, '0.0.0.0', announce);
});
server.listen({ port, host: '::', ipv6Only: false }, announce);
