/**
 * The development PKI: an in-memory CA for tests and benchmarks, and the `dev-ca` CLI that writes
 * the same PKI to disk for `npm start`. See certs/README.md for the on-disk layout.
 *
 * @see RFC 5280, RFC 8705, RFC 7523, RFC 7517
 */

export { encodeDnString as encodeDn, x5tS256 } from '../pki/index.js';
export {
  type CaCertificate,
  type CertificateInfo,
  type Clock,
  type CreateDevCaOptions,
  type CrlOptions,
  createDevCa,
  type DevCa,
  type DevCaCrls,
  type DevCaProfile,
  type EkuOption,
  type EncodedCrl,
  type IssueClientOptions,
  type IssuedCertificate,
  type IssuedClientCertificate,
  type IssueServerOptions,
  type OpenDevCaOptions,
  openDevCa,
  type RevocationTarget,
} from './ca.js';
export { type DevCaIo, runDevCaCli } from './cli.js';
export { parseCrl, type RevocationEntry, type RevocationReason } from './crl.js';
export { type DevPkiOptions, ensureDevPki } from './ensure.js';
export { generateSigningJwk, type SigningJwk, type SigningJwkAlg, signingJwkAlgs } from './jwk.js';
export type { DevKeyType } from './keys.js';
export { layout } from './layout.js';
export {
  createNegativeFixtures,
  type NegativeFixture,
  type NegativeFixtureOptions,
  type NegativeFixtureSet,
  type NegativeKind,
  negativeKinds,
} from './negative.js';
export { createPkcs12, type Pkcs12Options } from './pkcs12.js';
export { createLegacyPkcs12, isLegacyPkcs12 } from './pkcs12-legacy.js';
export {
  type MtlsBinding,
  privateKeyJwtEntry,
  type RegistryFile,
  selfSignedEntry,
  tlsClientAuthEntry,
} from './registry.js';
export {
  createSelfSignedClient,
  type SelfSignedClient,
  type SelfSignedClientOptions,
} from './self-signed.js';
export {
  createJwtSvidIssuer,
  createServiceAccountIssuer,
  type JwtSvidIssuer,
  jwtSvidBundleKey,
  type ServiceAccountIssuer,
} from './workload.js';
