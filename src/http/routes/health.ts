/** Liveness and readiness. */
import type { FastifyInstance } from 'fastify';
import type { HttpRuntime } from '../types.js';

export function healthRoutes(app: FastifyInstance, runtime: HttpRuntime): void {
  app.get('/healthz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });
  app.get('/readyz', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    const checks = runtime.readiness();
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });
}
