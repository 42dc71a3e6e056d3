// Turns one capture.sh run (a pcap of the loopback link plus the verb-9 logs of the real
// OpenVPN client and server) into a JSON fixture the tests read. Usage:
//   node extract.mjs <scenario> <pcap> <server.log> <client.log> <description> > out.json
// Only tooling: Postern never runs this.
import { readFileSync } from 'node:fs';

const SERVER_PORT = 1194;
const [scenario, pcapPath, serverLogPath, clientLogPath, description] = process.argv.slice(2);
if (!description) {
  console.error('usage: extract.mjs <scenario> <pcap> <server.log> <client.log> <description>');
  process.exit(2);
}

// pcap (classic libpcap format, either byte order, micro or nano seconds).
function readPcap(buf) {
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error('not a pcap file');
  }
  const u32 = (o) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  const frames = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const caplen = u32(off + 8);
    const data = buf.subarray(off + 16, off + 16 + caplen);
    frames.push(data);
    off += 16 + caplen;
  }
  return { linktype, frames };
}

function ipv4Of(linktype, frame) {
  let off;
  if (linktype === 1) {
    if (frame.readUInt16BE(12) !== 0x0800) return undefined;
    off = 14;
  } else if (linktype === 113) {
    if (frame.readUInt16BE(14) !== 0x0800) return undefined;
    off = 16;
  } else if (linktype === 276) {
    if (frame.readUInt16BE(0) !== 0x0800) return undefined;
    off = 20;
  } else {
    throw new Error(`unsupported link type ${linktype}`);
  }
  const ip = frame.subarray(off);
  if (ip[0] >> 4 !== 4) return undefined;
  const ihl = (ip[0] & 0x0f) * 4;
  const total = ip.readUInt16BE(2);
  return { proto: ip[9], payload: ip.subarray(ihl, total) };
}

function direction(srcPort) {
  return srcPort === SERVER_PORT ? 's2c' : 'c2s';
}

const pcap = readPcap(readFileSync(pcapPath));
const packets = [];
const tcp = { c2s: { next: undefined, chunks: [] }, s2c: { next: undefined, chunks: [] } };
for (const frame of pcap.frames) {
  const ip = ipv4Of(pcap.linktype, frame);
  if (!ip) continue;
  if (ip.proto === 17) {
    const srcPort = ip.payload.readUInt16BE(0);
    const dstPort = ip.payload.readUInt16BE(2);
    if (srcPort !== SERVER_PORT && dstPort !== SERVER_PORT) continue;
    packets.push({ dir: direction(srcPort), hex: ip.payload.subarray(8).toString('hex') });
  } else if (ip.proto === 6) {
    const seg = ip.payload;
    const srcPort = seg.readUInt16BE(0);
    const seq = seg.readUInt32BE(4);
    const flags = seg[13];
    const dataOff = (seg[12] >> 4) * 4;
    const data = seg.subarray(dataOff);
    const s = tcp[direction(srcPort)];
    if (flags & 0x02) {
      s.next = (seq + 1) >>> 0; // SYN takes one sequence number
      continue;
    }
    if (data.length === 0) continue;
    if (s.next === undefined) throw new Error('TCP data before SYN: start tcpdump earlier');
    if (seq !== s.next) {
      // A retransmission of bytes we have is fine; a gap is not.
      const behind = (s.next - seq) >>> 0;
      if (behind < 0x80000000 && behind >= data.length) continue;
      throw new Error(`TCP gap or overlap at seq ${seq}, expected ${s.next}`);
    }
    s.chunks.push(Buffer.from(data));
    s.next = (seq + data.length) >>> 0;
  }
}

function deframe(stream, dir) {
  let off = 0;
  while (off + 2 <= stream.length) {
    const len = stream.readUInt16BE(off);
    if (off + 2 + len > stream.length) break;
    packets.push({ dir, hex: stream.subarray(off + 2, off + 2 + len).toString('hex') });
    off += 2 + len;
  }
}

let tcpStreams;
if (tcp.c2s.chunks.length > 0 || tcp.s2c.chunks.length > 0) {
  const c2s = Buffer.concat(tcp.c2s.chunks);
  const s2c = Buffer.concat(tcp.s2c.chunks);
  tcpStreams = { c2s: c2s.toString('hex'), s2c: s2c.toString('hex') };
  // Per-direction order only: interleaving across directions is not kept for TCP.
  deframe(c2s, 'c2s');
  deframe(s2c, 's2c');
}

// Logs.
function logFacts(path) {
  const text = readFileSync(path, 'utf8');
  const hexAfter = (re) => [...text.matchAll(re)].map((m) => m[1].replace(/\s+/g, ''));
  const unique = (list) => [...new Set(list)];
  const ivTails = (re) => unique(hexAfter(re).map((iv) => iv.slice(8)));
  const ekm = [...text.matchAll(/POSTERN-EKM label=(\S+) ret=1 out=([0-9a-f]+)/g)].map((m) => ({
    label: m[1],
    hex: m[2],
  }));
  const peerId = text.match(/Data Channel: cipher '[^']+', peer-id: (\d+)/);
  const version = text.match(/^.*?(OpenVPN 2\.\d+\.\d+ [^\n]*)$/m);
  return {
    version: version ? version[1].trim() : undefined,
    ekm,
    observed: {
      tlsCryptSendCipherKey: hexAfter(
        /Outgoing Control Channel Encryption: CIPHER KEY: ([0-9a-f ]+)/g,
      )[0],
      tlsCryptSendHmacKey: hexAfter(
        /Outgoing Control Channel Encryption: HMAC KEY: ([0-9a-f ]+)/g,
      )[0],
      tlsCryptReceiveCipherKey: hexAfter(
        /Incoming Control Channel Encryption: CIPHER KEY: ([0-9a-f ]+)/g,
      )[0],
      tlsCryptReceiveHmacKey: hexAfter(
        /Incoming Control Channel Encryption: HMAC KEY: ([0-9a-f ]+)/g,
      )[0],
      dynamicTlsCryptSendCipherKeys: hexAfter(
        /Outgoing dynamic tls-crypt: CIPHER KEY: ([0-9a-f ]+)/g,
      ),
      dynamicTlsCryptSendHmacKeys: hexAfter(/Outgoing dynamic tls-crypt: HMAC KEY: ([0-9a-f ]+)/g),
      dataSendCipherKeys: hexAfter(/Outgoing Data Channel: CIPHER KEY: ([0-9a-f ]+)/g),
      dataReceiveCipherKeys: hexAfter(/Incoming Data Channel: CIPHER KEY: ([0-9a-f ]+)/g),
      dataSendImplicitIvs: ivTails(/ENCRYPT IV: ([0-9a-f ]+)/g),
      dataReceiveImplicitIvs: ivTails(/DECRYPT IV: ([0-9a-f ]+)/g),
      peerId: peerId ? Number(peerId[1]) : undefined,
    },
  };
}

const server = logFacts(serverLogPath);
const client = logFacts(clientLogPath);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
if (!same(server.ekm.map((e) => e.hex).sort(), client.ekm.map((e) => e.hex).sort())) {
  throw new Error('client and server exported different keying material');
}

const out = {
  scenario,
  description,
  openvpnVersion: client.version,
  transport: tcpStreams ? 'tcp' : 'udp',
  exportedKeyingMaterial: client.ekm,
  observed: { client: client.observed, server: server.observed },
  packets,
  ...(tcpStreams ? { tcpStreams } : {}),
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
