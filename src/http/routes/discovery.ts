/**
 * Authorization server metadata and the public JWKS.
 *
 * Both change only on a reload, and resource servers poll the JWKS, so both carry a strong
 * `ETag` (a hash of the exact bytes) and answer a matching `If-None-Match` with 304 and no body:
 * a poller that already holds the current document costs a header exchange. The tag changes
 * whenever the bytes do (a key added, a registry change that alters the metadata), so a cache
 * never keeps a stale key set past its `max-age` by revalidating.
 *
 * @see RFC 8414 §2 and §3, RFC 7517 §5, RFC 9110 §8.8.3 (ETag) and §13.1.2 (If-None-Match)
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HttpRuntime } from '../types.js';

export function discoveryRoutes(
  app: FastifyInstance,
  runtime: HttpRuntime,
  wellKnownPaths: readonly string[],
): void {
  const metadataTag = new EntityTagOf();
  for (const url of wellKnownPaths) {
    app.get(url, { exposeHeadRoute: true }, async (request, reply) =>
      sendCacheable(
        request,
        reply,
        runtime.metadataJson(),
        metadataTag,
        'application/json; charset=utf-8',
      ),
    );
  }
  const jwksTag = new EntityTagOf();
  app.get(`${runtime.routePrefix}/jwks`, async (request, reply) =>
    sendCacheable(request, reply, runtime.jwksJson(), jwksTag, 'application/jwk-set+json'),
  );
}

/**
 * Sends `body` with its validator and cache lifetime, or 304 when the request's `If-None-Match`
 * names the current tag. Short cache: a rotated-in key must reach verifiers before it signs.
 */
function sendCacheable(
  request: FastifyRequest,
  reply: FastifyReply,
  body: string,
  tags: EntityTagOf,
  contentType: string,
): FastifyReply {
  const tag = tags.of(body);
  reply.header('cache-control', 'public, max-age=300');
  reply.header('etag', tag);
  if (ifNoneMatchMatches(request.headers['if-none-match'], tag)) return reply.code(304).send();
  return reply.type(contentType).send(body);
}

/** The strong entity tag of a document, computed once per distinct document (they change only on reload). */
class EntityTagOf {
  #body: string | undefined;
  #tag = '';

  of(body: string): string {
    if (body !== this.#body) {
      this.#tag = `"${createHash('sha256').update(body).digest('base64url')}"`;
      this.#body = body;
    }
    return this.#tag;
  }
}

/**
 * RFC 9110 §13.1.2: true when `If-None-Match` is `*` or lists `tag`, compared weakly (a `W/`
 * prefix is ignored). A malformed member matches nothing, so the full document is sent. The
 * header is bounded by the server's header size limit; the scan is linear in it.
 */
function ifNoneMatchMatches(header: string | undefined, tag: string): boolean {
  if (header === undefined) return false;
  const value = header.trim();
  if (value === '*') return true;
  for (const member of value.split(',')) {
    const candidate = member.trim();
    const opaque = candidate.startsWith('W/') ? candidate.slice(2) : candidate;
    if (opaque === tag) return true;
  }
  return false;
}
