/**
 * The one place that turns an OAuthError into an HTTP response.
 *
 * @see RFC 6749 §5.2, RFC 6750 §3
 */
import type { FastifyReply } from 'fastify';
import { type OAuthError, toOAuthErrorBody } from '../errors/index.js';

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
  if (error.status === 401 && error.challengeScheme !== undefined) {
    reply.header('www-authenticate', `${error.challengeScheme} realm="tollgate"`);
  }
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(toOAuthErrorBody(error)));
}
