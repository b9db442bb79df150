/**
 * Helpers for self_signed_tls_client_auth: does the presented certificate match a JWK the client
 * registered? By certificate (SHA-256 of `x5c[0]`) when the JWK has `x5c`, otherwise by public key.
 * No chain validation happens for this method; the caller checks the validity period with
 * `validityStatus`.
 *
 * @see RFC 8705 §2.2, RFC 7517 §4.7 (x5c)
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { certificatePublicKey, type ParsedCertificate, parseCertificate } from './certificate.js';
import { sha256Base64url } from './encoding.js';

/** Public members that identify a key, per key type. @see RFC 7638 §3.2 */
const identifyingMembers: Readonly<Record<string, readonly string[]>> = {
  RSA: ['e', 'n'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};

/**
 * True when the certificate's public key is the key of `jwk` (a public JWK, untrusted shape).
 * Keys are compared by their RFC 7638 identifying members after both go through node:crypto, so
 * encoding differences (leading zeros, SPKI parameter forms) do not matter.
 */
export function publicKeyMatchesJwk(
  certificate: ParsedCertificate | Uint8Array,
  jwk: unknown,
): boolean {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return false;
  if ('d' in jwk) return false; // a private JWK in a client registry is a misconfiguration
  const parsed = certificate instanceof Uint8Array ? parseCertificate(certificate) : certificate;
  const certificateKey = certificatePublicKey(parsed);
  if (certificateKey === undefined) return false;
  let registered: JsonWebKey;
  let presented: JsonWebKey;
  try {
    registered = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({
      format: 'jwk',
    });
    presented = certificateKey.export({ format: 'jwk' });
  } catch {
    return false;
  }
  const kty = presented.kty;
  if (kty === undefined || registered.kty !== kty) return false;
  const members = identifyingMembers[kty];
  if (members === undefined) return false;
  return members.every((member) => registered[member] === presented[member]);
}

/**
 * True when `jwk` designates this certificate: `x5c[0]` is the same DER (compared by SHA-256),
 * or, without `x5c`, the public keys are equal.
 *
 * @see RFC 8705 §2.2
 */
export function certificateMatchesJwk(certificate: ParsedCertificate, jwk: unknown): boolean {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return false;
  const x5c: unknown = (jwk as { x5c?: unknown }).x5c;
  if (x5c === undefined) return publicKeyMatchesJwk(certificate, jwk);
  if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') return false;
  // x5c uses standard base64, not base64url (RFC 7517 §4.7).
  const first = x5c[0];
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(first)) return false;
  return sha256Base64url(Buffer.from(first, 'base64')) === certificate.x5tS256;
}
