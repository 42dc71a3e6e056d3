// The CLI's side of the API: JSON over HTTP on the gateway's unix socket.
import { request } from 'node:http';
import { PosternError } from '../errors.js';

export async function apiRequest<T = unknown>(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : {};
          } catch {
            reject(
              new PosternError(
                'API_BAD_REPLY',
                `the gateway answered ${method} ${path} with something that is not JSON`,
              ),
            );
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve(json as T);
            return;
          }
          const err = (json as { error?: { code?: string; message?: string; hint?: string } })
            .error;
          reject(
            new PosternError(
              err?.code ?? 'API_ERROR',
              err?.message ?? `the gateway answered ${status}`,
              err?.hint,
            ),
          );
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new PosternError(
          'GATEWAY_DOWN',
          `no gateway answers on ${socketPath} (${e.code ?? e.message})`,
          'start it with `postern server --dir DIR`',
        ),
      );
    });
    if (payload) req.write(payload);
    req.end();
  });
}
