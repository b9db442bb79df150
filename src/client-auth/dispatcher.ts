/**
 * Decides which client-authentication method a request uses, insists on exactly one, and hands
 * the request to that method's authenticator.
 *
 * @see RFC 6749 §2.3 ("MUST NOT use more than one authentication method in each request"),
 *   RFC 8705 §2 and §3, DESIGN.md §3
 */
import { OAuthError } from '../errors/index.js';
import {
  type ClientAuthMethod,
  type ClientRegistry,
  type RegisteredClient,
  workloadAuthMethods,
} from '../registry/index.js';
import { jwtSpiffeAssertionType } from './jwt-spiffe.js';
import { jwtBearerAssertionType, type PrivateKeyJwtAuthenticator } from './private-key-jwt.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';

const supportedList =
  'private_key_jwt, tls_client_auth, self_signed_tls_client_auth or a workload identity (spiffe_jwt, spiffe_x509, federated_jwt)';

export interface ClientAuthDispatcherOptions {
  /** Returns the registry in force (it may be swapped by a reload). */
  readonly registry: () => ClientRegistry;
  readonly privateKeyJwt: PrivateKeyJwtAuthenticator;
  /** The mutual-TLS authenticators, by method (X.509-SVIDs are one). */
  readonly tls?: Partial<
    Record<'tls_client_auth' | 'self_signed_tls_client_auth' | 'spiffe_x509', ClientAuthenticator>
  >;
  /** Workload-token authenticators: JWT-SVIDs (`jwt-spiffe`), federated tokens (`jwt-bearer`). */
  readonly workload?: {
    readonly spiffe_jwt?: ClientAuthenticator;
    readonly federated_jwt?: ClientAuthenticator;
  };
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
      const workload = await this.#workloadAssertion(request, clientIdParam);
      if (workload !== undefined) return workload;
      const { privateKeyJwt } = this.#options;
      const claimed = privateKeyJwt.identify(request);
      const claimedId = claimed.clientId;
      request.onIdentified?.(claimedId, 'private_key_jwt');
      if (clientIdParam !== undefined && clientIdParam !== claimedId) {
        throw new OAuthError(
          'invalid_client',
          'client_id_mismatch',
          'client_id must equal the client_assertion sub',
        );
      }
      const client = this.#lookup(claimedId);
      if (isWorkloadMethod(client.authMethod)) throw profileMismatch(client);
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
      return privateKeyJwt.authenticate(request, client, claimed);
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
    if (
      client.authMethod === 'private_key_jwt' ||
      client.authMethod === 'spiffe_jwt' ||
      client.authMethod === 'federated_jwt'
    ) {
      throw new OAuthError(
        'invalid_client',
        'no_client_authentication',
        `this client authenticates with ${client.authMethod}: send client_assertion and client_assertion_type`,
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

  /**
   * A `jwt-spiffe` assertion (JWT-SVID), or a `jwt-bearer` assertion for a client registered for
   * a federated identity: `client_id` is required (the token's `sub` is the workload, not the
   * client). Returns undefined for the private_key_jwt path. Profiles never cross: a JWT-SVID
   * client accepts only `jwt-spiffe`, a federated client only its issuer's tokens, and a
   * private_key_jwt client never a workload token (its keys are its own).
   *
   * @see draft-ietf-oauth-spiffe-client-auth §3.1, RFC 7523 §3
   */
  async #workloadAssertion(
    request: ClientAuthRequest,
    clientIdParam: string | undefined,
  ): Promise<AuthenticatedClient | undefined> {
    const type = request.params.get('client_assertion_type');
    if (type === jwtSpiffeAssertionType) {
      if (clientIdParam === undefined) {
        throw new OAuthError(
          'invalid_request',
          'missing_parameter',
          'client_id is required with a jwt-spiffe client assertion',
        );
      }
      request.onIdentified?.(clientIdParam, 'spiffe_jwt');
      const client = this.#lookup(clientIdParam);
      const authenticator = this.#options.workload?.spiffe_jwt;
      if (client.authMethod !== 'spiffe_jwt' || authenticator === undefined) {
        throw profileMismatch(client);
      }
      return authenticator.authenticate(request, client);
    }
    if (type !== jwtBearerAssertionType || clientIdParam === undefined) return undefined;
    const client = this.#options.registry().get(clientIdParam);
    if (client === undefined || !isWorkloadMethod(client.authMethod)) return undefined;
    request.onIdentified?.(clientIdParam, client.authMethod);
    const authenticator = this.#options.workload?.federated_jwt;
    // A JWT-SVID sent as jwt-bearer (or an X.509-SVID client sending any assertion) is refused:
    // no downgrade from the profile the client is registered for.
    if (client.authMethod !== 'federated_jwt' || authenticator === undefined) {
      throw profileMismatch(client);
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

function isWorkloadMethod(method: ClientAuthMethod): boolean {
  return (workloadAuthMethods as readonly string[]).includes(method);
}

/** The assertion type does not belong to the method the client is registered for. */
function profileMismatch(client: RegisteredClient): OAuthError {
  const expected: Partial<Record<ClientAuthMethod, string>> = {
    spiffe_jwt: 'a JWT-SVID with client_assertion_type jwt-spiffe',
    spiffe_x509: 'an X.509-SVID client certificate and no assertion',
    federated_jwt: 'a workload token of its issuer with client_assertion_type jwt-bearer',
    private_key_jwt: 'a client assertion signed with its own registered key (jwt-bearer)',
  };
  return new OAuthError(
    'invalid_client',
    'assertion_profile_mismatch',
    `this client is registered for ${client.authMethod}: it authenticates with ${expected[client.authMethod] ?? 'a client certificate'}`,
  );
}

function methodMismatch(client: RegisteredClient, used: ClientAuthMethod): OAuthError {
  return new OAuthError(
    'invalid_client',
    'auth_method_mismatch',
    `this client is registered for ${client.authMethod}, not ${used}`,
  );
}
