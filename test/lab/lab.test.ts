// The lab as a network: who can reach whom, what arrives, and what the wire shows.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLab, deterministicSha256 } from '../../src/lab/index.js';
import type { Lab } from '../../src/lab/index.js';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;
const FILE_BYTES = 4 * 1024 * 1024;
/** pcap files start with this magic number, written in the writer's byte order. */
const PCAP_MAGIC = 0xa1b2c3d4;

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('lab: laptop, Internet, gateway, office', { skip }, () => {
  let lab: Lab;

  before(async () => {
    lab = await createLab();
  });
  after(async () => {
    await lab?.destroy();
  });

  it('laptop pings inet and the gateway outside address, over IPv4 and IPv6', async () => {
    const a = lab.addr;
    for (const to of [
      a.inet.laptopSide.v4,
      a.inet.laptopSide.v6,
      a.gw.outside.v4,
      a.gw.outside.v6,
    ]) {
      const r = await lab.ping('laptop', to, { count: 2 });
      assert.equal(r.received, 2, `laptop -> ${to}:\n${r.output}`);
    }
  });

  it('the office LAN is private: inet answers "Net Unreachable", TCP fails', async () => {
    const v4 = await lab.ping('laptop', lab.addr.office.v4, { count: 1 });
    assert.equal(v4.received, 0, v4.output);
    assert.match(v4.output, /From 198\.51\.100\.1 .*Unreachable/);
    const v6 = await lab.ping('laptop', lab.addr.office.v6, { count: 1 });
    assert.equal(v6.received, 0, v6.output);

    const server = await lab.httpServer('office', { port: 8080, bytes: 1024 });
    try {
      await assert.rejects(lab.download('laptop', server.url(), { timeoutMs: 2000 }), {
        code: 'LAB_DOWNLOAD_FAILED',
      });
      // The server itself is fine: the gateway, on the office LAN, gets the file.
      const local = await lab.download('gw', server.url());
      assert.equal(local.bytes, 1024);
    } finally {
      await server.stop();
    }
  });

  it('after exposeOfficeViaInet() the laptop pings the office over IPv4 and IPv6', async () => {
    await lab.exposeOfficeViaInet();
    const v4 = await lab.ping('laptop', 'office', { count: 2 });
    assert.equal(v4.received, 2, v4.output);
    const v6 = await lab.ping('laptop', 'office', { count: 2, v6: true });
    assert.equal(v6.received, 2, v6.output);
    assert.match(v6.output, /from 2001:db8:2::10/);
  });

  it('a 4 MiB download from the office arrives intact, over IPv4 and IPv6', async () => {
    const server = await lab.httpServer('office', { port: 8080, bytes: FILE_BYTES });
    try {
      const expected = deterministicSha256(FILE_BYTES);
      for (const v6 of [false, true]) {
        const got = await lab.download('laptop', server.url({ v6 }));
        assert.equal(got.status, 200);
        assert.equal(got.bytes, FILE_BYTES);
        assert.equal(got.sha256, expected, `hash over ${v6 ? 'IPv6' : 'IPv4'}`);
      }
      assert.notEqual(deterministicSha256(FILE_BYTES - 1), expected);
    } finally {
      await server.stop();
    }
  });

  it('a capture on inet shows the ICMP packets of a ping', async (t) => {
    const cap = await lab.capture({ filter: 'icmp' });
    const ping = await lab.ping('laptop', 'gw', { count: 3 });
    const res = await cap.stop();
    assert.equal(ping.received, 3);
    assert.equal(count(res.text, '198.51.100.2 > 203.0.113.2: ICMP echo request'), 3, res.text);
    assert.equal(count(res.text, '203.0.113.2 > 198.51.100.2: ICMP echo reply'), 3, res.text);
    assert.equal(res.packets, 6);
    assert.equal(res.droppedByKernel, 0);
    const magic = readFileSync(res.pcapPath).readUInt32LE(0);
    assert.equal(magic, PCAP_MAGIC);
    t.diagnostic(res.text.split('\n')[0] ?? '');
  });

  it('a capture on a named interface sees forwarded traffic to the office', async () => {
    const cap = await lab.capture({ host: 'inet', iface: lab.iface.inet.toGw, filter: 'icmp' });
    await lab.ping('laptop', 'office', { count: 2 });
    const res = await cap.stop();
    assert.equal(count(res.text, '198.51.100.2 > 192.0.2.10: ICMP echo request'), 2, res.text);
    assert.equal(res.packets, 4);
  });

  it("an interface's kernel counters count what crossed it", async () => {
    const before = await lab.linkCounters('inet');
    await lab.ping('laptop', 'office', { count: 4 });
    const after = await lab.linkCounters('inet');
    // inet's link to the laptop receives the 4 requests and sends the 4 replies (84 bytes each).
    assert.ok(after.rxPackets - before.rxPackets >= 4, JSON.stringify({ before, after }));
    assert.ok(after.txPackets - before.txPackets >= 4, JSON.stringify({ before, after }));
    assert.ok(after.txBytes - before.txBytes >= 4 * 98, JSON.stringify({ before, after }));
  });
});
