/**
 * The one place that turns an OAuthError into an HTTP response.
 *
 * @see RFC 6749 §5.2, RFC 6750 §3
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { OAuthError, toOAuthErrorBody } from '../errors/index.js';

/** Token and introspection responses must never be cached. @see RFC 6749 §5.1 */
export function setNoStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
  reply.header('pragma', 'no-cache');
}

/** Sends an OAuth error: status, `Retry-After`, `WWW-Authenticate` when the client used one, JSON body. */
export function sendOAuthError(reply: FastifyReply, error: OAuthError): FastifyReply {
  setNoStore(reply);
  if (error.retryAfterSeconds !== undefined)
    reply.header('retry-after', String(error.retryAfterSeconds));
  if (error.dpopNonce !== undefined) reply.header('dpop-nonce', error.dpopNonce);
  if (error.status === 401 && error.challengeScheme !== undefined) {
    reply.header('www-authenticate', `${error.challengeScheme} realm="tollgate"`);
  }
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(toOAuthErrorBody(error)));
}

/** Answers every other method on an OAuth endpoint with 405, `Allow: POST` and an OAuth body. */
export function postOnly(app: FastifyInstance, url: string, endpoint: string): void {
  app.route({
    method: ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url,
    handler: async (_request, reply) => {
      reply.header('allow', 'POST');
      return sendOAuthError(
        reply,
        new OAuthError(
          'invalid_request',
          'method_not_allowed',
          `the ${endpoint} accepts POST only`,
          { status: 405 },
        ),
      );
    },
  });
}
