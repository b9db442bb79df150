/**
 * POST /token: the client credentials grant.
 *
 * @see RFC 6749 §3.2, §4.4, §5
 */
import type { FastifyInstance } from 'fastify';
import { dpopHeaderValues } from '../../dpop/index.js';
import { asOAuthError, OAuthError } from '../../errors/index.js';
import { FormParams } from '../form.js';
import { underAuthenticationLimits } from '../guard.js';
import { postOnly, sendOAuthError, setNoStore } from '../reply.js';
import type { TokenAudit } from '../token-endpoint.js';
import type { HttpRuntime } from '../types.js';

/**
 * The 200 body. `format: 'unsafe'` (fast-json-stringify: written between quotes without the
 * escape scan) only where the value cannot hold a character JSON escapes, by construction: the
 * access token is our own compact JWS (base64url parts and dots, src/jws), and `token_type` is
 * one of two literals. The scan was a regular expression over the whole token on every response.
 */
const tokenResponseSchema = {
  200: {
    type: 'object',
    required: ['access_token', 'token_type', 'expires_in'],
    additionalProperties: false,
    properties: {
      access_token: { type: 'string', format: 'unsafe' },
      token_type: { type: 'string', format: 'unsafe' },
      expires_in: { type: 'integer' },
      scope: { type: 'string' },
    },
  },
} as const;

/**
 * @param tokenEndpointUrl the public URL of this listener's token endpoint, which DPoP proofs must
 *   name (RFC 9449 §4.3 check 9)
 */
export function tokenRoutes(
  app: FastifyInstance,
  runtime: HttpRuntime,
  tokenEndpointUrl: string,
): void {
  app.route({
    method: 'POST',
    url: `${runtime.routePrefix}/token`,
    schema: { response: tokenResponseSchema },
    config: { shed: true },
    handler: async (request, reply) => {
      const started = process.hrtime.bigint();
      const audit: TokenAudit = {};
      setNoStore(reply);
      const nowMs = runtime.now();
      try {
        const response = await underAuthenticationLimits(
          runtime,
          request,
          audit,
          (onIdentified) => {
            if (!(request.body instanceof FormParams)) {
              throw new OAuthError(
                'invalid_request',
                'unsupported_media_type',
                'the request body must be application/x-www-form-urlencoded',
              );
            }
            const certificate = runtime.certificateOf(request);
            return runtime.tokenEndpoint.handle(
              request.body,
              {
                authorization: request.headers.authorization,
                certificate,
                nowMs,
                onIdentified,
                dpop: { proofs: dpopHeaderValues(request.raw.rawHeaders), uri: tokenEndpointUrl },
              },
              audit,
            );
          },
        );
        runtime.audit(request, 'token', 'issued', undefined, audit, started);
        // RFC 9449 §8: a successful response may carry the next nonce, so clients stay current.
        const nonce = runtime.tokenEndpoint.currentDpopNonce(nowMs);
        if (nonce !== undefined) reply.header('dpop-nonce', nonce);
        return response;
      } catch (thrown) {
        const error = asOAuthError(thrown);
        runtime.audit(request, 'token', 'rejected', error, audit, started);
        return sendOAuthError(reply, error);
      }
    },
  });

  // RFC 6749 §3.2: the token endpoint takes POST only.
  postOnly(app, `${runtime.routePrefix}/token`, 'token endpoint');
}
