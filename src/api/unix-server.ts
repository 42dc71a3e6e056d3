// Serves the API on a unix socket in DIR, mode 0600: only root (and the owner) may manage the
// gateway, the same trust model as swanctl's vici socket.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { fastify, type FastifyInstance } from 'fastify';
import { PosternError } from '../errors.js';
import type { Gateway } from '../gateway/gateway.js';
import { apiRequest } from './client.js';
import { registerRoutes } from './routes.js';

export async function startUnixApi(gw: Gateway, socketPath: string): Promise<FastifyInstance> {
  if (existsSync(socketPath)) {
    const alive = await apiRequest(socketPath, 'GET', '/v1/status').then(
      () => true,
      () => false,
    );
    if (alive) {
      throw new PosternError(
        'GATEWAY_RUNNING',
        `a gateway already answers on ${socketPath}`,
        'stop it first, or use another --dir',
      );
    }
    unlinkSync(socketPath); // left by a gateway that died
  }
  const app = fastify({ logger: false });
  registerRoutes(app, gw);
  const oldMask = process.umask(0o177);
  try {
    await app.listen({ path: socketPath });
  } finally {
    process.umask(oldMask);
  }
  chmodSync(socketPath, 0o600);
  return app;
}
