/**
 * Authorization server metadata and the public JWKS.
 *
 * @see RFC 8414 §2 and §3, RFC 7517 §5
 */
import type { FastifyInstance } from 'fastify';
import type { HttpRuntime } from '../types.js';

export function discoveryRoutes(
  app: FastifyInstance,
  runtime: HttpRuntime,
  wellKnownPaths: readonly string[],
): void {
  for (const url of wellKnownPaths) {
    app.get(url, { exposeHeadRoute: true }, async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return reply.type('application/json; charset=utf-8').send(runtime.metadataJson());
    });
  }
  app.get(`${runtime.routePrefix}/jwks`, async (_request, reply) => {
    // Short cache: a rotated-in key must reach verifiers before it signs.
    reply.header('cache-control', 'public, max-age=300');
    return reply.type('application/jwk-set+json').send(runtime.jwksJson());
  });
}
