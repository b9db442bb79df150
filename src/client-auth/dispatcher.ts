/**
 * Decides which client-authentication method a request uses, insists on exactly one, and hands
 * the request to that method's authenticator.
 *
 * @see RFC 6749 §2.3 ("MUST NOT use more than one authentication method in each request"),
 *   RFC 8705 §2 and §3, DESIGN.md §3
 */
import { OAuthError } from '../errors/index.js';
import type { ClientAuthMethod, ClientRegistry, RegisteredClient } from '../registry/index.js';
import type { PrivateKeyJwtAuthenticator } from './private-key-jwt.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';

const supportedList = 'private_key_jwt, tls_client_auth or self_signed_tls_client_auth';

export interface ClientAuthDispatcherOptions {
  /** Returns the registry in force (it may be swapped by a reload). */
  readonly registry: () => ClientRegistry;
  readonly privateKeyJwt: PrivateKeyJwtAuthenticator;
  /** The mutual-TLS authenticators, by method. */
  readonly tls?: Partial<
    Record<'tls_client_auth' | 'self_signed_tls_client_auth', ClientAuthenticator>
  >;
}

export class ClientAuthDispatcher {
  readonly #options: ClientAuthDispatcherOptions;

  constructor(options: ClientAuthDispatcherOptions) {
    this.#options = options;
  }

  /**
   * Authenticates the client of a token (or introspection) request.
   *
   * @throws OAuthError `invalid_client` (401) when authentication fails, `invalid_request` when the
   *   request is malformed or presents two methods.
   */
  async authenticate(request: ClientAuthRequest): Promise<AuthenticatedClient> {
    const { params } = request;
    // Shared secrets are not supported in any form (DESIGN.md §3).
    if (request.authorization !== undefined) {
      const scheme = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(request.authorization)?.[0] ?? 'Basic';
      throw new OAuthError(
        'invalid_client',
        'client_secret_unsupported',
        `HTTP ${scheme} client authentication is not supported; use ${supportedList}`,
        { challengeScheme: scheme },
      );
    }
    if (params.get('client_secret') !== undefined) {
      throw new OAuthError(
        'invalid_client',
        'client_secret_unsupported',
        `client_secret is not supported; use ${supportedList}`,
      );
    }

    const hasAssertion =
      params.get('client_assertion') !== undefined ||
      params.get('client_assertion_type') !== undefined;
    const clientIdParam = params.get('client_id');

    if (hasAssertion) {
      const { privateKeyJwt } = this.#options;
      const claimedId = privateKeyJwt.identify(request);
      request.onIdentified?.(claimedId, 'private_key_jwt');
      if (clientIdParam !== undefined && clientIdParam !== claimedId) {
        throw new OAuthError(
          'invalid_client',
          'client_id_mismatch',
          'client_id must equal the client_assertion sub',
        );
      }
      const client = this.#lookup(claimedId);
      if (client.authMethod !== 'private_key_jwt') {
        // A certificate client that also sends an assertion presents two methods.
        if (request.certificate !== undefined) {
          throw new OAuthError(
            'invalid_request',
            'multiple_client_authentication',
            'the request presents more than one client authentication method',
          );
        }
        throw methodMismatch(client, 'private_key_jwt');
      }
      return privateKeyJwt.authenticate(request, client);
    }

    if (clientIdParam === undefined) {
      throw new OAuthError(
        'invalid_client',
        'no_client_authentication',
        `client authentication is required: use ${supportedList}`,
      );
    }
    const client = this.#lookup(clientIdParam);
    request.onIdentified?.(clientIdParam, client.authMethod);
    if (client.authMethod === 'private_key_jwt') {
      throw new OAuthError(
        'invalid_client',
        'no_client_authentication',
        'this client authenticates with private_key_jwt: send client_assertion and client_assertion_type',
      );
    }
    const authenticator = this.#options.tls?.[client.authMethod];
    if (authenticator === undefined) {
      throw new OAuthError(
        'invalid_client',
        'certificate_missing',
        `${client.authMethod} needs a client certificate, and this listener receives none`,
      );
    }
    return authenticator.authenticate(request, client);
  }

  #lookup(clientId: string): RegisteredClient {
    const client = this.#options.registry().get(clientId);
    if (client === undefined)
      throw new OAuthError('invalid_client', 'unknown_client', 'unknown client');
    return client;
  }
}

function methodMismatch(client: RegisteredClient, used: ClientAuthMethod): OAuthError {
  return new OAuthError(
    'invalid_client',
    'auth_method_mismatch',
    `this client is registered for ${client.authMethod}, not ${used}`,
  );
}
