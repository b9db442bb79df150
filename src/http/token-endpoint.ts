/**
 * The token endpoint's logic, free of HTTP framework: authenticate the client, then the grant
 * checks in the order DESIGN.md §3 fixes, then mint.
 *
 * Authentication comes first so that an unauthenticated caller learns nothing about a client's
 * grants, scopes or resources.
 *
 * @see RFC 6749 §4.4 and §5, RFC 8707 §2, RFC 8705 §3, RFC 9068
 */
import type {
  AuthenticatedClient,
  ClientAuthDispatcher,
  ClientAuthRequest,
  PresentedCertificate,
} from '../client-auth/index.js';
import type { VerifiedDpopProof } from '../dpop/index.js';
import { OAuthError } from '../errors/index.js';
import { isResourceIndicator, parseScope, type RegisteredClient } from '../registry/index.js';
import type { AccessTokenIssuer } from '../tokens/index.js';
import type { FormParams } from './form.js';
import type { TokenDpop } from './token-dpop.js';

/** The successful token response. @see RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string;
  /** `DPoP` for a DPoP-bound token (RFC 9449 §5), `Bearer` otherwise. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope?: string;
}

/** What the audit log records of one token request (never the assertion or the token). */
export interface TokenAudit {
  /** The client_id the request claimed (before authentication). */
  claimedClientId?: string;
  clientId?: string;
  method?: string;
  jti?: string;
  scope?: string;
  aud?: string | readonly string[];
  x5tS256?: string;
  /** RFC 9449: the thumbprint of the DPoP proof key the token is bound to. */
  jkt?: string;
  tokenJti?: string;
  legacyAudience?: boolean;
  /** Workload methods: the trust source and the workload identity (SPIFFE ID or subject). */
  workloadSource?: string;
  workloadIdentity?: string;
}

export interface TokenEndpointOptions {
  readonly dispatcher: ClientAuthDispatcher;
  readonly tokens: AccessTokenIssuer;
  readonly issuer: string;
  readonly defaultAudience: string | null;
  /** Scope -> the resource it belongs to (config `accessToken.resourceScopes`). */
  readonly scopeResources: ReadonlyMap<string, string>;
  readonly defaultLifetimeSeconds: number;
  /** Where a client without a certificate should go (named in the binding error). */
  readonly mtlsTokenEndpoint: string | undefined;
  /** DPoP proofs at the token endpoint; undefined when DPoP is off (a `DPoP` header is ignored). */
  readonly dpop: TokenDpop | undefined;
  /** `fapi2`: every token must be sender-constrained (certificate or DPoP). */
  readonly requireSenderConstraint: boolean;
  /** Called once the client is authenticated, before the grant checks (rate limits, metrics). */
  readonly onAuthenticated?: (
    authenticated: AuthenticatedClient,
    certificate: PresentedCertificate | undefined,
  ) => Promise<void> | void;
}

export class TokenEndpoint {
  readonly #options: TokenEndpointOptions;

  constructor(options: TokenEndpointOptions) {
    this.#options = options;
  }

