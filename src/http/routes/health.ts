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
    // Shutting down: the load balancer must stop sending new requests while this instance still
    // answers the ones that arrive (the drain window).
    if (runtime.draining()) return reply.code(503).send({ status: 'draining' });
    const { checks, critical } = runtime.readiness();
    // Only what every request needs makes the instance unready. A replay store that is down
    // fails assertions closed, but mTLS clients still get tokens: taking every instance out of
    // the load balancer would take them down too, so it reports `degraded`.
    const ready = critical.every((name) => checks[name] === true);
    const healthy = Object.values(checks).every(Boolean);
    const status = !ready ? 'not_ready' : healthy ? 'ready' : 'degraded';
    return reply.code(ready ? 200 : 503).send({ status, checks });
  });
}
