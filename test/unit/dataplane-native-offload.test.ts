// The native data plane's TUN offload code (native/ovpn_offload.c), through its test hooks:
// cutting a TCP super-packet (what the kernel reads out with TSO) gives valid segments that
// carry exactly its bytes; coalescing those segments (what we write back, GRO-style) gives the
// super-packet back, with the header the kernel needs; what must not merge does not; and
// malformed input is refused, never a crash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { loadOvpnNative, supportsNative } from '../../src/dataplane/native/native-binding.js';
import {
  concat,
  readVnet,
  superFrame,
  TCP_ACK,
  TCP_CWR,
  TCP_FIN,
  TCP_PSH,
  TCP_SYN,
  tcpFields,
  tcpPacket,
  udpPacket,
  vnetHeader,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_HDR_SIZE,
  withoutChecksums,
} from '../fixtures/dataplane-packets.js';

const support = supportsNative();
const skip = support.ok ? false : support.reason;
const IP_MAX = 65535;
const GRO_SEGMENTS_MAX = 64;
const TSO_SEGMENTS_MAX = 128;

const superCase = fc
  .record({
    v6: fc.boolean(),
    mss: fc.integer({ min: 200, max: 9000 }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    id: fc.integer({ min: 0, max: 0xffff }),
    options: fc
      .integer({ min: 0, max: 10 })
      .chain((words) => fc.uint8Array({ minLength: words * 4, maxLength: words * 4 })),
    psh: fc.boolean(),
    payloadLength: fc.integer({ min: 0, max: 60000 }),
    headroom: fc.integer({ min: 0, max: 24 }),
  })
  .filter((c) => Math.ceil(c.payloadLength / c.mss) <= TSO_SEGMENTS_MAX);

describe('native TUN offloads: TSO cutting and GRO coalescing', { skip }, () => {
  const native = support.ok ? loadOvpnNative() : undefined;
  // Plain Uint8Array copies, so deepEqual compares bytes with bytes.
  const tso = (frame: Uint8Array, headroom = 0) => {
    const r = native!.ovpnTsoForTest(frame, headroom);
    return Array.isArray(r) ? r.map((b) => new Uint8Array(b)) : r;
  };
  const gro = (packets: Uint8Array[]) =>
    native!.ovpnGroForTest(packets).map((b) => new Uint8Array(b));

  it('a super-packet is cut into valid segments that carry exactly its bytes', () => {
    fc.assert(
      fc.property(superCase, (c) => {
        const payload = new Uint8Array(c.payloadLength).map((_, i) => (i * 7 + c.seq) & 0xff);
        const flags = TCP_ACK | (c.psh ? TCP_PSH : 0) | TCP_CWR | TCP_FIN;
        const whole = tcpPacket({
          v6: c.v6,
          seq: c.seq,
          id: c.id,
          options: c.options,
          payload,
          flags,
        });
        const segments = tso(superFrame(whole, c.mss), c.headroom);
        assert.ok(Array.isArray(segments), String(segments));
        const expected = Math.max(1, Math.ceil(c.payloadLength / c.mss));
        assert.equal(segments.length, expected);
        segments.forEach((s, k) => {
          const f = tcpFields(s);
          const last = k === segments.length - 1;
          assert.ok(f.ipChecksumOk && f.tcpChecksumOk, `segment ${k} checksums`);
          assert.equal(f.seq, (c.seq + k * c.mss) >>> 0);
          assert.ok(f.payload.length <= c.mss);
          if (!c.v6) assert.equal(f.id, (c.id + k) & 0xffff);
          assert.equal(f.flags & TCP_FIN, last ? TCP_FIN : 0, 'FIN only on the last');
          assert.equal(f.flags & TCP_PSH, last && c.psh ? TCP_PSH : 0, 'PSH only on the last');
          assert.equal(f.flags & TCP_CWR, k === 0 ? TCP_CWR : 0, 'CWR only on the first');
          assert.deepEqual(s.subarray(f.iph + 20, f.iph + f.thl), c.options);
        });
        assert.deepEqual(concat(segments.map((s) => tcpFields(s).payload)), payload);
      }),
      { numRuns: 150 },
    );
  });

  it('coalescing the segments gives the super-packet back, with a GSO header', () => {
    fc.assert(
      fc.property(
        superCase.filter((c) => c.payloadLength > 0),
        (c) => {
          const payload = new Uint8Array(c.payloadLength).map((_, i) => (i * 13) & 0xff);
          const flags = TCP_ACK | (c.psh ? TCP_PSH : 0);
          const whole = tcpPacket({
            v6: c.v6,
            seq: c.seq,
            id: c.id,
            options: c.options,
            payload,
            flags,
          });
          const segments = tso(superFrame(whole, c.mss));
          assert.ok(Array.isArray(segments));
          const writes = gro(segments);
          assert.equal(writes.length, Math.ceil(segments.length / GRO_SEGMENTS_MAX));
          const packets = writes.map((w) => w.subarray(VNET_HDR_SIZE));
          assert.deepEqual(concat(packets.map((p) => tcpFields(p).payload)), payload);
          if (writes.length === 1) {
            const h = readVnet(writes[0]!);
            const merged = packets[0]!;
            const f = tcpFields(merged);
            if (segments.length === 1) {
              assert.deepEqual(
                writes[0]!.subarray(0, VNET_HDR_SIZE),
                new Uint8Array(VNET_HDR_SIZE),
              );
              assert.deepEqual(merged, whole, 'a lone segment is written as it is');
              return;
            }
            assert.deepEqual(h, {
              flags: VNET_F_NEEDS_CSUM,
              gsoType: c.v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4,
              hdrLen: f.iph + f.thl,
              gsoSize: c.mss,
              csumStart: f.iph,
              csumOffset: 16,
            });
            assert.ok(f.ipChecksumOk, 'IPv4 header checksum recomputed');
            assert.equal(
              f.tcpChecksumField,
              f.pseudoPartial,
              'partial checksum: pseudo-header sum',
            );
            assert.deepEqual(withoutChecksums(merged), withoutChecksums(whole));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps flows apart and in order, and merges only what may be merged', () => {
    const mss = 1000;
    const seg = (o: Parameters<typeof tcpPacket>[0], i: number) =>
      tcpPacket({ seq: 5000 + i * mss, payload: new Uint8Array(mss).fill(i), ...o });
    const a = [0, 1, 2, 3].map((i) => seg({ sport: 1 }, i));
    const b = [0, 1, 2].map((i) => seg({ sport: 2 }, i));
    const interleaved = [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!, a[3]!];
    const writes = gro(interleaved).map((w) => w.subarray(VNET_HDR_SIZE));
    assert.equal(writes.length, 2, 'one write per flow');
    assert.equal(tcpFields(writes[0]!).payload.length, 4 * mss);
    assert.equal(tcpFields(writes[1]!).payload.length, 3 * mss);

    const badChecksum = Uint8Array.from(a[1]!);
    badChecksum[badChecksum.length - 1]! ^= 1;
    const cases: [string, Uint8Array[], number][] = [
      ['a segment with a bad checksum stays alone', [a[0]!, badChecksum, a[2]!], 3],
      ['a gap in the sequence starts a new packet', [a[0]!, a[2]!, a[3]!], 2],
      ['SYN is never merged', [seg({ flags: TCP_SYN | TCP_ACK }, 0), seg({}, 1)], 2],
      ['FIN is never merged', [seg({}, 0), seg({ flags: TCP_FIN | TCP_ACK }, 1)], 2],
      ['PSH ends a merged packet', [seg({ flags: TCP_ACK | TCP_PSH }, 0), seg({}, 1)], 2],
      [
        'a short segment ends a merged packet',
        [seg({ payload: new Uint8Array(10) }, 0), seg({}, 0)],
        2,
      ],
      [
        'different TCP options do not merge',
        [seg({ options: Uint8Array.of(1, 1, 1, 1) }, 0), seg({}, 1)],
        2,
      ],
      ['different ACK numbers do not merge', [seg({ ack: 1 }, 0), seg({ ack: 2 }, 1)], 2],
      ['different TTLs do not merge', [seg({ ttl: 64 }, 0), seg({ ttl: 63 }, 1)], 2],
      [
        'UDP is written as it is',
        [udpPacket([1, 2, 3, 4], [5, 6, 7, 8]), udpPacket([1, 2, 3, 4], [5, 6, 7, 8])],
        2,
      ],
      [
        'pure ACKs are not merged',
        [seg({ payload: new Uint8Array(0) }, 0), seg({ payload: new Uint8Array(0) }, 0)],
        2,
      ],
      [
        'a merged packet stays within 65535 bytes',
        Array.from({ length: 50 }, (_, i) =>
          tcpPacket({ seq: i * 1400, payload: new Uint8Array(1400) }),
        ),
        2,
      ],
    ];
    for (const [what, packets, expected] of cases) {
      const out = gro(packets);
      assert.equal(out.length, expected, what);
      const bytes = out.map((w) => w.subarray(VNET_HDR_SIZE));
      for (const p of bytes) assert.ok(p.length <= IP_MAX, what);
      const payloadIn = concat(
        packets.map((p) => (p[9] === 17 ? p.subarray(20) : tcpFields(p).payload)),
      );
      const payloadOut = concat(
        bytes.map((p) => (p[9] === 17 ? p.subarray(20) : tcpFields(p).payload)),
      );
      assert.deepEqual(payloadOut, payloadIn, `${what}: same bytes, same order`);
    }
    const unmerged = gro([a[0]!, badChecksum]).map((w) => w.subarray(VNET_HDR_SIZE));
    assert.deepEqual(unmerged[1], badChecksum, 'the bad segment reaches the kernel untouched');
  });

  it('completes a partial checksum on a plain packet, and refuses malformed frames', () => {
    const whole = tcpPacket({ payload: new Uint8Array(100).fill(3) });
    const f = tcpFields(whole);
    const partial = Uint8Array.from(whole);
    new DataView(partial.buffer).setUint16(f.iph + 16, f.pseudoPartial);
    const header = vnetHeader({ flags: VNET_F_NEEDS_CSUM, csumStart: f.iph, csumOffset: 16 });
    const completed = tso(concat([header, partial]));
    assert.ok(Array.isArray(completed));
    assert.deepEqual(completed[0], whole);

    const big = tcpPacket({ payload: new Uint8Array(30000) });
    const bad: [string, Uint8Array][] = [
      ['too short for a header', new Uint8Array(5)],
      [
        'checksum offset past the end',
        concat([vnetHeader({ flags: 1, csumStart: 60, csumOffset: 16 }), whole.subarray(0, 70)]),
      ],
      ['gso_size 0', concat([vnetHeader({ gsoType: VNET_GSO_TCPV4 }), big])],
      ['TCPV6 on an IPv4 packet', superFrame(big, 1000).fill(VNET_GSO_TCPV6, 1, 2)],
      ['UDP GSO', superFrame(big, 1000).fill(3, 1, 2)],
      ['too many segments', superFrame(big, 100)],
      [
        'not TCP',
        concat([
          vnetHeader({ gsoType: VNET_GSO_TCPV4, gsoSize: 100 }),
          udpPacket([1, 1, 1, 1], [2, 2, 2, 2], 3000),
        ]),
      ],
      [
        'truncated TCP header',
        concat([vnetHeader({ gsoType: VNET_GSO_TCPV4, gsoSize: 100 }), big.subarray(0, 30)]),
      ],
    ];
    for (const [what, frame] of bad) assert.equal(tso(frame), 'bad-offload', what);
  });

  it('never crashes on random frames', () => {
    fc.assert(
      fc.property(
        fc.record({
          gsoType: fc.constantFrom(0, 1, 3, 4, 0x81, 0xff),
          flags: fc.integer({ min: 0, max: 3 }),
          gsoSize: fc.integer({ min: 0, max: 0xffff }),
          csumStart: fc.integer({ min: 0, max: 200 }),
          csumOffset: fc.integer({ min: 0, max: 200 }),
        }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.boolean(),
        (h, body, tcpLike) => {
          const packet =
            tcpLike && body.length > 60
              ? Uint8Array.from(body).fill(0x45, 0, 1).fill(6, 9, 10)
              : body;
          const r = tso(concat([vnetHeader(h), packet]), 24);
          assert.ok(r === 'bad-offload' || Array.isArray(r));
          gro([packet, packet, tcpPacket({ payload: body })]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