  /**
   * Handles one token request; fills `audit` as it learns things, so a failure is logged with
   * whatever was known when it happened.
   */
  async handle(
    params: FormParams,
    context: {
      authorization: string | undefined;
      certificate: PresentedCertificate | undefined;
      nowMs: number;
      onIdentified?: NonNullable<ClientAuthRequest['onIdentified']>;
      /** Every `DPoP` header value, and the URL of the token endpoint this request came to. */
      dpop?: { readonly proofs: readonly string[]; readonly uri: string };
    },
    audit: TokenAudit,
  ): Promise<TokenResponse> {
    if (context.certificate !== undefined) audit.x5tS256 = context.certificate.x5tS256;
    // Order (RFC 9449 §5 with RFC 7523): the client's credentials verify first, so an
    // unauthenticated caller only ever learns invalid_client; then the DPoP proof, in full,
    // including its jti; and only then does authentication spend the assertion's jti. A bad
    // proof (or a missing nonce) therefore never burns an assertion, and the client can retry
    // with the same one.
    let proof: VerifiedDpopProof | undefined;
    let proofChecked = false;
    const checkProof = async (client: RegisteredClient) => {
      proofChecked = true;
      const dpop = this.#options.dpop;
      if (dpop === undefined) {
        // RFC 9449 §5.2: a dpop_bound_access_tokens client MUST NOT get a token without a proof,
        // and with DPoP off no proof can be checked: fail closed rather than issue a Bearer token.
        if (client.dpopBound) {
          throw new OAuthError(
            'invalid_request',
            'dpop_unavailable',
            'this client is registered with dpop_bound_access_tokens, but this server does not accept DPoP proofs',
          );
        }
        return;
      }
      proof = await dpop.proofFor(
        { proofs: context.dpop?.proofs ?? [], uri: context.dpop?.uri ?? '', nowMs: context.nowMs },
        client,
      );
    };
    const request: ClientAuthRequest = {
      params,
      authorization: context.authorization,
      certificate: context.certificate,
      nowMs: context.nowMs,
      ...(context.onIdentified === undefined ? {} : { onIdentified: context.onIdentified }),
      beforeSideEffects: checkProof,
    };
    const authenticated = await this.#options.dispatcher.authenticate(request);
    // Methods without side effects (mutual TLS) may not have run the hook.
    if (!proofChecked) await checkProof(authenticated.client);
    const { client } = authenticated;
    audit.clientId = client.clientId;
    audit.method = authenticated.method;
    if (authenticated.jti !== undefined) audit.jti = authenticated.jti;
    if (authenticated.legacyAudience === true) audit.legacyAudience = true;
    if (authenticated.workload !== undefined) {
      audit.workloadSource = authenticated.workload.source;
      audit.workloadIdentity = authenticated.workload.identity;
    }
    await this.#options.onAuthenticated?.(authenticated, context.certificate);

    checkGrantType(params, client);
    const scopes = grantedScopes(params, client);
    audit.scope = scopes.join(' ');
    const audience = this.#audience(params, client, scopes);
    audit.aud = audience;
    // One binding per token: a DPoP proof wins; otherwise the certificate, as before. Except for
    // a client registered with tls_client_certificate_bound_access_tokens: true, whose tokens are
    // all certificate-bound: its proof (checked in full and spent above, as RFC 9449 §5 wants of
    // any DPoP header) does not bind, and the token is a Bearer one (RFC 9449 §5 lets the server
    // decline DPoP binding), so a proof can never stand in for the certificate it requires.
    const certificateFirst = client.binding === 'required';
    const dpopProof = certificateFirst ? undefined : (proof as VerifiedDpopProof | undefined);
    const thumbprint =
      dpopProof === undefined ? this.#binding(authenticated, context.certificate) : undefined;
    if (dpopProof !== undefined) audit.jkt = dpopProof.jkt;
    if (
      this.#options.requireSenderConstraint &&
      dpopProof === undefined &&
      thumbprint === undefined
    ) {
      throw new OAuthError(
        'invalid_request',
        'sender_constraint_required',
        'this server issues sender-constrained tokens only: present a client certificate or a DPoP proof',
      );
    }

    const minted = this.#options.tokens.mint({
      clientId: client.clientId,
      audience,
      scopes,
      lifetimeSeconds: client.accessTokenLifetimeSeconds ?? this.#options.defaultLifetimeSeconds,
      certificateThumbprint: thumbprint,
      dpopJkt: dpopProof?.jkt,
      nowMs: context.nowMs,
    });
    audit.tokenJti = minted.jti;
    const response: TokenResponse = {
      access_token: minted.accessToken,
      token_type: dpopProof === undefined ? 'Bearer' : 'DPoP',
      expires_in: minted.expiresIn,
    };
    if (scopes.length > 0) response.scope = scopes.join(' ');
    return response;
  }

  /** The nonce to announce in `DPoP-Nonce`, when DPoP nonces are required. @see RFC 9449 §8 */
  currentDpopNonce(nowMs: number): string | undefined {
    return this.#options.dpop?.currentNonce(nowMs);
  }

  /**
   * The `aud` of the token. With `resource` parameters (RFC 8707 §2), each must be registered for
   * the client, and no requested scope may belong to a resource outside them. Without, the
   * default resource indicator (RFC 9068 §3): the one resource the `scope` parameter's scopes
   * belong to, else the client's `default_resource`, else `accessToken.defaultAudience`, else
   * the issuer.
   *
   * @see RFC 9068 §3 ("If a "scope" parameter is present in the request, the authorization
   *   server SHOULD use it to infer the value of the default resource indicator ... If the
   *   values in the "scope" parameter refer to different default resource indicator values, the
   *   authorization server SHOULD reject the request with "invalid_scope""), RFC 8707 §2
   */
  #audience(
    params: FormParams,
    client: RegisteredClient,
    scopes: readonly string[],
  ): string | readonly string[] {
    const resources = params.getAll('resource');
    // Scopes the client did not name (its registered default) infer nothing: RFC 9068 §3 infers
    // from the request's `scope` parameter only.
    const named = params.get('scope') === undefined ? [] : scopes;
    const scoped = new Set<string>();
    for (const scope of named) {
      const resource = this.#options.scopeResources.get(scope);
      if (resource !== undefined) scoped.add(resource);
    }
    if (resources.length === 0) {
      if (scoped.size > 1) throw scopeConflict('belong to different resources');
      const [inferred] = scoped;
      if (inferred === undefined) {
        return client.defaultResource ?? this.#options.defaultAudience ?? this.#options.issuer;
      }
      // Never an audience the client could not have asked for by name (RFC 8707).
      if (!client.allowedResources.has(inferred)) {
        throw scopeConflict('belong to a resource this client may not target (allowed_resources)');
      }
      return inferred;
    }
    for (const resource of resources) {
      if (!isResourceIndicator(resource)) {
        throw new OAuthError(
          'invalid_target',
          'resource_invalid',
          'resource must be an absolute URI without a fragment',
        );
      }
      if (!client.allowedResources.has(resource)) {
        throw new OAuthError(
          'invalid_target',
          'resource_not_allowed',
          'the client may not request a token for this resource',
        );
      }
    }
    // A scope meant for a resource the token is not for would be ambiguous (RFC 9068 §3, §5).
    if ([...scoped].some((resource) => !resources.includes(resource))) {
      throw scopeConflict('belong to a resource the request does not name in resource');
    }
    const unique = [...new Set(resources)];
    return unique.length === 1 ? (unique[0] as string) : unique;
  }

  /** RFC 8705 §3: bind to the presented certificate unless the client opted out. */
  #binding(
    authenticated: AuthenticatedClient,
    certificate: PresentedCertificate | undefined,
  ): string | undefined {
    const { binding } = authenticated.client;
    if (binding === 'never') return undefined;
    if (certificate !== undefined) return certificate.x5tS256;
    if (binding === 'required') {
      const where = this.#options.mtlsTokenEndpoint;
      throw new OAuthError(
        'invalid_request',
        'binding_certificate_required',
        where === undefined
          ? 'this client requires certificate-bound tokens: present a client certificate'
          : `this client requires certificate-bound tokens: present a client certificate at ${where}`,
      );
    }
    return undefined;
  }
}

