/**
 * The resource-server side of Tollgate (`tollgate/resource`): verify an RFC 9068 access token and
 * its RFC 8705 certificate binding, and a Fastify plugin that protects routes with it. Depends on
 * src/pki only.
 *
 * @see RFC 9068 §4, RFC 8705 §3, RFC 6750
 */
export { type BearerRequest, bearerTokenOf } from './bearer.js';
export {
  bearerChallenge,
  ResourceError,
  type ResourceErrorCode,
  type ResourceErrorOptions,
  type ResourceReasonCode,
  resourceReasonCodes,
} from './errors.js';
export {
  JwksFetchError,
  type RemoteJwks,
  type RemoteJwksOptions,
  remoteJwks,
  type TrustMaterial,
} from './jwks.js';
export {
  type ProtectOptions,
  type TollgateResource,
  type TollgateResourceOptions,
  tollgateResource,
} from './plugin.js';
export {
  type AccessTokenClaims,
  type AccessTokenKeyResolver,
  defaultAccessTokenAlgorithms,
  defaultClockToleranceSeconds,
  defaultMaxAccessTokenBytes,
  type VerifiedAccessToken,
  type VerifyAccessTokenOptions,
  verifyAccessToken,
} from './verify.js';
