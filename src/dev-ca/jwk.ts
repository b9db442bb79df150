/**
 * Signing key pairs for private_key_jwt clients, as JWKs: the public half goes into the client
 * registry's `jwks`, the private half signs client assertions.
 *
 * @see RFC 7517 (JWK), RFC 7638 (thumbprint used as `kid`), RFC 7523 §3, RFC 8037 (OKP keys)
 */

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { asymmetricAlgs } from '../jws/index.js';

/** JWS algorithms a client signing key can be made for. */
export const signingJwkAlgs = asymmetricAlgs;
export type SigningJwkAlg = (typeof signingJwkAlgs)[number];

/** True when `value` names a supported signing algorithm. */
export function isSigningJwkAlg(value: unknown): value is SigningJwkAlg {
  return typeof value === 'string' && (signingJwkAlgs as readonly string[]).includes(value);
}

export interface SigningJwk {
  readonly alg: SigningJwkAlg;
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  readonly kid: string;
  /** `kty`, key members, `kid`, `alg`, `use: "sig"`: ready for a registry `jwks`. */
  readonly publicJwk: JWK;
  /** The same plus the private members; keep it 0600. */
  readonly privateJwk: JWK;
}

/** Generates a signing key pair and its JWKs; `kid` is the RFC 7638 thumbprint. */
export async function generateSigningJwk(alg: SigningJwkAlg = 'ES256'): Promise<SigningJwk> {
  if (!isSigningJwkAlg(alg)) {
    throw new TypeError(
      `dev-ca: unsupported signing alg ${String(alg)}; use one of ${signingJwkAlgs.join(', ')}`,
    );
  }
  const rsa = alg.startsWith('RS') || alg.startsWith('PS');
  const pair = await generateKeyPair(alg, {
    extractable: true,
    // RSA: 2048 bits, the minimum Tollgate accepts.
    ...(rsa ? { modulusLength: 2048 } : {}),
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const publicKeyJwk = await exportJWK(pair.publicKey);
  const privateKeyJwk = await exportJWK(pair.privateKey);
  const kid = await calculateJwkThumbprint(publicKeyJwk, 'sha256');
  return {
    alg,
    kid,
    publicJwk: { ...publicKeyJwk, kid, alg, use: 'sig' },
    privateJwk: { ...privateKeyJwk, kid, alg, use: 'sig' },
  };
}
