/**
 * POST /introspect: token introspection for the access tokens this server issued.
 *
 * Who may ask: a registered client that authenticates with one of Tollgate's methods, under the
 * same request, client and failure limits as the token endpoint (one set of rules for every
 * endpoint that authenticates). What it learns is a permission (RFC 7662 §4): its own tokens and
 * tokens for the resources it registered in `served_resources`, or every token with the opt-in
 * `introspect_any_token`; any other token answers `{"active": false}`, so introspection is no
 * "is it live" oracle for other clients' tokens. Unauthenticated callers get 401
 * `invalid_client` and learn nothing, not even whether the token parameter was missing.
 *
 * A token is active only while its client is registered: a client removed from the registry (a
 * reload) has its unexpired tokens answered `{"active": false}` from then on.
 *
 * `token_type_hint` is accepted and ignored: only access tokens exist here (no refresh tokens).
 *
 * @see RFC 7662 §2 and §4, RFC 8705 §3.2 and RFC 9449 §6.2 (`cnf` and `token_type` in the response)
 */
import type { FastifyInstance } from 'fastify';
import { asOAuthError, OAuthError } from '../../errors/index.js';
import { mayIntrospect } from '../../registry/index.js';
import { FormParams } from '../form.js';
import { underAuthenticationLimits } from '../guard.js';
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

/** What a caller learns of a token it may not introspect: the same as of an unknown one. */
const inactive = Object.freeze({ active: false as const });

export function introspectionRoutes(app: FastifyInstance, runtime: HttpRuntime): void {
  app.route({
    method: 'POST',
    url: `${runtime.routePrefix}/introspect`,
    schema: { response: introspectionResponseSchema },
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
          async (onIdentified) => {
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
            // Authenticate before reading `token`: the same dispatcher and rules as /token.
            const authenticated = await runtime.introspection.dispatcher.authenticate({
              params,
              authorization: request.headers.authorization,
              certificate,
              nowMs,
              onIdentified,
            });
            const { client } = authenticated;
            audit.clientId = client.clientId;
            audit.method = authenticated.method;
            if (authenticated.jti !== undefined) audit.jti = authenticated.jti;
            if (authenticated.legacyAudience === true) audit.legacyAudience = true;
            // The caller's own quota, as at the token endpoint: only once it has authenticated.
            await runtime.limits?.afterAuthentication(client.clientId);

            const token = params.get('token');
            if (token === undefined) {
              throw new OAuthError('invalid_request', 'missing_parameter', 'token is required');
            }
            const answer = runtime.introspection.introspector.introspect(token, nowMs);
            if (!answer.active || !mayIntrospect(client, answer)) return inactive;
            // A token of a client no longer registered is not active (RFC 7662 §2.2 leaves
            // "active" to what the server knows): removing a client withdraws its tokens at
            // once for resource servers that introspect, not only at their `exp`.
            return runtime.isRegistered(answer.client_id) ? answer : inactive;
          },
        );
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
