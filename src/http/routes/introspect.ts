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
 * The 401s (RFC 7662 §2.3): a caller whose client authentication fails gets what the token
 * endpoint answers (RFC 6749 §5.2 `invalid_client`; a `WWW-Authenticate` challenge only of the
 * scheme it used in `Authorization`, e.g. `Basic`, as no HTTP scheme carries the methods Tollgate
 * accepts). A caller that offers an access token as its credential (`Authorization: Bearer` or
 * `DPoP` with a token) gets RFC 6750 §3's answer: `invalid_token`, in the body and in a challenge
 * of that scheme, whatever the token is: a valid token and garbage get the same bytes, so the
 * header is no oracle either. A bare `Bearer` with no token lacks any credential (RFC 6750 §3: no
 * error code) and is an `invalid_client` like a `Basic` header.
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

/**
 * The refusal of an access token offered as the caller's credential (`Bearer` or `DPoP`
 * followed by a token; schemes are case-insensitive, RFC 9110 §11.1), or undefined for any
 * other `Authorization` value. Tollgate takes client authentication only at /introspect
 * (docs/security.md), so every token, valid or not, is "invalid for this request".
 *
 * @see RFC 7662 §2.1 and §2.3, RFC 6750 §3 and §3.1, RFC 9449 §7.1
 */
function accessTokenAsCredential(authorization: string | undefined): OAuthError | undefined {
  const scheme = /^(bearer|dpop)[ \t]+\S/i.exec(authorization ?? '')?.[1]?.toLowerCase();
  if (scheme === undefined) return undefined;
  return new OAuthError(
    'invalid_token',
    'access_token_not_accepted',
    'the introspection endpoint takes client authentication, not an access token: authenticate as a registered client with private_key_jwt, mutual TLS or a workload identity',
    { challengeScheme: scheme === 'dpop' ? 'DPoP' : 'Bearer' },
  );
}

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
            const refused = accessTokenAsCredential(request.headers.authorization);
            if (refused !== undefined) throw refused;
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
