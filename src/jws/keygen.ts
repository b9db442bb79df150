/**
 * Key pairs for a JWS algorithm, as KeyObjects of their own.
 *
 * Node 20 can deadlock when a key from `generateKeyPair(Sync)` is exported as a JWK: the export
 * holds the key's mutex while it allocates, an allocation may run the garbage collector, and
 * the collector's finalizer for the spent generation job takes the same mutex (seen as a test
 * worker stuck for good in `ExportJWKEcKey` -> GC -> `~KeyGenJob`; a loop of P-256 generations
 * and JWK exports hangs within a second with a small young generation). The job hands out keys
 * that share its mutex; here it hands out DER instead, and the keys are read back from it, so
 * nothing the caller holds shares a lock with the job.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { type AsymmetricAlg, minRsaModulusBits } from './index.js';

export interface GeneratedKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const publicKeyEncoding = { type: 'spki', format: 'der' } as const;
const privateKeyEncoding = { type: 'pkcs8', format: 'der' } as const;

/** A new key pair that signs `alg` (RSA at the least modulus Tollgate accepts; EdDSA Ed25519). */
export function generateKeyPairFor(alg: AsymmetricAlg): GeneratedKeyPair {
  const pair = encodedPairFor(alg);
  return {
    privateKey: createPrivateKey({ key: pair.privateKey, format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' }),
  };
}

function encodedPairFor(alg: AsymmetricAlg): { privateKey: Buffer; publicKey: Buffer } {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', {
        namedCurve: 'P-256',
        publicKeyEncoding,
        privateKeyEncoding,
      });
    case 'ES384':
      return generateKeyPairSync('ec', {
        namedCurve: 'P-384',
        publicKeyEncoding,
        privateKeyEncoding,
      });
    case 'ES512':
      return generateKeyPairSync('ec', {
        namedCurve: 'P-521',
        publicKeyEncoding,
        privateKeyEncoding,
      });
    case 'EdDSA':
    case 'Ed25519':
      return generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
    default:
      return generateKeyPairSync('rsa', {
        modulusLength: minRsaModulusBits,
        publicKeyEncoding,
        privateKeyEncoding,
      });
  }
}
