// The Linux TUN device in a network namespace of its own: a child Node process opens it with
// 100.64.0.1/24 and fd00:64::1/64 and answers pings to the other addresses of those subnets.
// When `ping` inside the namespace gets its replies, the kernel delivered the requests to Node
// (read path) and accepted the replies Node wrote (write path). Needs root.

import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GARBAGE_BATCH, NOT_BYTES_BATCH } from '../fixtures/tun-echo-responder.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces and TUN devices)';
const root = process.env.POSTERN_ROOT ?? fileURLToPath(new URL('../../..', import.meta.url));
const RESPONDER = join(root, 'dist', 'test', 'fixtures', 'tun-responder.js');
const NS = `pst-tun-${process.pid}-${randomBytes(3).toString('hex')}`;
const TEST_TIMEOUT_MS = 60_000;
const REPLY_TIMEOUT_MS = 20_000;

interface Message {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** A tun-responder child inside the namespace, spoken to in JSON lines. */
class Responder {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #messages: Message[] = [];
  #waiters: (() => void)[] = [];
  #stderr = '';

  constructor(args: string[]) {
    this.child = spawn('ip', ['netns', 'exec', NS, process.execPath, RESPONDER, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(this.child);
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.stderr?.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.#messages.push(JSON.parse(line) as Message);
      } catch {
        this.#messages.push({ event: 'unparsed', line });
      }
      this.#waiters.splice(0).forEach((wake) => wake());
    });
    this.child.once('exit', () => this.#waiters.splice(0).forEach((wake) => wake()));
  }

  /** The next message (skipping none), or a failure that shows what the child said. */
  async next(): Promise<Message> {
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    while (this.#messages.length === 0) {
      if (this.child.exitCode !== null || Date.now() > deadline) {
        assert.fail(`tun-responder said nothing (exit ${this.child.exitCode}): ${this.#stderr}`);
      }
      await new Promise<void>((wake) => {
        this.#waiters.push(wake);
        setTimeout(wake, 200).unref();
      });
    }
    return this.#messages.shift()!;
  }

  async command(line: string): Promise<Message> {
    this.child.stdin?.write(`${line}\n`);
    const reply = await this.next();
    assert.equal(reply.event, 'stats', JSON.stringify(reply));
    return reply;
  }
}

const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const child of children) if (child.exitCode === null && child.pid) child.kill('SIGKILL');
  children.clear();
  if (isRoot) spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
}
process.once('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanup();
    process.exit(1);
  });
}

function inNs(cmd: string, ...args: string[]): Promise<{ stdout: string }> {
  return run('ip', ['netns', 'exec', NS, cmd, ...args], { timeout: REPLY_TIMEOUT_MS });
}

async function ping(target: string, ...extra: string[]): Promise<string> {
  const family = target.includes(':') ? ['-6'] : ['-4'];
  const { stdout } = await inNs('ping', ...family, '-n', '-W', '2', ...extra, target);
  return stdout;
}

/**
 * The namespace's ICMP counters. `ping` reads replies from a raw socket before the kernel
 * checks their checksum, so it reports a reply with a bad checksum as received; these
 * counters are where the kernel's verdict shows.
 */
async function icmpCounters(): Promise<Record<string, number>> {
  const counters: Record<string, number> = {};
  const { stdout: snmp } = await inNs('cat', '/proc/net/snmp');
  const lines = snmp.split('\n').filter((l) => l.startsWith('Icmp: '));
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  names?.forEach((name, i) => (counters[`Icmp${name}`] = Number(values?.[i])));
  const { stdout: snmp6 } = await inNs('cat', '/proc/net/snmp6');
  for (const line of snmp6.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name?.startsWith('Icmp6')) counters[name] = Number(value);
  }
  return counters;
}

let responder: Responder;

/** Removes namespaces a killed earlier run of this file left (its pid no longer exists). */
async function sweepStale(): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list']);
  for (const name of stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    const owner = /^pst-tun-(\d+)-[0-9a-f]{6}$/.exec(name)?.[1];
    if (owner === undefined || Number(owner) === process.pid) continue;
    try {
      process.kill(Number(owner), 0);
    } catch {
      spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    }
  }
}

before(async () => {
  if (!isRoot) return;
  await sweepStale();
  await run('ip', ['netns', 'add', NS]);
  await inNs('ip', 'link', 'set', 'lo', 'up');
  responder = new Responder([
    '--name',
    'pst0',
    '--addr',
    '100.64.0.1/24',
    '--addr',
    'fd00:64::1/64',
  ]);
  const ready = await responder.next();
  assert.deepEqual(ready, { event: 'ready', name: 'pst0', mtu: 1420 });
});

