// Watching the wire: tcpdump on one interface of a lab host, written to a pcap (for tshark and
// friends) and read back as text (for assertions). Starting resolves only once tcpdump says it
// is listening, so no packet sent after `await lab.capture()` can be missed.
import type { ChildProcess } from 'node:child_process';
import { PosternError } from '../errors.js';
import { exited, run, waitForOutput } from './run.js';

export interface CaptureResult {
  /** The raw capture; valid until the lab is destroyed. */
  pcapPath: string;
  /** `tcpdump -r <pcap> -nn -X`: one header line per packet, then its bytes in hex and ASCII. */
  text: string;
  packets: number;
  /** Packets the kernel dropped because tcpdump fell behind (its own exit summary): when not 0,
   * the capture is a sample of the wire, not all of it. */
  droppedByKernel: number;
}

const LISTENING_TIMEOUT_MS = 5_000;
/** After the last packet of interest, give tcpdump a moment to take it off the socket. */
const DEFAULT_SETTLE_MS = 100;
/** A packet's header line in `tcpdump -nn` output starts with its time of day. */
const PACKET_LINE_RE = /^\d{2}:\d{2}:\d{2}\.\d+ /gm;

export type SpawnInHost = (cmd: string, args: string[]) => ChildProcess;

export function tcpdumpArgs(iface: string, pcapPath: string, filter?: string): string[] {
  // -U and --immediate-mode: each packet reaches the file as it arrives, not in batches.
  // -Z root: tcpdump otherwise drops to its own user before opening the output file, and that
  // user may not write to the lab's private temp folder.
  // -B: an 8 MiB socket buffer (the default 2 MiB overflows on a busy 2-core machine during a
  // fast download, and the kernel drops what does not fit).
  const args = ['-i', iface, '-nn', '-U', '--immediate-mode', '-B', '8192', '-Z', 'root'];
  args.push('-w', pcapPath);
  if (filter) args.push(filter);
  return args;
}

/** The "N packets dropped by kernel" of tcpdump's exit summary; throws when there is none
 * (a capture whose completeness is unknown must not pass for a complete one). */
export function kernelDrops(tcpdumpStderr: string): number {
  const m = /^(\d+) packets? dropped by kernel$/m.exec(tcpdumpStderr);
  if (!m) {
    throw new PosternError(
      'LAB_CAPTURE_FAILED',
      `tcpdump printed no drop count at exit: ${tcpdumpStderr.trim()}`,
    );
  }
  return Number(m[1]);
}

export class Capture {
  private stopping: Promise<CaptureResult> | undefined;
  private stderr = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly pcapPath: string,
  ) {
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString()));
  }

  static async start(
    spawnIn: SpawnInHost,
    iface: string,
    pcapPath: string,
    filter?: string,
  ): Promise<Capture> {
    const child = spawnIn('tcpdump', tcpdumpArgs(iface, pcapPath, filter));
    try {
      await waitForOutput(child, child.stderr, /listening on/, LISTENING_TIMEOUT_MS);
    } catch (e) {
      child.kill('SIGKILL');
      throw new PosternError(
        'LAB_CAPTURE_FAILED',
        `tcpdump on ${iface} did not start: ${(e as Error).message}`,
        'is tcpdump installed (node scripts/ensure-debs.mjs) and the interface name right?',
      );
    }
    return new Capture(child, pcapPath);
  }

  /** Stops tcpdump and reads the capture back. Calling it again returns the same result. */
  stop(opts: { settleMs?: number } = {}): Promise<CaptureResult> {
    this.stopping ??= this.finish(opts.settleMs ?? DEFAULT_SETTLE_MS);
    return this.stopping;
  }

  private async finish(settleMs: number): Promise<CaptureResult> {
    await new Promise((r) => setTimeout(r, settleMs));
    this.child.kill('SIGINT'); // tcpdump flushes and closes the file on SIGINT
    await exited(this.child);
    const r = await run('tcpdump', ['-r', this.pcapPath, '-nn', '-X']);
    if (r.code !== 0) {
      throw new PosternError('LAB_CAPTURE_FAILED', `reading ${this.pcapPath}: ${r.stderr.trim()}`);
    }
    return {
      pcapPath: this.pcapPath,
      text: r.stdout,
      packets: r.stdout.match(PACKET_LINE_RE)?.length ?? 0,
      droppedByKernel: kernelDrops(this.stderr),
    };
  }
}
