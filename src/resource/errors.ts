/**
 * The resource server's one error type and its `WWW-Authenticate` challenge.
 *
 * RFC 6750 §3.1 defines three error codes for a protected resource; each maps to one HTTP status.
 * A failure to fetch the issuer's keys is none of them (the token may be fine), so it has its own
 * code and a 503, and never tells the client its token is bad.
 *
 * @see RFC 6750 §3 and §3.1, RFC 8705 §3, RFC 9449 §7.1
 */
import { dpopReasonCodes } from '../dpop/errors.js';

/**
 * Error codes a protected resource returns. `temporarily_unavailable` is not RFC 6750's;
 * `invalid_dpop_proof` and `use_dpop_nonce` are RFC 9449 §7.1 and §9.
 */
export type ResourceErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'temporarily_unavailable'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/** The authentication scheme of a challenge: the one the request used. @see RFC 9449 §7.1 */
export type ResourceScheme = 'Bearer' | 'DPoP';

/**
 * Internal reason codes, for logs and metrics: a closed list, one cause each. Never on the wire
 * beyond the description.
 */
export const resourceReasonCodes = [
  // the request
  'token_missing',
  'authorization_malformed',
  'authorization_duplicate',
  'token_in_query',
  'certificate_header_invalid',
  // the token's form
  'token_too_large',
  'token_malformed',
  'typ_invalid',
  'alg_not_allowed',
  'crit_unsupported',
  // signature and claims
  'key_not_found',
  'signature_invalid',
  'issuer_invalid',
  'audience_invalid',
  'expired',
  'not_yet_valid',
  'claims_invalid',
  // RFC 8705 §3 binding
  'binding_certificate_missing',
  'binding_mismatch',
  'binding_unsupported',
  'binding_required',
  // RFC 9449 DPoP: the proof (one reason per §4.3 check), and the token's binding
  ...dpopReasonCodes,
  'dpop_downgrade',
  'dpop_not_bound',
  // authorization
  'scope_missing',
  // infrastructure
  'jwks_unavailable',
] as const;

export type ResourceReasonCode = (typeof resourceReasonCodes)[number];

const statusByCode: Readonly<Record<ResourceErrorCode, number>> = {
  invalid_request: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  temporarily_unavailable: 503,
  invalid_dpop_proof: 401,
  use_dpop_nonce: 401,
};

export interface ResourceErrorOptions {
  /** Scopes the resource needs (`insufficient_scope`), for the challenge's `scope` attribute. */
  readonly scopes?: readonly string[];
  /** The scheme to challenge with; default `Bearer`. */
  readonly scheme?: ResourceScheme;
  /** A fresh nonce for the `DPoP-Nonce` header (RFC 9449 §9). */
  readonly dpopNonce?: string;
  /** Internal cause, for logs only; never serialized. */
  readonly cause?: unknown;
}

/**
 * Why a protected resource refused a request, safe to show: `description` goes on the wire as
 * `error_description` and never holds the token or key material.
 */
export class ResourceError extends Error {
  readonly code: ResourceErrorCode;
  readonly reason: ResourceReasonCode;
  readonly status: number;
  readonly description: string;
  /** For `insufficient_scope`: the scopes the resource requires. */
  readonly scopes: readonly string[] | undefined;
  readonly scheme: ResourceScheme;
  readonly dpopNonce: string | undefined;

  constructor(
    code: ResourceErrorCode,
    reason: ResourceReasonCode,
    description: string,
    options: ResourceErrorOptions = {},
  ) {
    super(`${code}: ${description}`, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'ResourceError';
    this.code = code;
    this.reason = reason;
    this.status = statusByCode[code];
    this.description = description;
    this.scopes = options.scopes;
    this.scheme = options.scheme ?? 'Bearer';
    this.dpopNonce = options.dpopNonce;
  }

  /**
   * A request without any access token (RFC 6750 §3.1: "SHOULD NOT include an error code"):
   * the challenge carries no `error` attribute.
   */
  get isMissingToken(): boolean {
    return this.reason === 'token_missing';
  }
}

/**
 * The `WWW-Authenticate` value for an error, or undefined when none belongs (a 503 is no
 * authentication challenge).
 *
 * @see RFC 6750 §3
 */
export function bearerChallenge(error: ResourceError, realm?: string): string | undefined {
  if (error.code === 'temporarily_unavailable') return undefined;
  const attributes: string[] = [];
  if (realm !== undefined) attributes.push(`realm=${quoted(realm)}`);
  if (!error.isMissingToken) {
    attributes.push(`error="${error.code}"`);
    attributes.push(`error_description=${quoted(error.description)}`);
    if (error.scopes !== undefined && error.scopes.length > 0) {
      attributes.push(`scope=${quoted(error.scopes.join(' '))}`);
    }
  }
  return attributes.length === 0 ? 'Bearer' : `Bearer ${attributes.join(', ')}`;
}

/**
 * Every `WWW-Authenticate` challenge for an error (one header value each), or none for a 503.
 * With DPoP accepted (`dpopAlgs` given), RFC 9449 §7.2's rules: a request that used DPoP (or sent
 * a DPoP-bound token as Bearer) gets a DPoP challenge with the error and `algs`; one that used
 * Bearer and was refused with 401 gets its Bearer challenge with the error and a bare `DPoP algs`
 * challenge beside it (Figure 18), so it still learns DPoP is accepted here (a 403 or a 400 for a
 * Bearer request keeps the Bearer challenge alone); one that sent no token gets both without
 * an error (Figure 17); and one whose scheme is ambiguous (two `Authorization` headers) gets the
 * error in both (Figure 19).
 *
 * @see RFC 6750 §3, RFC 9449 §7.1 and §7.2
 */
export function resourceChallenges(
  error: ResourceError,
  options: {
    readonly realm?: string | undefined;
    readonly dpopAlgs?: readonly string[] | undefined;
  },
): string[] {
  if (error.code === 'temporarily_unavailable') return [];
  const algs = options.dpopAlgs;
  const bearer = bearerChallenge(error, options.realm);
  if (algs === undefined) return bearer === undefined ? [] : [bearer];
  const ambiguous = error.reason === 'authorization_duplicate';
  // A Bearer token that authenticated but may not do this (403), or a malformed Bearer header
  // (400): the client used the right scheme, so only its challenge says what is wrong.
  if (error.scheme === 'Bearer' && error.status !== 401 && !ambiguous) {
    return bearer === undefined ? [] : [bearer];
  }
  const attributes: string[] = [];
  if (options.realm !== undefined) attributes.push(`realm=${quoted(options.realm)}`);
  // The error goes in the DPoP challenge when DPoP was used, or when the scheme is ambiguous.
  if (error.scheme === 'DPoP' || ambiguous) {
    attributes.push(`error="${error.code}"`, `error_description=${quoted(error.description)}`);
    if (error.scopes !== undefined && error.scopes.length > 0) {
      attributes.push(`scope=${quoted(error.scopes.join(' '))}`);
    }
  }
  attributes.push(`algs=${quoted(algs.join(' '))}`);
  const dpop = `DPoP ${attributes.join(', ')}`;
  if (error.scheme === 'DPoP') return [dpop];
  return bearer === undefined ? [dpop] : [bearer, dpop];
}

/**
 * RFC 6750 §3: attribute values are quoted-strings, and `error_description` / `scope` must not
 * hold `"` or `\`; anything outside printable ASCII is dropped rather than escaped.
 */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;
}
