/**
 * RFC 9449 DPoP: proofs (parse, verify per §4.3, create), `jkt` thumbprints, server nonces and
 * the per-instance `jti` cache of resource servers. Shared by the token endpoint, introspection,
 * the resource verifier and the client SDK. Depends on src/jws and the key policy of src/pki.
 *
 * @see RFC 9449
 */
export { DpopProofError, type DpopReasonCode, dpopReasonCodes } from './errors.js';
export { htuMatches, normalizeHtu } from './htu.js';
export { jwkThumbprint } from './jkt.js';
export { DpopJtiCache, type DpopJtiCacheOptions, defaultDpopJtiCacheEntries } from './jti-cache.js';
export { type DpopNonceOptions, DpopNonces, minNonceSecretBytes } from './nonce.js';
export {
  accessTokenHash,
  type DpopProofExpectations,
  defaultMaxProofBytes,
  dpopHeaderValues,
  dpopProofTyp,
  maxProofJtiLength,
  type NonceVerdict,
  type VerifiedDpopProof,
  verifyDpopProof,
} from './proof.js';
export { type DpopProofRequest, DpopSigner } from './sign.js';
