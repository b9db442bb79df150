/**
 * self_signed_tls_client_auth: the client presents a certificate registered in its `jwks`; no
 * chain is built, but the certificate's validity dates are checked.
 *
 * A registered JWK with `x5c` matches by the SHA-256 of `x5c[0]` (the exact certificate); one
 * without `x5c` matches by public key.
 *
 * @see RFC 8705 §2.2, §2.2.2
 */
import { OAuthError } from '../errors/index.js';
import { certificatePublicKey, validityStatus } from '../pki/index.js';
import type { RegisteredClient } from '../registry/index.js';
import { missingCertificate } from './certificate-errors.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';

export class SelfSignedTlsClientAuthenticator implements ClientAuthenticator {
  readonly method = 'self_signed_tls_client_auth' as const;
  readonly #mtlsTokenEndpoint: string | undefined;

  constructor(options: { readonly mtlsTokenEndpoint: string | undefined }) {
    this.#mtlsTokenEndpoint = options.mtlsTokenEndpoint;
  }

  async authenticate(
    request: ClientAuthRequest,
    client: RegisteredClient,
  ): Promise<AuthenticatedClient> {
    const certificate = request.certificate;
    if (certificate === undefined) throw missingCertificate(this.method, this.#mtlsTokenEndpoint);
    const keys = client.keys.kind === 'inline' ? client.keys.keys : [];
    const registered = keys.some((key) => {
      if (key.x5tS256 !== undefined) return key.x5tS256 === certificate.x5tS256;
      return certificatePublicKey(certificate.leaf)?.equals(key.key) === true;
    });
    if (!registered) {
      throw new OAuthError(
        'invalid_client',
        'certificate_not_registered',
        "the client certificate is not one registered in the client's jwks",
      );
    }
    const validity = validityStatus(certificate.leaf, new Date(request.nowMs));
    if (validity === 'expired') {
      throw new OAuthError(
        'invalid_client',
        'certificate_expired',
        'the client certificate has expired',
      );
    }
    if (validity === 'not_yet_valid') {
      throw new OAuthError(
        'invalid_client',
        'certificate_not_yet_valid',
        'the client certificate is not yet valid',
      );
    }
    return { client, method: this.method };
  }
}
