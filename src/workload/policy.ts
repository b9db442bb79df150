/**
 * Per-source policy of workload credentials: algorithms, age cap, clock tolerance and what a
 * `jti` means. Each trust source carries its own; nothing is shared with private_key_jwt, whose
 * 300 s lifetime cap and mandatory single-use `jti` do not fit tokens a kubelet or SPIRE agent
 * caches and reuses.
 *
 * @see SPIFFE JWT-SVID §2.1 (algorithms), RFC 7519 §4.1.4-4.1.7
 */
import type { AsymmetricAlg } from '../jws/index.js';

/** The only algorithms a JWT-SVID may use (JWT-SVID §2.1: RS, ES and PS, 256 to 512). */
export const jwtSvidAlgs = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const satisfies readonly AsymmetricAlg[];

/**
 * What a token's `jti` means for this source.
 * - `reuse-allowed`: ignored. SPIRE and the kubelet hand the same token to every request until it
 *   is refreshed, so single use would break them; the token is a bearer credential until `exp`.
 * - `unique-when-present`: a present `jti` is claimed once (replay store); absent is accepted
 *   (Kubernetes before 1.30 issues none).
 * - `required-unique`: `jti` required and claimed once.
 */
export const jtiPolicies = ['reuse-allowed', 'unique-when-present', 'required-unique'] as const;
export type JtiPolicy = (typeof jtiPolicies)[number];

/** The policy one source applies to the tokens it vouches for. */
export interface WorkloadTokenPolicy {
  readonly algorithms: readonly AsymmetricAlg[];
  /** Oldest accepted token: `now - iat`, or `exp - now` when there is no `iat`. */
  readonly maxTokenAgeSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly jti: JtiPolicy;
}

/**
 * The longest a single-use `jti` claim of a workload token lives in the replay store, in seconds:
 * until the token can no longer be accepted, which is at most the age cap plus the clock tolerance
 * twice (an `iat` up to the tolerance ahead, then the cap and the tolerance after it); 0 when no
 * source spends `jti`s. A Redis data-loss fence shorter than this would let a token spent before
 * the loss be used again once the fence lifts.
 */
export function longestWorkloadClaimSeconds(
  policies: readonly Pick<
    WorkloadTokenPolicy,
    'maxTokenAgeSeconds' | 'clockToleranceSeconds' | 'jti'
  >[],
): number {
  let longest = 0;
  for (const policy of policies) {
    if (policy.jti === 'reuse-allowed') continue;
    longest = Math.max(longest, policy.maxTokenAgeSeconds + 2 * policy.clockToleranceSeconds);
  }
  return longest;
}