after(async () => {
  if (responder && responder.child.exitCode === null) {
    responder.child.stdin?.end('exit\n');
    await Promise.race([responder.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
  }
  cleanup();
  if (isRoot) {
    const { stdout } = await run('ip', ['netns', 'list']);
    assert.ok(!stdout.includes(NS), 'the namespace is gone');
  }
});

test('the device is up in the namespace with its MTU and both addresses', { skip }, async () => {
  const { stdout } = await inNs('ip', '-j', 'address', 'show', 'dev', 'pst0');
  const [link] = JSON.parse(stdout) as {
    mtu: number;
    flags: string[];
    addr_info: { local: string; prefixlen: number }[];
  }[];
  assert.ok(link);
  assert.equal(link.mtu, 1420);
  assert.ok(link.flags.includes('UP'));
  const addresses = link.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
  assert.ok(addresses.includes('100.64.0.1/24'), addresses.join(' '));
  assert.ok(addresses.includes('fd00:64::1/64'), addresses.join(' '));
});

test(
  'pings to 100.64.0.2 and fd00:64::2 are read by Node and answered through the device',
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const before = await responder.command('stats');
    const kernelBefore = await icmpCounters();
    const v4 = await ping('100.64.0.2', '-c', '3', '-i', '0.2');
    assert.match(v4, /3 packets transmitted, 3 received/);
    assert.match(v4, /from 100\.64\.0\.2: icmp_seq=3/);
    const v6 = await ping('fd00:64::2', '-c', '3', '-i', '0.2');
    assert.match(v6, /3 packets transmitted, 3 received/);
    assert.match(v6, /from fd00:64::2: icmp_seq=3/);
    const kernel = await icmpCounters();
    const kernelDelta = (key: string): number => (kernel[key] ?? NaN) - (kernelBefore[key] ?? NaN);
    assert.equal(kernelDelta('IcmpInEchoReps'), 3, 'the kernel took 3 valid IPv4 echo replies');
    assert.equal(kernelDelta('Icmp6InEchoReplies'), 3, 'and 3 valid ICMPv6 echo replies');
    assert.equal(kernel.IcmpInCsumErrors, 0);
    assert.equal(kernel.Icmp6InCsumErrors, 0);

    const now = await responder.command('stats');
    const delta = (key: string): number => Number(now[key]) - Number(before[key]);
    assert.equal(delta('echoRequestsV4'), 3, 'IPv4 echo requests the child read');
    assert.equal(delta('echoRequestsV6'), 3, 'IPv6 echo requests the child read');
    assert.ok(delta('packetsRead') >= 6, 'the device counted the packets it read');
    assert.equal(delta('packetsWritten'), 6, 'the kernel accepted every reply');
    assert.equal(now.readErrors, 0);
    assert.equal(now.writeDropped, 0);
  },
);

test(
  'a burst of 64 requests is read in fewer callbacks than packets',
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const before = await responder.command('stats');
    // -l 64: send 64 requests at once, without waiting for replies.
    const out = await ping('100.64.0.2', '-q', '-l', '64', '-c', '64');
    assert.match(out, /64 packets transmitted, 64 received/);
    const now = await responder.command('stats');
    const packets = Number(now.packetsRead) - Number(before.packetsRead);
    const batches = Number(now.batchesRead) - Number(before.batchesRead);
    assert.ok(packets >= 64, `${packets} packets read`);
    assert.ok(batches < packets, `${packets} packets arrived in ${batches} callbacks`);
  },
);

test(
  'a written batch of empty and garbage packets is dropped and counted; the device keeps working',
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    const before = await responder.command('stats');
    const after = await responder.command('garbage');
    assert.equal(
      Number(after.writeDropped) - Number(before.writeDropped),
      GARBAGE_BATCH.length + NOT_BYTES_BATCH.length,
    );
    assert.equal(after.packetsWritten, before.packetsWritten);
    assert.equal(responder.child.exitCode, null, 'the child is still running');

    const v4 = await ping('100.64.0.2', '-c', '1');
    assert.match(v4, /1 packets transmitted, 1 received/);
    const v6 = await ping('fd00:64::2', '-c', '1');
    assert.match(v6, /1 packets transmitted, 1 received/);
    const final = await responder.command('stats');
    assert.equal(Number(final.echoRequestsV4) - Number(after.echoRequestsV4), 1);
    assert.equal(Number(final.echoRequestsV6) - Number(after.echoRequestsV6), 1);
    assert.equal(final.readErrors, 0);
  },
);

test(
  'when configuring fails the device is removed again and the error says why',
  { skip, timeout: TEST_TIMEOUT_MS },
  async () => {
    // The address already gives 100.64.1.0/24 a connected route, so adding it again fails.
    const failing = new Responder([
      '--name',
      'pst1',
      '--addr',
      '100.64.1.1/24',
      '--route',
      '100.64.1.0/24',
    ]);
    const message = await failing.next();
    assert.equal(message.event, 'failed');
    assert.equal(message.code, 'TUN_CONFIG_FAILED');
    assert.match(String(message.message), /route add 100\.64\.1\.0\/24 dev pst1: .*File exists/);
    assert.equal(await failing.exited, 1);
    const probe = spawnSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'show', 'dev', 'pst1'], {
      encoding: 'utf8',
    });
    assert.notEqual(probe.status, 0, 'pst1 no longer exists');
  },
);
