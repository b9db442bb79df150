/**
 * `generateKeyPairSync` for tests that export the keys as JWKs: the keys are read back from the
 * generation job's DER, because Node 20 can deadlock exporting a job's own KeyObjects as a JWK
 * while the collector finalizes the job (see src/jws/keygen.ts). Same call shape as node:crypto's.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync as generate,
  type KeyObject,
} from 'node:crypto';

export function generateKeyPairSync(
  type: 'rsa' | 'ec' | 'ed25519' | 'ed448',
  options: Record<string, unknown> = {},
): { privateKey: KeyObject; publicKey: KeyObject } {
  const pair = (
    generate as (type: string, options: object) => { privateKey: Buffer; publicKey: Buffer }
  )(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return {
    privateKey: createPrivateKey({ key: pair.privateKey, format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: pair.publicKey, format: 'der', type: 'spki' }),
  };
}
