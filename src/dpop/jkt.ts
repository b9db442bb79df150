/**
 * RFC 7638 JWK thumbprints, the value of `cnf.jkt` (RFC 9449 §6.1): SHA-256 over the required
 * members of the public key, in lexicographic order, without whitespace. Synchronous node:crypto,
 * because it runs once per proof on the hot path.
 *
 * @see RFC 7638 §3, RFC 8037 §2 (OKP), RFC 9449 §6.1
 */
import { createHash } from 'node:crypto';

/** The members RFC 7638 §3.2 hashes, per key type, already in lexicographic order. */
const requiredMembers: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
  OKP: ['crv', 'kty', 'x'],
};

/**
 * The base64url SHA-256 thumbprint of a public JWK, or undefined when the key type is not one
 * Tollgate accepts or a required member is not a string.
 *
 * @see RFC 7638 §3
 */
export function jwkThumbprint(jwk: Readonly<Record<string, unknown>>): string | undefined {
  const members = typeof jwk.kty === 'string' ? requiredMembers[jwk.kty] : undefined;
  if (members === undefined) return undefined;
  const canonical: Record<string, string> = {};
  for (const member of members) {
    const value = jwk[member];
    if (typeof value !== 'string') return undefined;
    canonical[member] = value;
  }
  // JSON.stringify keeps insertion order, which is the lexicographic order above.
  return createHash('sha256').update(JSON.stringify(canonical)).digest('base64url');
}
