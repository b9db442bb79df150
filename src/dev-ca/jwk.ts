/**
 * Signing key pairs for private_key_jwt clients, as JWKs: the public half goes into the client
 * registry's `jwks`, the private half signs client assertions.
 *
 * @see RFC 7517 (JWK), RFC 7638 (thumbprint used as `kid`), RFC 7523 §3, RFC 8037 (OKP keys)
 */

import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { asymmetricAlgs } from '../jws/index.js';
import { generateKeyPairFor } from '../jws/keygen.js';

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
  const pair = generateKeyPairFor(alg);
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
