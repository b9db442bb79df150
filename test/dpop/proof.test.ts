/**
 * src/dpop unit tests: the §4.3 verifier's reasons and bounds, htu normalisation, RFC 7638
 * thumbprints against jose, nonces, the per-instance jti cache and the proof signer.
 */
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  DpopJtiCache,
  DpopNonces,
  DpopProofError,
  type DpopProofExpectations,
  DpopSigner,
  dpopHeaderValues,
  htuMatches,
  jwkThumbprint,
  normalizeHtu,
  verifyDpopProof,
} from '../../src/dpop/index.js';
import { athOf, makeProof, makeProofKey } from '../helpers/dpop.js';
import { generateKeyPairSync } from '../helpers/keys.js';

const uri = 'https://as.test/token';
const nowMs = 1_800_000_000_000;
const base: DpopProofExpectations = {
  method: 'POST',
  uri,
  nowMs,
  allowedAlgs: ['ES256', 'PS256', 'EdDSA', 'RS256'],
  maxAgeSeconds: 60,
  clockToleranceSeconds: 10,
};
const iat = nowMs / 1000;

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof DpopProofError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe('verifyDpopProof', () => {
  it('accepts a proof from every key type and returns the jose thumbprint', async () => {
    for (const alg of ['ES256', 'PS256', 'EdDSA', 'RS256']) {
      const key = await makeProofKey(alg);
      const proof = await makeProof(key, { htu: uri, claims: { iat } });
      const verified = verifyDpopProof([proof], base);
      expect(verified.jkt).toBe(key.jkt);
      expect(verified.alg).toBe(alg);
      expect(verified.replayUntilMs).toBe((iat + 70) * 1000);
    }
  });

  it('checks ath when an access token is presented', async () => {
    const key = await makeProofKey();
    const withToken = { ...base, accessToken: 'tok' };
    const good = await makeProof(key, { htu: uri, accessToken: 'tok', claims: { iat } });
    expect(verifyDpopProof([good], withToken).jkt).toBe(key.jkt);
    const none = await makeProof(key, { htu: uri, claims: { iat } });
    expect(reasonOf(() => verifyDpopProof([none], withToken))).toBe('dpop_ath_missing');
    const other = await makeProof(key, { htu: uri, accessToken: 'other', claims: { iat } });
    expect(reasonOf(() => verifyDpopProof([other], withToken))).toBe('dpop_ath_mismatch');
    const typed = await makeProof(key, { htu: uri, claims: { iat, ath: 5 } });
    expect(reasonOf(() => verifyDpopProof([typed], withToken))).toBe('dpop_claim_invalid');
    expect(athOf('tok')).toHaveLength(43);
  });

  it('refuses each failed check with its own reason', async () => {
    const key = await makeProofKey();
    const make = (spec: Parameters<typeof makeProof>[1]) =>
      makeProof(key, { ...spec, claims: { iat, ...spec.claims } });
    const cases: [string, string[], Partial<DpopProofExpectations>?][] = [
      ['dpop_proof_missing', []],
      ['dpop_proof_multiple', [await make({ htu: uri }), await make({ htu: uri })]],
      ['dpop_proof_too_large', ['a'.repeat(5000)]],
      ['dpop_proof_malformed', ['a.b']],
      ['dpop_claim_missing', [await make({ htu: uri, claims: { jti: undefined } })]],
      ['dpop_claim_invalid', [await make({ htu: uri, claims: { htm: 1 } })]],
      ['dpop_claim_invalid', [await make({ htu: uri, claims: { nonce: 7 } })]],
      ['dpop_typ_invalid', [await make({ htu: uri, header: { typ: 'jwt' } })]],
      ['dpop_jwk_invalid', [await make({ htu: uri, header: { jwk: 'x' } })]],
      [
        'dpop_jwk_invalid',
        [await make({ htu: uri, header: { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } } })],
      ],
      ['dpop_htm_mismatch', [await make({ htu: uri, htm: 'GET' })]],
      ['dpop_htu_mismatch', [await make({ htu: 'https://as.test/other' })]],
      ['dpop_iat_too_old', [await make({ htu: uri, claims: { iat: iat - 61 } })]],
      ['dpop_iat_future', [await make({ htu: uri, claims: { iat: iat + 11 } })]],
      ['dpop_alg_not_allowed', [await make({ htu: uri })], { allowedAlgs: ['PS256'] }],
      ['dpop_nonce_missing', [await make({ htu: uri })], { nonce: () => 'missing' }],
      ['dpop_nonce_invalid', [await make({ htu: uri, nonce: 'n' })], { nonce: () => 'invalid' }],
      ['accepted', [await make({ htu: uri, nonce: 'n' })], { nonce: () => 'ok' }],
    ];
    for (const [reason, proofs, extra] of cases) {
      expect(
        reasonOf(() => verifyDpopProof(proofs, { ...base, ...extra })),
        reason,
      ).toBe(reason);
    }
  });

  it('refuses a key of the wrong type for its alg and a small RSA key', async () => {
    const key = await makeProofKey('ES256');
    const rsa = await makeProofKey('PS256');
    const mixed = await makeProof(key, {
      htu: uri,
      claims: { iat },
      header: { jwk: rsa.publicJwk },
    });
    expect(reasonOf(() => verifyDpopProof([mixed], base))).toBe('dpop_jwk_invalid');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      format: 'jwk',
    });
    const weak = await makeProof(rsa, { htu: uri, claims: { iat }, header: { jwk: small } });
    expect(reasonOf(() => verifyDpopProof([weak], base))).toBe('dpop_jwk_key_policy');
  });

  it('applies the key policy it is given: minRsaBits 3072 refuses an RSA-2048 proof key', async () => {
    const rsa = await makeProofKey('PS256');
    const proof = await makeProof(rsa, { htu: uri, claims: { iat } });
    expect(() => verifyDpopProof([proof], base)).not.toThrow();
    expect(
      reasonOf(() => verifyDpopProof([proof], { ...base, keyPolicy: { minRsaBits: 3072 } })),
    ).toBe('dpop_jwk_key_policy');
  });

  it('reads DPoP headers from rawHeaders, case-insensitively, keeping repeats', () => {
    expect(dpopHeaderValues(['DPoP', 'a', 'Host', 'x', 'dpop', 'b', 'dpopx', 'c'])).toEqual([
      'a',
      'b',
    ]);
  });
});

