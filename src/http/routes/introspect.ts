/**
 * POST /introspect: token introspection for the access tokens this server issued.
 *
 * Who may ask: any registered client that authenticates with one of Tollgate's methods
 * (private_key_jwt, tls_client_auth, self_signed_tls_client_auth), whatever its grants. RFC 7662
 * §4 leaves this to the server; the answer reveals nothing the caller could not read from the
 * JWT it already holds except whether it is still valid here, so restricting by audience would
 * add configuration without adding secrecy. Unauthenticated callers get 401 `invalid_client`
 * and learn nothing, not even whether the token parameter was missing.
 *
 * `token_type_hint` is accepted and ignored: only access tokens exist here (no refresh tokens).
 *
 * @see RFC 7662 §2 and §4, RFC 8705 §3.2 and RFC 9449 §6.2 (`cnf` and `token_type` in the response)
 */
import type { FastifyInstance } from 'fastify';
import { asOAuthError, OAuthError } from '../../errors/index.js';
import { FormParams } from '../form.js';
import { postOnly, sendOAuthError, setNoStore } from '../reply.js';
import type { TokenAudit } from '../token-endpoint.js';
import type { HttpRuntime } from '../types.js';

const stringOrStrings = {
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
} as const;

/** The response schema doubles as a leak stop: nothing else can be serialized. */
const introspectionResponseSchema = {
  200: {
    type: 'object',
    required: ['active'],
    additionalProperties: false,
    properties: {
      active: { type: 'boolean' },
      scope: { type: 'string' },
      client_id: { type: 'string' },
      sub: { type: 'string' },
      aud: stringOrStrings,
      iss: { type: 'string' },
      exp: { type: 'integer' },
      iat: { type: 'integer' },
      jti: { type: 'string' },
      token_type: { type: 'string' },
      cnf: {
        type: 'object',
        additionalProperties: false,
        properties: { 'x5t#S256': { type: 'string' }, jkt: { type: 'string' } },
      },
    },
  },
} as const;

export function introspectionRoutes(app: FastifyInstance, runtime: HttpRuntime): void {
  app.route({
    method: 'POST',
    url: `${runtime.routePrefix}/introspect`,
    schema: { response: introspectionResponseSchema },
    handler: async (request, reply) => {
      const started = process.hrtime.bigint();
      const audit: TokenAudit = {};
      setNoStore(reply);
      try {
        const params = request.body;
        if (!(params instanceof FormParams)) {
          throw new OAuthError(
            'invalid_request',
            'unsupported_media_type',
            'the request body must be application/x-www-form-urlencoded',
          );
        }
        const nowMs = runtime.now();
        const certificate = runtime.certificateOf(request);
        if (certificate !== undefined) audit.x5tS256 = certificate.x5tS256;
        // Authenticate before reading `token`: the same dispatcher and rules as the token endpoint.
        const authenticated = await runtime.introspection.dispatcher.authenticate({
          params,
          authorization: request.headers.authorization,
          certificate,
          nowMs,
        });
        audit.clientId = authenticated.client.clientId;
        audit.method = authenticated.method;
        if (authenticated.jti !== undefined) audit.jti = authenticated.jti;
        if (authenticated.legacyAudience === true) audit.legacyAudience = true;

        const token = params.get('token');
        if (token === undefined) {
          throw new OAuthError('invalid_request', 'missing_parameter', 'token is required');
        }
        const response = runtime.introspection.introspector.introspect(token, nowMs);
        if (response.active) audit.tokenJti = response.jti;
        runtime.audit(request, 'introspect', 'answered', undefined, audit, started);
        return response;
      } catch (thrown) {
        const error = asOAuthError(thrown);
        runtime.audit(request, 'introspect', 'rejected', error, audit, started);
        return sendOAuthError(reply, error);
      }
    },
  });

  // RFC 7662 §2.1: POST only (a token in a URL would be logged).
  postOnly(app, `${runtime.routePrefix}/introspect`, 'introspection endpoint');
}
