// The last step of starting a gateway: one OpenVPN client inside the gateway's own process
// connects to the UDP listener just bound, over loopback, and hangs up once configured.
//
// Why: V8 compiles a function the first time it runs. The in-memory warm-up (warm-up.ts) reaches
// the session cores, the TLS engines and the admission path, but not what only a client on the
// real listener reaches: the native listener's reset reply and control hand-off, the service's
// session driver and hooks, the data path's peer and key installation. Without this, a fresh
// gateway's first client spent ~5-9 ms more of the gateway's CPU than the next one, 2-3 ms of it
// while the client waited (bench/README.md, "first connect").
//
// The session it opens is a rehearsal. Its certificate comes from the warm-up's throwaway CA
// (the CA key never leaves memory), which only the service's rehearsal session accepts, and only
// from this client's address; its records (audit, lease, session table) go to scratch stores
// (session-world.ts). It sends no data packets. Sends stay on this host: the listener's own
// address, or loopback when it is bound to every address.
import { PosternError } from '../../errors.js';
import { UdpEndpoint, type UdpRemote } from '../../io/net/udp-endpoint.js';
import { randomBytesPooled } from '../../io/random.js';
import {
  ClientSession,
  type ClientControlWrap,
  type ClientOutput,
} from '../../proto/openvpn/session/client-session.js';
import type { TlsEngineFactory } from '../../proto/openvpn/session/tls-engine.js';

export interface SelfConnectOptions {
  /** The listener as bound; a wildcard address ("0.0.0.0", "::") is reached over loopback. */
  listen: UdpRemote;
  wrap: ClientControlWrap;
  tls: TlsEngineFactory;
  dataCiphers: readonly string[];
  /** Told the client's own address before its first packet leaves, so the gateway knows it. */
  onBound(client: UdpRemote): void;
  timeoutMs: number;
}

/** A configured self-connect: the client's socket stays open until close(). */
export interface SelfConnection {
  /** Says EXIT on the control channel, as a client that disconnects does. */
  hangUp(): void;
  close(): Promise<void>;
}

/** Where a client on this host reaches a listener bound to `address`. */
export function sameHostAddress(address: string): string {
  if (address === '' || address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

/** Connects; resolves once the gateway's PUSH_REPLY configured the client. */
export async function selfConnect(o: SelfConnectOptions): Promise<SelfConnection> {
  const to = { address: sameHostAddress(o.listen.address), port: o.listen.port };
  const ep = await UdpEndpoint.bind(to.address, 0);
  o.onBound({ address: to.address, port: ep.port });
  let timer: NodeJS.Timeout | undefined;
  let give: ((e?: Error) => void) | undefined;
  const configured = new Promise<void>((resolve, reject) => {
    give = (e) => (e ? reject(e) : resolve());
  });
  const finish = (e?: Error): void => {
    const g = give;
    give = undefined;
    clearTimeout(timer);
    g?.(e);
  };
  let client: ClientSession | undefined;
  let waking = false;
  const handle = (outs: ClientOutput[]): void => {
    for (const out of outs) {
      if (out.kind === 'send') ep.send(out.packet, to);
      else if (out.kind === 'configured') finish();
      else if (out.kind === 'refused' || out.kind === 'closed') {
        finish(failed(out.kind === 'refused' ? `refused: ${out.reason ?? '?'}` : out.kind));
      }
    }
    if (give === undefined || client === undefined) return;
    // Retransmissions and acks on the core's own deadlines, as a real client's driver does.
    const at = client.nextDeadline();
    clearTimeout(timer);
    if (at !== undefined) {
      timer = setTimeout(() => client && handle(client.handleTimeout(Date.now())), at - Date.now());
    }
  };
  client = new ClientSession({
    wrap: o.wrap,
    createTls: o.tls,
    random: randomBytesPooled,
    now: Date.now(),
    dataCiphers: o.dataCiphers,
    wake: () => {
      if (waking) return;
      waking = true;
      queueMicrotask(() => {
        waking = false;
        if (client) handle(client.handleTlsEvents(Date.now()));
      });
    },
  });
  const session = client;
  ep.onDatagram((bytes) => handle(session.receive(bytes, Date.now())));
  const deadline = setTimeout(() => finish(failed('no PUSH_REPLY in time')), o.timeoutMs);
  handle(session.start(Date.now()));
  try {
    await configured;
  } catch (e) {
    await ep.close();
    throw e;
  } finally {
    clearTimeout(deadline);
  }
  return {
    hangUp: () => {
      if (client) handle(client.disconnect(Date.now()));
    },
    close: async () => {
      clearTimeout(timer);
      client = undefined;
      await ep.close();
    },
  };
}

function failed(why: string): PosternError {
  return new PosternError('SELF_CONNECT_FAILED', `the start-up self-connect failed (${why})`);
}
