/** Errors shared by the certificate-based methods. */
import { OAuthError } from '../errors/index.js';

/** No certificate came with a request whose client authenticates with one. */
export function missingCertificate(
  method: string,
  mtlsTokenEndpoint: string | undefined,
): OAuthError {
  return new OAuthError(
    'invalid_client',
    'certificate_missing',
    mtlsTokenEndpoint === undefined
      ? `${method} needs a client certificate in the TLS handshake`
      : `${method} needs a client certificate: use the mutual-TLS endpoint ${mtlsTokenEndpoint}`,
  );
}
