/**
 * tls_client_auth: the client presents a certificate issued by a CA Tollgate trusts, and the
 * certificate carries the one identity registered for the client.
 *
 * Order: certificate present, chain valid to a trust anchor (dates, constraints, EKU, CRLs, the
 * client's anchor pin), then the identity match. The chain result is cached per TLS connection.
 *
 * @see RFC 8705 §2.1, §2.1.1, §2.1.2
 */
import { OAuthError, type ReasonCode } from '../errors/index.js';
import {
  type ChainFailureReason,
  chainFailureReasonCodes,
  identityMatches,
  type TrustStore,
} from '../pki/index.js';
import type { RegisteredClient } from '../registry/index.js';
import { missingCertificate } from './certificate-errors.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';

/** What each chain failure tells the client (shared with X.509-SVID authentication). */
export const chainDescriptions: Readonly<Record<ChainFailureReason, string>> = {
  malformed: 'the client certificate or its chain cannot be parsed',
  untrusted: 'the client certificate does not chain to a trusted CA',
  expired: 'the client certificate or its chain has expired',
  not_yet_valid: 'the client certificate or its chain is not yet valid',
  revoked: 'the client certificate or its chain has been revoked',
  eku: 'the client certificate is not valid for client authentication (extended key usage)',
  pin_mismatch: 'the client certificate does not chain to a trust anchor this client is pinned to',
};

export interface TlsClientAuthOptions {
  /** The trust store in force (swapped on reload). */
  readonly trustStore: () => TrustStore | undefined;
  /** Where clients should send certificates, for the error when none came. */
  readonly mtlsTokenEndpoint: string | undefined;
}

export class TlsClientAuthenticator implements ClientAuthenticator {
  readonly method = 'tls_client_auth' as const;
  readonly #options: TlsClientAuthOptions;

  constructor(options: TlsClientAuthOptions) {
    this.#options = options;
  }

  async authenticate(
    request: ClientAuthRequest,
    client: RegisteredClient,
  ): Promise<AuthenticatedClient> {
    const certificate = request.certificate;
    if (certificate === undefined)
      throw missingCertificate(this.method, this.#options.mtlsTokenEndpoint);
    const store = this.#options.trustStore();
    if (store === undefined) {
      throw new OAuthError(
        'invalid_client',
        'certificate_untrusted',
        'this server has no trust anchors for tls_client_auth',
      );
    }
    const result = certificate.validate(store, {
      now: new Date(request.nowMs),
      ...(client.trustAnchorPins === undefined ? {} : { pinnedSpkiSha256: client.trustAnchorPins }),
    });
    if (!result.ok) {
      throw new OAuthError(
        'invalid_client',
        chainFailureReasonCodes[result.reason] as ReasonCode,
        chainDescriptions[result.reason],
      );
    }
    const registered = client.tlsIdentity;
    if (registered === undefined || !identityMatches(registered.identity, certificate.leaf)) {
      throw new OAuthError(
        'invalid_client',
        'certificate_identity_mismatch',
        `the client certificate does not match the client's registered ${registered?.field ?? 'identity'}`,
      );
    }
    return { client, method: this.method };
  }
}
