/**
 * Workload identity trust: SPIFFE trust domains (bundle endpoint or file) and OIDC workload
 * issuers (Kubernetes), each with its own token policy. The client-authentication methods that
 * use them live in src/client-auth.
 */
export { BundleError, maxBundleKeys, parseSpiffeBundle, type SpiffeBundle } from './bundle.js';
export { WorkloadSourceUnavailable } from './errors.js';
export { maxTrustFileBytes } from './file-watch.js';
export { OidcIssuerSource, type OidcIssuerSourceOptions } from './oidc-issuer-source.js';
export {
  type JtiPolicy,
  jtiPolicies,
  jwtSvidAlgs,
  longestWorkloadClaimSeconds,
  type WorkloadTokenPolicy,
} from './policy.js';
export {
  createWorkloadTrust,
  type WorkloadSource,
  WorkloadTrust,
  type WorkloadTrustOptions,
} from './sources.js';
export {
  compileSpiffeIdPattern,
  maxSpiffeIdLength,
  parseSpiffeId,
  type SpiffeId,
  type SpiffeIdPattern,
  spiffeIdMatches,
  spiffeIdPatternsOverlap,
  trustDomainProblem,
} from './spiffe-id.js';
export {
  type SpiffeSourceOptions,
  type SpiffeSourceStatus,
  SpiffeTrustSource,
} from './spiffe-source.js';
