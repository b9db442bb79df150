/**
 * The development PKI: an in-memory CA for tests and benchmarks, and the `dev-ca` CLI that writes
 * the same PKI to disk for `npm start`. See certs/README.md for the on-disk layout.
 *
 * @see RFC 5280, RFC 8705, RFC 7523, RFC 7517
 */

export { encodeDnString as encodeDn, x5tS256 } from '../pki/index.js';
export {
  type CrlOptions,
  createDevCa,
  type DevCa,
  type DevCaCrls,
  type IssueClientOptions,
  type IssuedCertificate,
  type IssuedClientCertificate,
  openDevCa,
} from './ca.js';
export { runDevCaCli } from './cli.js';
export { privateKeyJwtEntry, selfSignedEntry, tlsClientAuthEntry } from './clients.js';
export { ensureDevPki } from './ensure.js';
export { generateSigningJwk, type SigningJwk, type SigningJwkAlg, signingJwkAlgs } from './keys.js';
export { layout } from './layout.js';
export { createNegativeFixtures, type NegativeFixtureSet, negativeKinds } from './negative.js';
export { createLegacyPkcs12, createPkcs12, isLegacyPkcs12 } from './pkcs12.js';
export { createSelfSignedClient, type SelfSignedClient } from './self-signed.js';
export {
  createJwtSvidIssuer,
  createServiceAccountIssuer,
  type JwtSvidIssuer,
  jwtSvidBundleKey,
} from './workload.js';
export { parseCrl } from './x509.js';
