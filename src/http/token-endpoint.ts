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
import { OAuthError } from '../errors/index.js';
import { isResourceIndicator, parseScope, type RegisteredClient } from '../registry/index.js';
import type { AccessTokenIssuer } from '../tokens/index.js';
import type { FormParams } from './form.js';

/** The successful token response. @see RFC 6749 §5.1 */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
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
  readonly defaultLifetimeSeconds: number;
  /** Where a client without a certificate should go (named in the binding error). */
  readonly mtlsTokenEndpoint: string | undefined;
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
    },
    audit: TokenAudit,
  ): Promise<TokenResponse> {
    if (context.certificate !== undefined) audit.x5tS256 = context.certificate.x5tS256;
    const request: ClientAuthRequest = { params, ...context };
    const authenticated = await this.#options.dispatcher.authenticate(request);
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
    const audience = this.#audience(params, client);
    audit.aud = audience;
    const thumbprint = this.#binding(authenticated, context.certificate);

    const minted = this.#options.tokens.mint({
      clientId: client.clientId,
      audience,
      scopes,
      lifetimeSeconds: client.accessTokenLifetimeSeconds ?? this.#options.defaultLifetimeSeconds,
      certificateThumbprint: thumbprint,
      nowMs: context.nowMs,
    });
    audit.tokenJti = minted.jti;
    const response: TokenResponse = {
      access_token: minted.accessToken,
      token_type: 'Bearer',
      expires_in: minted.expiresIn,
    };
    if (scopes.length > 0) response.scope = scopes.join(' ');
    return response;
  }

  /** RFC 8707: every `resource` must be registered for the client; none means the default. */
  #audience(params: FormParams, client: RegisteredClient): string | readonly string[] {
    const resources = params.getAll('resource');
    if (resources.length === 0) {
      return client.defaultResource ?? this.#options.defaultAudience ?? this.#options.issuer;
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
