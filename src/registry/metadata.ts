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
] as const;
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
   * Resource indicators this client serves as a resource server: it may introspect tokens whose
   * `aud` names one of them (besides its own tokens). See src/registry/introspection.ts.
   */
  served_resources?: string[];
  /** May introspect every token, not only its own and those for its served resources. */
  introspect_any_token?: boolean;
}