describe('htu normalisation (RFC 3986 §6.2.2, §6.2.3)', () => {
  it.each([
    ['HTTPS://AS.TEST:443/token', uri],
    ['https://as.test/a/../token?q=1#f', uri],
    ['https://as.test/%74oken', uri],
    ['https://as.test/t%2fx', 'https://as.test/t%2Fx'],
  ])('%s matches %s', (htu, request) => {
    expect(htuMatches(htu, request)).toBe(true);
  });

  it.each([
    ['https://as.test:8443/token'],
    ['http://as.test/token'],
    ['https://user@as.test/token'],
    ['ftp://as.test/token'],
    ['not a url'],
    [`https://as.test/${'a'.repeat(5000)}`],
  ])('%s does not match', (htu) => {
    expect(htuMatches(htu, uri)).toBe(false);
  });

  it('matches any URI of a list (a server under several names), and nothing for an empty list', () => {
    const names = ['https://api.test/orders', 'https://orders.example.net:8443/orders'];
    expect(htuMatches('https://ORDERS.example.net:8443/orders?x=1', names)).toBe(true);
    expect(htuMatches('https://api.test/orders', names)).toBe(true);
    expect(htuMatches('https://other.test/orders', names)).toBe(false);
    expect(htuMatches('https://api.test/orders', [])).toBe(false);
  });

  it('normalises an empty path to /', () => {
    expect(normalizeHtu('https://as.test')).toBe('https://as.test/');
  });
});

describe('jwkThumbprint (RFC 7638)', () => {
  it('equals jose for EC, RSA and OKP keys, ignoring other members', async () => {
    for (const alg of ['ES384', 'RS256', 'EdDSA']) {
      const key = await makeProofKey(alg);
      expect(jwkThumbprint({ ...key.publicJwk, kid: 'x', alg })).toBe(
        await calculateJwkThumbprint(key.publicJwk),
      );
    }
  });

  it('is undefined for unknown types or missing members', () => {
    expect(jwkThumbprint({ kty: 'oct', k: 'x' })).toBeUndefined();
    expect(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'a' })).toBeUndefined();
    expect(jwkThumbprint({})).toBeUndefined();
  });
});

