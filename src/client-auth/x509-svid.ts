/**
 * spiffe_x509: the client presents an X.509-SVID in the TLS handshake (or through a trusted
 * proxy), and its SPIFFE ID is registered for `client_id`. The token is bound to the certificate
 * (`cnf.x5t#S256`) like any certificate-authenticated request.
 *
 * Order: certificate present; the SVID's shape (exactly one URI SAN that is a SPIFFE ID, leaf
 * `cA` not set, `digitalSignature` and neither `keyCertSign` nor `cRLSign`); the trust domain
 * configured; the client's `spiffe_id`; then path validation to that trust domain's `x509-svid`
 * authorities only, through the same TrustStore (key policy, dates, constraints, EKU) as
 * tls_client_auth, never the system store and never another domain's anchors.
 *
 * @see draft-ietf-oauth-spiffe-client-auth §3.2, §6; SPIFFE X509-SVID §2, §4, §5
 */
import { OAuthError, type ReasonCode } from '../errors/index.js';
import { chainFailureReasonCodes, hasKeyUsage, subjectAltNames } from '../pki/index.js';
import type { RegisteredClient } from '../registry/index.js';
import { parseSpiffeId, spiffeIdMatches, type WorkloadTrust } from '../workload/index.js';
import { missingCertificate } from './certificate-errors.js';
import { chainDescriptions } from './tls-client-auth.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';
import { fail, usableBundle } from './workload-claims.js';

export interface X509SvidOptions {
  readonly trust: () => WorkloadTrust;
  readonly mtlsTokenEndpoint: string | undefined;
}

export class X509SvidAuthenticator implements ClientAuthenticator {
  readonly method = 'spiffe_x509' as const;
  readonly #options: X509SvidOptions;

  constructor(options: X509SvidOptions) {
    this.#options = options;
  }

  async authenticate(
    request: ClientAuthRequest,
    client: RegisteredClient,
  ): Promise<AuthenticatedClient> {
    const certificate = request.certificate;
    if (certificate === undefined) {
      throw missingCertificate(this.method, this.#options.mtlsTokenEndpoint);
    }
    const leaf = certificate.leaf;
    const uris = subjectAltNames(leaf).uri;
    if (uris.length !== 1) {
      throw fail(
        'svid_uri_san_invalid',
        `an X.509-SVID has exactly one URI SAN (this certificate has ${uris.length})`,
      );
    }
    const id = parseSpiffeId(uris[0]);
    if (typeof id === 'string') {
      throw fail('spiffe_id_invalid', `the certificate's URI SAN is not a SPIFFE ID: ${id}`);
    }
    if (leaf.extensions.basicConstraints?.cA === true) {
      throw fail(
        'svid_ca_certificate',
        'a CA certificate cannot authenticate a client (cA is set)',
      );
    }
    const usage = leaf.extensions.keyUsage;
    if (
      usage === undefined ||
      !hasKeyUsage(usage, 'digitalSignature') ||
      hasKeyUsage(usage, 'keyCertSign') ||
      hasKeyUsage(usage, 'cRLSign')
    ) {
      throw fail(
        'svid_key_usage',
        'an X.509-SVID leaf has digitalSignature and neither keyCertSign nor cRLSign',
      );
    }
    const source = this.#options.trust().spiffe(id.trustDomain);
    if (source === undefined) {
      throw fail(
        'spiffe_trust_domain_unknown',
        `trust domain ${id.trustDomain} is not configured on this server`,
      );
    }
    const identity = client.workloadIdentity;
    if (identity?.kind !== 'spiffe' || !spiffeIdMatches(identity.pattern, id)) {
      throw fail(
        'workload_identity_mismatch',
        "the certificate's SPIFFE ID is not registered for this client_id",
      );
    }
    const bundle = await usableBundle(source);
    const anchors = bundle.x509Authorities;
    if (anchors === undefined) {
      throw fail(
        'certificate_untrusted',
        `the bundle of ${id.trustDomain} has no X.509 authorities`,
      );
    }
    const result = certificate.validate(anchors, { now: new Date(request.nowMs) });
    if (!result.ok) {
      throw new OAuthError(
        'invalid_client',
        chainFailureReasonCodes[result.reason] as ReasonCode,
        chainDescriptions[result.reason],
      );
    }
    return { client, method: this.method, workload: { source: source.name, identity: id.value } };
  }
}
