/**
 * The one protocol error of Tollgate and its serializer.
 *
 * Every failure a client may see is an {@link OAuthError}: an RFC 6749 §5.2 (or RFC 8707, RFC 6750)
 * code, the HTTP status that goes with it, a description that is safe to show, and an internal
 * reason code for logs and metrics. The cause is kept for the server's own logs and never
 * serialized.
 *
 * @see RFC 6749 §5.2
 */
import { dpopReasonCodes } from '../dpop/errors.js';

/** Error codes Tollgate returns on the wire. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'server_error'
  // RFC 9449 §5 and §8: a bad DPoP proof at the token endpoint, and "retry with this nonce".
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/**
 * Internal reason codes: a closed list, each used for exactly one cause, so that logs and metrics
 * can be counted by reason. Never shown to the client beyond the description.
 */
export const reasonCodes = [
  // request shape
  'method_not_allowed',
  'unsupported_media_type',
  'malformed_request',
  'headers_too_large',
  'request_timeout',
  'body_too_large',
  'malformed_body',
  'duplicate_parameter',
  'missing_parameter',
  'unsupported_grant_type',
  // client authentication: which method
  'no_client_authentication',
  'multiple_client_authentication',
  'client_secret_unsupported',
  'access_token_not_accepted',
  'unknown_client',
  'auth_method_mismatch',
  'client_id_mismatch',
  // private_key_jwt
  'assertion_type_invalid',
  'assertion_too_large',
  'assertion_malformed',
  'assertion_alg_not_allowed',
  'assertion_header_forbidden',
  'assertion_typ_invalid',
  'assertion_crit',
  'assertion_key_not_found',
  'assertion_signature_invalid',
  'assertion_iss_sub_mismatch',
  'assertion_aud_invalid',
  'assertion_expired',
  'assertion_exp_missing',
  'assertion_jti_missing',
  'assertion_not_yet_valid',
  'assertion_iat_future',
  'assertion_lifetime_too_long',
  'assertion_replayed',
  'assertion_predates_replay_record',
  'jwks_fetch_failed',
  // workload identity (SPIFFE, federated workload tokens)
  'assertion_aud_multiple',
  'assertion_too_old',
  'assertion_profile_mismatch',
  'spiffe_id_invalid',
  'spiffe_trust_domain_unknown',
  'spiffe_bundle_empty',
  'svid_uri_san_invalid',
  'svid_ca_certificate',
  'svid_key_usage',
  'workload_issuer_unknown',
  'workload_identity_mismatch',
  'workload_claim_mismatch',
  'workload_source_unavailable',
  // mutual TLS
  'certificate_missing',
  'certificate_malformed',
  'certificate_untrusted',
  'certificate_expired',
  'certificate_not_yet_valid',
  'certificate_revoked',
  'certificate_eku',
  'certificate_pin_mismatch',
  'certificate_identity_mismatch',
  'certificate_not_registered',
  'binding_certificate_required',
  // RFC 9449 DPoP (one reason per §4.3 check, shared with the resource verifier)
  ...dpopReasonCodes,
  'dpop_unavailable',
  'sender_constraint_required',
  // grant checks
  'grant_not_allowed',
  'scope_not_allowed',
  'scope_resource_conflict',
  'resource_invalid',
  'resource_not_allowed',
  // capacity and infrastructure
  'replay_store_full',
  'replay_store_unavailable',
  'replay_client_share',
  'overloaded',
  'rate_limited',
  'internal_error',
] as const;

export type ReasonCode = (typeof reasonCodes)[number];

const statusByCode: Readonly<Record<OAuthErrorCode, number>> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  temporarily_unavailable: 503,
  server_error: 500,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
};

export interface OAuthErrorOptions {
  /** HTTP status; defaults to the status of the code. */
  readonly status?: number;
  /** Seconds for a `Retry-After` header (503 and 429). */
  readonly retryAfterSeconds?: number;
  /**
   * The scheme of the `Authorization` header the client used: a 401 then carries a matching
   * `WWW-Authenticate` challenge (RFC 6749 §5.2); an `invalid_token` one names its error in it
   * (RFC 6750 §3).
   */
  readonly challengeScheme?: string;
  /** A fresh server nonce for the `DPoP-Nonce` header (RFC 9449 §8). */
  readonly dpopNonce?: string;
  /** Internal cause, for logs only; never serialized. */
  readonly cause?: unknown;
}

/**
 * A protocol error, safe to return to the client.
 *
 * `description` must never contain secrets, assertions, tokens or key material: it goes on the
 * wire as `error_description`.
 */
export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly reason: ReasonCode;
  readonly status: number;
  readonly description: string;
  readonly retryAfterSeconds: number | undefined;
  readonly challengeScheme: string | undefined;
  readonly dpopNonce: string | undefined;

  constructor(
    code: OAuthErrorCode,
    reason: ReasonCode,
    description: string,
    options: OAuthErrorOptions = {},
  ) {
    super(`${code}: ${description}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'OAuthError';
    this.code = code;
    this.reason = reason;
    this.description = safeDescription(description);
    this.status = options.status ?? statusByCode[code];
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.challengeScheme = options.challengeScheme;
    this.dpopNonce = options.dpopNonce;
  }
}

/** The JSON body of an error response. @see RFC 6749 §5.2 */
export interface OAuthErrorBody {
  error: OAuthErrorCode;
  error_description: string;
}

/** Turns an error into its wire body; anything that is not an OAuthError hides its details. */
export function toOAuthErrorBody(error: OAuthError): OAuthErrorBody {
  return { error: error.code, error_description: error.description };
}

/** Wraps anything thrown into an OAuthError; unknown errors become `server_error`, no details. */
export function asOAuthError(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  return new OAuthError('server_error', 'internal_error', 'The server encountered an error.', {
    cause: error,
  });
}

/** `error_description` must be printable ASCII without `"` or `\`. @see RFC 6749 §5.2 */
export function isSafeDescription(text: string): boolean {
  return /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/.test(text);
}

/**
 * A description as RFC 6749 §5.2 allows it on the wire: `"` becomes `'`, `\` becomes `/`, and
 * any other character outside printable ASCII `?`. Descriptions are written for the wire, but
 * some quote a rule's own message (a SPIFFE ID parser's, say); this keeps every one of them
 * inside the grammar a strict client checks.
 */
export function safeDescription(text: string): string {
  return isSafeDescription(text)
    ? text
    : text
        .replaceAll('"', "'")
        .replaceAll('\\', '/')
        .replace(/[^\x20-\x7E]/gu, '?');
}
