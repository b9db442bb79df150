/**
 * The proof-key cache: one import per key, keyed by the RFC 7638 thumbprint; bounded, and when
 * full it evicts the oldest key instead of refusing a new one.
 */
import { describe, expect, it } from 'vitest';
import { jwkThumbprint } from '../../src/dpop/jkt.js';
import {
  importProofJwk,
  keyPolicyProblem,
  proofKeyCacheEntries,
  proofKeyCacheSize,
} from '../../src/dpop/proof-keys.js';
import { defaultKeyPolicy } from '../../src/pki/key-policy.js';
import { generateKeyPairSync } from '../helpers/keys.js';

const publicJwk = () =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<
    string,
    unknown
  >;
const jktOf = (jwk: Record<string, unknown>) => jwkThumbprint(jwk) as string;

describe('proof-key cache', () => {
  it('imports a key once and returns the same KeyObject and SPKI for its thumbprint', () => {
    const jwk = publicJwk();
    const first = importProofJwk(jktOf(jwk), jwk);
    expect(first.key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(first.spki.equals(first.key.export({ type: 'spki', format: 'der' }))).toBe(true);
    // Extra members do not change the key, nor the thumbprint: the cached import is reused.
    expect(importProofJwk(jktOf(jwk), { ...jwk, kid: 'k', alg: 'ES256' })).toBe(first);
  });

  it('caches nothing for a jwk that does not import', () => {
    const before = proofKeyCacheSize();
    const broken = { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' };
    expect(() => importProofJwk(jktOf(broken), broken)).toThrow();
    expect(proofKeyCacheSize()).toBe(before);
  });

  it(`holds at most ${proofKeyCacheEntries} keys and evicts the oldest, never refusing`, () => {
    const jwks = Array.from({ length: proofKeyCacheEntries + 8 }, publicJwk);
    const imported = jwks.map((jwk) => importProofJwk(jktOf(jwk), jwk));
    expect(proofKeyCacheSize()).toBe(proofKeyCacheEntries);
    // The newest are still cached; the oldest of this run was evicted and is imported afresh.
    const last = jwks.at(-1) as Record<string, unknown>;
    expect(importProofJwk(jktOf(last), last)).toBe(imported.at(-1));
    const oldest = jwks[0] as Record<string, unknown>;
    const again = importProofJwk(jktOf(oldest), oldest);
    expect(again).not.toBe(imported[0]);
    expect(again.spki.equals((imported[0] as { spki: Buffer }).spki)).toBe(true);
    expect(proofKeyCacheSize()).toBe(proofKeyCacheEntries);
  });

  it("remembers the key policy's verdict per key for the policy it was asked for", () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      format: 'jwk',
    }) as Record<string, unknown>;
    const imported = importProofJwk(jktOf(rsa), rsa);
    expect(keyPolicyProblem(imported, defaultKeyPolicy)).toBeUndefined();
    expect(imported.verdict?.policy).toBe(defaultKeyPolicy);
    // A stricter policy (a reload, or another caller) is checked afresh, not served the old verdict.
    const strict = { minRsaBits: 3072 };
    expect(keyPolicyProblem(imported, strict)).toMatch(/2048 bits is below the minimum of 3072/);
    expect(keyPolicyProblem(imported, defaultKeyPolicy)).toBeUndefined();
  });
});
