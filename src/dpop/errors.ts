/**
 * Why a DPoP proof was refused: one reason code per RFC 9449 §4.3 check (and per binding check
 * at a resource), a closed list shared by the token endpoint, introspection and the resource
 * verifier, so logs and metrics count each cause on its own.
 *
 * @see RFC 9449 §4.3, §7.1, §8, §9, §11.1
 */

/** Every reason a DPoP proof can be refused for. Never on the wire beyond the description. */
export const dpopReasonCodes = [
  // §4.3 check 1: exactly one DPoP header (or none where a proof is required)
  'dpop_proof_missing',
  'dpop_proof_multiple',
  // §4.3 check 2: one well-formed JWT (bounded in size)
  'dpop_proof_too_large',
  'dpop_proof_malformed',
  // §4.3 check 3: the §4.2 claims present and well typed
  'dpop_claim_missing',
  'dpop_claim_invalid',
  // §4.3 check 4: typ
  'dpop_typ_invalid',
  // §4.3 check 5: alg asymmetric and allowed; no crit we do not understand
  'dpop_alg_not_allowed',
  'dpop_crit_unsupported',
  // §4.3 checks 6 and 7: the jwk header (a public key the key policy accepts) and the signature
  'dpop_jwk_invalid',
  'dpop_jwk_key_policy',
  'dpop_jwk_private',
  'dpop_signature_invalid',
  // §4.3 checks 8 and 9: the request the proof was made for
  'dpop_htm_mismatch',
  'dpop_htu_mismatch',
  // §4.3 check 10, §8, §9: server nonces
  'dpop_nonce_missing',
  'dpop_nonce_invalid',
  // §4.3 check 11: iat within the window
  'dpop_iat_too_old',
  'dpop_iat_future',
  // §4.3 check 12: at a resource, ath and the key the token is bound to
  'dpop_ath_missing',
  'dpop_ath_mismatch',
  'dpop_key_mismatch',
  // §11.1: single use
  'dpop_replayed',
] as const;

export type DpopReasonCode = (typeof dpopReasonCodes)[number];

/** A refused proof: a reason code and a description safe to show (no proof, token or key). */
export class DpopProofError extends Error {
  readonly reason: DpopReasonCode;
  readonly description: string;

  constructor(reason: DpopReasonCode, description: string, options: { cause?: unknown } = {}) {
    super(description, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'DpopProofError';
    this.reason = reason;
    this.description = description;
  }

  /** The server wants a (fresh) nonce: `use_dpop_nonce` rather than `invalid_dpop_proof`. */
  get wantsNonce(): boolean {
    return this.reason === 'dpop_nonce_missing' || this.reason === 'dpop_nonce_invalid';
  }
}
