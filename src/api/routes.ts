// The gateway API: what the CLI (and later the console) may ask of a running gateway.
import type { FastifyInstance } from 'fastify';
import { isPosternError } from '../errors.js';
import type { Gateway } from '../gateway/gateway.js';
import type { LiveSession } from '../gateway/sessions.js';

export interface ApiError {
  error: { code: string; message: string; hint?: string };
}

/** What a rekey request did: sessions that started renegotiating, and sessions already at it. */
export interface RekeyResult {
  ok: true;
  rekeyed: string[];
  alreadyRekeying: string[];
}

function rekeyAll(sessions: readonly LiveSession[]): RekeyResult {
  const result: RekeyResult = { ok: true, rekeyed: [], alreadyRekeying: [] };
  for (const s of sessions) (s.rekey('admin') ? result.rekeyed : result.alreadyRekeying).push(s.id);
  return result;
}

export function registerRoutes(app: FastifyInstance, gw: Gateway): void {
  app.setErrorHandler((err, _req, reply) => {
    if (isPosternError(err)) {
      const body: ApiError = {
        error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
      };
      return reply.status(400).send(body);
    }
    const e = err as { statusCode?: number; message?: string };
    return reply
      .status(e.statusCode ?? 500)
      .send({ error: { code: 'API_ERROR', message: e.message ?? 'internal error' } });
  });

  app.get('/v1/status', async () => gw.status());

  app.post('/v1/reload', async () => {
    await gw.reload();
    return { ok: true };
  });

  app.get('/v1/sessions', async () => gw.listSessions());

  app.post<{ Params: { id: string } }>('/v1/sessions/:id/rekey', async (req, reply) => {
    const s = gw.sessions.get(req.params.id);
    if (!s)
      return reply
        .status(404)
        .send({ error: { code: 'NO_SESSION', message: `no live session ${req.params.id}` } });
    return rekeyAll([s]);
  });

  app.post('/v1/rekey', async () => rekeyAll(gw.sessions.all()));

  app.post<{ Params: { id: string } }>('/v1/sessions/:id/kick', async (req, reply) => {
    const s = gw.sessions.get(req.params.id);
    if (!s)
      return reply
        .status(404)
        .send({ error: { code: 'NO_SESSION', message: `no live session ${req.params.id}` } });
    s.kick('admin');
    return { ok: true };
  });

  app.post<{ Params: { name: string } }>('/v1/users/:name/revoked', async (req) => {
    const ended = await gw.userRevoked(req.params.name);
    return { ok: true, sessionsEnded: ended };
  });
}
