/**
 * The outcome of chain validation and its mapping to Tollgate's internal reason codes.
 *
 * `reason` is the coarse, closed outcome callers branch on (one internal reason code each);
 * `check` names the validator that failed, for logs and metrics; `detail` is a log line.
 */
import type { ParsedCertificate } from './certificate.js';

/** Why a chain was refused. */
export type ChainFailureReason =
  | 'malformed'
  | 'untrusted'
  | 'expired'
  | 'not_yet_valid'
  | 'revoked'
  | 'eku'
  | 'pin_mismatch';

/** Which validator refused the chain. */
export type ChainCheck =
  | 'parse'
  | 'path'
  | 'signature_algorithm'
  | 'validity'
  | 'key_policy'
  | 'version'
  | 'serial_number'
  | 'name_form'
  | 'key_identifier'
  | 'profile'
  | 'critical_extension'
  | 'basic_constraints'
  | 'path_length'
  | 'key_usage'
  | 'extended_key_usage'
  | 'name_constraints'
  | 'revocation'
  | 'crl_missing'
  | 'crl_stale'
  | 'pin';

/** A refused chain. */
export interface ChainFailure {
  readonly ok: false;
  readonly reason: ChainFailureReason;
  readonly check: ChainCheck;
  readonly detail: string;
}

/** A validated chain. */
export interface ChainSuccess {
  readonly ok: true;
  readonly leaf: ParsedCertificate;
  /** Leaf first, trust anchor last. */
  readonly path: readonly ParsedCertificate[];
  readonly anchor: ParsedCertificate;
  /** SPKI SHA-256 (base64url) of the trust anchor, as per-client pins name it. */
  readonly anchorSpkiSha256: string;
  /**
   * When this result stops being trustworthy without re-validation: the earliest notAfter on
   * the path, or the earliest time a CRL used goes stale. Caches must not reuse it past this.
   */
  readonly recheckAfter: Date;
}

export type ChainValidationResult = ChainSuccess | ChainFailure;

/** Internal reason code (src/errors `reasonCodes`) for each failure reason. */
export const chainFailureReasonCodes = {
  malformed: 'certificate_malformed',
  untrusted: 'certificate_untrusted',
  expired: 'certificate_expired',
  not_yet_valid: 'certificate_not_yet_valid',
  revoked: 'certificate_revoked',
  eku: 'certificate_eku',
  pin_mismatch: 'certificate_pin_mismatch',
} as const satisfies Record<ChainFailureReason, `certificate_${string}`>;

/** Builds a failure result. */
export function chainFailure(
  reason: ChainFailureReason,
  check: ChainCheck,
  detail: string,
): ChainFailure {
  return { ok: false, reason, check, detail };
}