function checkGrantType(params: FormParams, client: RegisteredClient): void {
  const grantType = params.get('grant_type');
  if (grantType === undefined) {
    throw new OAuthError('invalid_request', 'missing_parameter', 'grant_type is required');
  }
  if (grantType !== 'client_credentials') {
    throw new OAuthError(
      'unsupported_grant_type',
      'unsupported_grant_type',
      'only the client_credentials grant is supported',
    );
  }
  if (!client.grantTypes.has('client_credentials')) {
    throw new OAuthError(
      'unauthorized_client',
      'grant_not_allowed',
      'the client is not allowed to use the client_credentials grant',
    );
  }
}

/** RFC 9068 §3: the requested scopes and the token's audience do not fit together. */
function scopeConflict(why: string): OAuthError {
  return new OAuthError('invalid_scope', 'scope_resource_conflict', `the requested scopes ${why}`);
}

/** RFC 6749 §3.3: the requested scopes must all be registered; none means the registered ones. */
function grantedScopes(params: FormParams, client: RegisteredClient): readonly string[] {
  const requested = params.get('scope');
  if (requested === undefined) return client.scopes;
  const scopes = parseScope(requested);
  if (scopes === undefined) {
    throw new OAuthError(
      'invalid_scope',
      'scope_not_allowed',
      'scope must be space-separated scope tokens',
    );
  }
  if (!scopes.every((scope) => client.scopeSet.has(scope))) {
    throw new OAuthError(
      'invalid_scope',
      'scope_not_allowed',
      'the requested scope exceeds the scope registered for the client',
    );
  }
  return scopes;
}
