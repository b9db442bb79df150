/**
 * Certificates for Tollgate: intake (DER, PEM, TLS sockets, proxy headers), `x5t#S256`,
 * distinguished names per RFC 4514/4518/5280, subjectAltName identities, and chain validation to
 * configured trust anchors with CRLs. Depends on nothing else in src/.
 *
 * @see RFC 8705 (OAuth 2.0 mutual TLS), RFC 5280 (PKIX), RFC 9440 (Client-Cert)
 */

export type { ParseCertificateOptions, ParsedCertificate } from './certificate.js';
export {
  certificatePublicKey,
  defaultMaxCertificateBytes,
  defaultMaxChainCertificates,
  parseCertificate,
  spkiSha256,
  validityStatus,
  x5tS256,
} from './certificate.js';
export type {
  CertificateRequest,
  CertificateSourceOptions,
  PresentedCertificate,
  ProxyCertificateFormat,
} from './certificate-source.js';
export {
  CertificateSource,
  certificateHeaderNames,
  parseCidrs,
  proxyCertificateFormats,
} from './certificate-source.js';
export type { CachedChain, ChainCacheOptions } from './chain-cache.js';
export { ChainCache, parsedOverheadBytes } from './chain-cache.js';
export type {
  ChainCheck,
  ChainFailure,
  ChainFailureReason,
  ChainSuccess,
  ChainValidationResult,
} from './chain-result.js';
export { chainFailureReasonCodes } from './chain-result.js';
export type {
  PeerCertificateCacheOptions,
  PeerCertificateSocket,
  PeerCertificates,
} from './connection-cache.js';
export { PeerCertificateCache, sessionPeerCertificate } from './connection-cache.js';
export type { CrlEntry, ParsedCrl } from './crl.js';
export { parseCrl } from './crl.js';
export type { DistinguishedName, DnAttribute, DnValue } from './dn.js';
export { dnEquals, dnFromDer, formatDn, maxDnStringLength, parseDn } from './dn.js';
export { encodeDn, encodeDnString, formatDnDer } from './dn-format.js';
export type { PkiErrorCode } from './errors.js';
export { PkiError, TrustStoreError } from './errors.js';
export type {
  BasicConstraints,
  CertificateExtensions,
  KeyUsageName,
  NameConstraints,
} from './extensions.js';
export {
  extensionOids,
  hasKeyUsage,
  keyPurposeOids,
  keyUsageBits,
  parseExtensions,
} from './extensions.js';
export type { GeneralName } from './general-name.js';
export type { CertificateIdentity, IdentityType, SubjectAltNames } from './identity.js';
export {
  compileIdentity,
  dnMatches,
  formatIpAddress,
  identityMatches,
  parseIpAddress,
  subjectAltNames,
} from './identity.js';
export type { KeyPolicy } from './key-policy.js';
export {
  defaultKeyPolicy,
  keyPolicyViolation,
  maxRsaBits,
  maxRsaExponentBits,
  resolveKeyPolicy,
  signatureAlgorithmViolation,
  spkiPolicyViolation,
} from './key-policy.js';
export type { ConstrainedName } from './name-constraints.js';
export { constrainedNames, nameViolation } from './name-constraints.js';
export type { PemOptions } from './pem.js';
export { decodePem, encodePem } from './pem.js';
export type { ForwardedCertificate, ProxyHeaderLimits, XfccOptions } from './proxy-headers.js';
export {
  parseClientCertChainHeader,
  parseClientCertHeader,
  parseNginxEscapedCertHeader,
  parseRfc9440Headers,
  parseXfccHeader,
} from './proxy-headers.js';
export { certificateMatchesJwk, publicKeyMatchesJwk } from './self-signed.js';
export type { SignatureCheck } from './signature.js';
export { verifySignature } from './signature.js';
export type {
  PkiSource,
  TrustStoreFiles,
  TrustStoreInput,
  TrustStoreOptions,
  ValidateOptions,
} from './trust-store.js';
export { defaultMaxIntermediates, TrustStore } from './trust-store.js';