describe('DpopNonces', () => {
  const secret = Buffer.alloc(32, 7);

  it('accepts its window and the next one, then refuses; instances sharing a secret agree', () => {
    const one = new DpopNonces({ secret, windowSeconds: 60, purpose: 'token' });
    const two = new DpopNonces({ secret, windowSeconds: 60, purpose: 'token' });
    const nonce = one.current(nowMs);
    expect(two.current(nowMs)).toBe(nonce);
    expect(two.check(nonce, nowMs + 60_000)).toBe('ok');
    expect(two.check(nonce, nowMs + 120_000)).toBe('invalid');
    expect(one.check(undefined, nowMs)).toBe('missing');
    expect(one.check('x', nowMs)).toBe('invalid');
    // Asked out of order, the cached windows stay right.
    expect(one.current(nowMs - 120_000)).not.toBe(nonce);
    expect(one.current(nowMs)).toBe(nonce);
  });

  it('separates purposes and secrets, and refuses a short secret', () => {
    const token = new DpopNonces({ secret, windowSeconds: 60, purpose: 'token' });
    const api = new DpopNonces({ secret, windowSeconds: 60, purpose: 'api' });
    expect(api.check(token.current(nowMs), nowMs)).toBe('invalid');
    expect(new DpopNonces({ windowSeconds: 60, purpose: 'token' }).current(nowMs)).not.toBe(
      token.current(nowMs),
    );
    expect(
      () => new DpopNonces({ secret: Buffer.alloc(8), windowSeconds: 60, purpose: 'x' }),
    ).toThrow(TypeError);
    expect(() => new DpopNonces({ secret, windowSeconds: 0, purpose: 'x' })).toThrow(TypeError);
  });
});

describe('DpopJtiCache', () => {
  it('claims once until expiry', () => {
    const cache = new DpopJtiCache();
    expect(cache.claim('k', 'j', 2000, 1000)).toBe(true);
    expect(cache.claim('k', 'j', 2000, 1500)).toBe(false);
    expect(cache.claim('k2', 'j', 2000, 1500)).toBe(true);
    expect(cache.claim('k', 'j', 3000, 2000)).toBe(true);
  });

  it('stays within its bound: expired entries go first, then the oldest', () => {
    const cache = new DpopJtiCache({ maxEntries: 3 });
    cache.claim('k', 'old', 1100, 1000);
    cache.claim('k', 'a', 5000, 1000);
    cache.claim('k', 'b', 5000, 1000);
    cache.claim('k', 'c', 5000, 1200);
    expect(cache.size).toBe(3);
    expect(cache.claim('k', 'a', 5000, 1300)).toBe(false);
    cache.claim('k', 'd', 5000, 1300);
    expect(cache.size).toBe(3);
    // 'a' was the oldest live entry: evicted, so claimable again (the documented trade).
    expect(cache.claim('k', 'a', 5000, 1300)).toBe(true);
    expect(() => new DpopJtiCache({ maxEntries: 0 })).toThrow(TypeError);
  });
});

describe('DpopSigner', () => {
  it('signs proofs the verifier accepts, for every key type', () => {
    for (const [type, options] of [
      ['ec', { namedCurve: 'P-256' }],
      ['ec', { namedCurve: 'P-384' }],
      ['ec', { namedCurve: 'P-521' }],
      ['ed25519', {}],
      ['rsa', { modulusLength: 2048 }],
    ] as const) {
      const { privateKey } = generateKeyPairSync(type as 'ec', options as { namedCurve: string });
      const signer = new DpopSigner(privateKey);
      const proof = signer.proof({
        method: 'GET',
        url: 'https://api.test/x?y=1',
        nowSeconds: iat,
        accessToken: 't',
        nonce: 'n',
      });
      const verified = verifyDpopProof([proof], {
        ...base,
        method: 'GET',
        uri: 'https://api.test/x',
        allowedAlgs: ['ES256', 'ES384', 'ES512', 'EdDSA', 'PS256'],
        accessToken: 't',
      });
      expect(verified.jkt).toBe(signer.jkt);
    }
  });

  it('refuses public keys, unknown or mismatched algs and relative URLs', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => new DpopSigner(publicKey)).toThrow(TypeError);
    expect(() => new DpopSigner(privateKey, 'HS256')).toThrow(TypeError);
    expect(() => new DpopSigner(privateKey, 'ES384')).toThrow(TypeError);
    expect(() => new DpopSigner(privateKey).proof({ method: 'GET', url: '/x' })).toThrow(TypeError);
  });
});
