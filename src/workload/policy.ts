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
