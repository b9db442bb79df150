/**
 * POST /token: the client credentials grant.
 *
 * @see RFC 6749 §3.2, §4.4, §5
 */
import type { FastifyInstance } from 'fastify';
import { asOAuthError, OAuthError } from '../../errors/index.js';
import { FormParams } from '../form.js';
import { underAuthenticationLimits } from '../guard.js';
import { postOnly, sendOAuthError, setNoStore } from '../reply.js';
import type { TokenAudit } from '../token-endpoint.js';
import type { HttpRuntime } from '../types.js';

const tokenResponseSchema = {
  200: {
    type: 'object',
    required: ['access_token', 'token_type', 'expires_in'],
    additionalProperties: false,
    properties: {
      access_token: { type: 'string' },
      token_type: { type: 'string' },
      expires_in: { type: 'integer' },
      scope: { type: 'string' },
    },
  },
} as const;

export function tokenRoutes(app: FastifyInstance, runtime: HttpRuntime): void {
  app.route({
    method: 'POST',
    url: `${runtime.routePrefix}/token`,
    schema: { response: tokenResponseSchema },
    config: { shed: true },
    handler: async (request, reply) => {
      const started = process.hrtime.bigint();
      const audit: TokenAudit = {};
      setNoStore(reply);
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
                nowMs: runtime.now(),
                onIdentified,
              },
              audit,
            );
          },
        );
        runtime.audit(request, 'token', 'issued', undefined, audit, started);
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
