/**
 * A small cache of imported DPoP proof keys, keyed by the RFC 7638 thumbprint of the proof's
 * `jwk` (which every proof computes anyway, for `cnf.jkt`). A client signs every proof with the
 * same key, so without it each proof pays a JWK import (`createPublicKey`, where OpenSSL checks
 * the point or modulus) and an SPKI export for the key policy again.
 *
 * Safe to key by thumbprint: the thumbprint hashes exactly the members that define the public key
 * (RFC 7638 §3.2: `crv`, `kty`, `x`, `y` / `e`, `kty`, `n`), and a `jwk` with private members never
 * gets here. Only keys that imported are cached, with their SPKI. The key policy's verdict is
 * remembered per key for the policy it was asked for ({@link keyPolicyProblem}: a reload's new
 * policy, or another caller's, is checked afresh); the fit to `alg` is checked on every proof.
 *
 * Bound: {@link proofKeyCacheEntries} entries per process, each a KeyObject plus its SPKI (under
 * 2 KiB for RSA-4096, about 100 B for P-256). Proof keys are chosen by whoever sends a proof (at a
 * resource, before the access token is verified), so when the cache is full the oldest entry is
 * evicted (insertion order): a stranger cycling keys only makes other clients' next proof pay the
 * import again, never refuses them.
 *
 * @see RFC 7638 §3, RFC 9449 §4.3 check 6
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { type KeyPolicy, spkiPolicyViolation } from '../pki/key-policy.js';

/** Most proof keys kept imported per process. */
export const proofKeyCacheEntries = 1024;

/** An imported proof key and its DER SubjectPublicKeyInfo (what the key policy reads). */
export interface ImportedProofKey {
  readonly key: KeyObject;
  readonly spki: Buffer;
  /** The last key-policy verdict on this key and the policy it is for. */
  verdict?: { readonly policy: KeyPolicy; readonly problem: string | undefined };
}

/**
 * {@link spkiPolicyViolation} for an imported proof key, remembered for the policy last asked
 * about. Reading the SPKI again for every proof allocated a dozen DER views per proof: in the DPoP
 * bench (S7) the largest source of objects that outlived the young generation.
 */
export function keyPolicyProblem(
  imported: ImportedProofKey,
  policy: KeyPolicy,
): string | undefined {
  if (imported.verdict?.policy !== policy) {
    imported.verdict = { policy, problem: spkiPolicyViolation(imported.spki, policy) };
  }
  return imported.verdict.problem;
}

const cache = new Map<string, ImportedProofKey>();

/**
 * The proof key of `jkt`, imported from `jwk` on first sight.
 *
 * @throws whatever `createPublicKey` throws for a `jwk` that is not a public key (not cached)
 */
export function importProofJwk(
  jkt: string,
  jwk: Readonly<Record<string, unknown>>,
): ImportedProofKey {
  const cached = cache.get(jkt);
  if (cached !== undefined) return cached;
  const key = createPublicKey({ key: jwk as never, format: 'jwk' });
  const imported = { key, spki: key.export({ type: 'spki', format: 'der' }) };
  if (cache.size >= proofKeyCacheEntries) {
    const oldest = cache.keys().next().value as string;
    cache.delete(oldest);
  }
  cache.set(jkt, imported);
  return imported;
}

/** Entries held now (tests check the bound). */
export function proofKeyCacheSize(): number {
  return cache.size;
}
