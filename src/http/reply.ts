/**
 * The one place that turns an OAuthError into an HTTP response.
 *
 * @see RFC 6749 §5.2, RFC 6750 §3
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
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
    reply.header('www-authenticate', challengeOf(error, error.challengeScheme));
  }
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(toOAuthErrorBody(error)));
}

/**
 * The challenge of a 401 to a client that used an `Authorization` scheme. For `invalid_client`
 * the scheme alone (RFC 6749 §5.2: "matching the authentication scheme used by the client"); for
 * an access token refused as a credential, `invalid_token` and its description as RFC 6750 §3
 * (and RFC 9449 §7.1 for DPoP) put them in the challenge. The description is already in the
 * RFC 6750 §3 character set (no `"` or `\`), so it is a valid quoted-string as it is.
 */
function challengeOf(error: OAuthError, scheme: string): string {
  const challenge = `${scheme} realm="tollgate"`;
  if (error.code !== 'invalid_token') return challenge;
  return `${challenge}, error="invalid_token", error_description="${error.description}"`;
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

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refused before any route saw it (a
 * malformed request line or header, a request with two lengths, headers over the limit, a
 * request that did not arrive within the request timeout) is answered in OAuth form too, with
 * `no-store`, and the connection is closed once the answer is flushed. Fastify's own answer is a
 * JSON body of another shape.
 *
 * @see RFC 6749 §5.2, RFC 9112 §6.3 (a message with an invalid length is an error)
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const refusal = clientErrorRefusal(error.code);
  const body = JSON.stringify(toOAuthErrorBody(refusal));
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'cache-control: no-store\r\npragma: no-cache\r\nconnection: close\r\n\r\n' +
      body,
    () => socket.destroy(),
  );
}

/**
 * Node's `checkExpectation`: a request whose `Expect` is not `100-continue` gets 417 in OAuth
 * form, and its connection is closed (its body, if any, is not read).
 *
 * @see RFC 9110 §10.1.1
 */
export function answerExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const refusal = new OAuthError(
    'invalid_request',
    'malformed_request',
    'the only Expect this server meets is 100-continue',
    { status: 417 },
  );
  const body = JSON.stringify(toOAuthErrorBody(refusal));
  response.writeHead(refusal.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    pragma: 'no-cache',
    connection: 'close',
  });
  response.end(body);
}

function clientErrorRefusal(code: string | undefined): OAuthError {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new OAuthError(
      'invalid_request',
      'headers_too_large',
      'the request headers are too large',
      {
        status: 431,
      },
    );
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new OAuthError(
      'invalid_request',
      'request_timeout',
      'the request did not arrive within the request timeout',
      { status: 408 },
    );
  }
  return new OAuthError(
    'invalid_request',
    'malformed_request',
    'the request cannot be parsed as HTTP/1.1',
  );
}
