/**
 * Client metadata as registered: RFC 7591 names on the wire, plus Tollgate's documented
 * extensions. This is the shape of one entry in the registry file (`{"clients": [...]}`).
 *
 * @see RFC 7591 §2, RFC 8705 §2.1.2 and §3.4, RFC 8707
 */
import type { JWK } from 'jose';

/** The client authentication methods Tollgate supports; shared secrets are not among them. */
export const supportedAuthMethods = [
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
  'spiffe_jwt',
  'spiffe_x509',
  'federated_jwt',
] as const;

/**
 * Workload-identity methods: no key or certificate of the client's own is registered; a trust
 * source vouches for the workload. `spiffe_jwt` and `spiffe_x509` are the names of
 * draft-ietf-oauth-spiffe-client-auth §4; `federated_jwt` is Tollgate's name for a workload
 * token (Kubernetes service-account token) sent as an RFC 7523 `jwt-bearer` assertion.
 */
export const workloadAuthMethods = ['spiffe_jwt', 'spiffe_x509', 'federated_jwt'] as const;
export type WorkloadAuthMethod = (typeof workloadAuthMethods)[number];

/** A (source, subject) federated identity, optionally narrowed by Kubernetes claims. */
export interface FederatedIdentityMetadata {
  /** The `name` of a configured `oidc-issuer` source. */
  source: string;
  /** The exact `sub`, e.g. `system:serviceaccount:payments:ledger`. */
  subject: string;
  /** Kubernetes: `kubernetes.io.namespace` must equal this. */
  kubernetes_namespace?: string;
  /** Kubernetes: `kubernetes.io.serviceaccount.uid` must equal this (a recreated account differs). */
  kubernetes_service_account_uid?: string;
}
export type ClientAuthMethod = (typeof supportedAuthMethods)[number];

/** The five RFC 8705 §2.1.2 identity fields; a `tls_client_auth` client registers exactly one. */
export const tlsClientAuthIdentityFields = [
  'tls_client_auth_subject_dn',
  'tls_client_auth_san_dns',
  'tls_client_auth_san_uri',
  'tls_client_auth_san_ip',
  'tls_client_auth_san_email',
] as const;
export type TlsClientAuthIdentityField = (typeof tlsClientAuthIdentityFields)[number];

/** One registry entry, as written in the registry file. */
export interface ClientMetadata {
  client_id: string;
  client_name?: string;
  token_endpoint_auth_method: ClientAuthMethod;
  /** Must contain `client_credentials` for the client to get tokens. Default `["client_credentials"]`. */
  grant_types?: string[];
  /** Public keys (private_key_jwt) or registered certificates (self_signed_tls_client_auth). */
  jwks?: { keys: JWK[] };
  /** https URL of the client's JWKS; exclusive with `jwks`. */
  jwks_uri?: string;
  /** If set, the only JWS `alg` accepted for this client's assertions. */
  token_endpoint_auth_signing_alg?: string;
  /** Space-separated scopes the client may request; also the default when it requests none. */
  scope?: string;
  /** RFC 8707 resource indicators (absolute URIs) the client may request as token audiences. */
  allowed_resources?: string[];
  /** Audience used when the request has no `resource`; must be one of `allowed_resources`. */
  default_resource?: string;
  tls_client_auth_subject_dn?: string;
  tls_client_auth_san_dns?: string;
  tls_client_auth_san_uri?: string;
  tls_client_auth_san_ip?: string;
  tls_client_auth_san_email?: string;
  /** Pins the trust anchors a `tls_client_auth` chain may end at: base64url SHA-256 of the SPKI. */
  tls_client_auth_trust_anchor_spki_sha256?: string[];
  /** Bind tokens to the client certificate when one is presented (RFC 8705 §3). Default true. */
  tls_client_certificate_bound_access_tokens?: boolean;
  /** Access-token lifetime override, seconds. */
  access_token_lifetime?: number;
  /** Maximum assertion lifetime override (`exp` - `iat`), seconds. */
  max_assertion_lifetime?: number;
  /**
   * Time-boxed opt-in that also accepts the token endpoint URL (and its mTLS alias) as an
   * assertion `aud`, for clients built before rfc7523bis. Every acceptance is logged and counted.
   */
  legacy_audience?: { until: string };
  /**
   * `spiffe_jwt` / `spiffe_x509`: the client's SPIFFE ID, exact or ending in `/*` for a
   * path-segment prefix match. @see draft-ietf-oauth-spiffe-client-auth §4.1
   */
  spiffe_id?: string;
  /** `federated_jwt`: the workload identity (issuer source and subject) this client is. */
  federated_identity?: FederatedIdentityMetadata;
  /**
   * Resource indicators this client serves as a resource server: it may introspect tokens whose
   * `aud` names one of them (besides its own tokens). See src/registry/introspection.ts.
   */
  served_resources?: string[];
  /** May introspect every token, not only its own and those for its served resources. */
  introspect_any_token?: boolean;
}
