// Reaching a TCP server through an HTTP proxy with CONNECT (RFC 9110 9.3.6), as OpenVPN's
// `http-proxy` does: the proxy answers "200" and from then on relays bytes both ways.
import { connect, type Socket } from 'node:net';
import { PosternError } from '../../errors.js';

const MAX_HEADER_BYTES = 16 * 1024;

export function connectViaHttpProxy(
  proxy: { host: string; port: number },
  target: { host: string; port: number },
  timeoutMs = 15_000,
): Promise<{ socket: Socket; rest: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: proxy.host, port: proxy.port });
    const hostPort = target.host.includes(':')
      ? `[${target.host}]:${target.port}`
      : `${target.host}:${target.port}`;
    let buffered = Buffer.alloc(0);
    const fail = (why: string): void => {
      socket.destroy();
      reject(new PosternError('PROXY_FAILED', `HTTP proxy ${proxy.host}:${proxy.port}: ${why}`));
    };
    socket.setTimeout(timeoutMs, () => fail('timed out'));
    socket.once('error', (e) => fail(e.message));
    socket.once('connect', () =>
      socket.write(`CONNECT ${hostPort} HTTP/1.1\r\nHost: ${hostPort}\r\n\r\n`),
    );
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buffered.length > MAX_HEADER_BYTES) fail('answer header too long');
        return;
      }
      socket.off('data', onData);
      socket.setTimeout(0);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buffered.subarray(0, end).toString('latin1'));
      if (status?.[1] !== '200')
        return fail(`refused CONNECT (${status ? status[1] : 'no HTTP status'})`);
      socket.removeAllListeners('error');
      resolve({ socket, rest: buffered.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
}
