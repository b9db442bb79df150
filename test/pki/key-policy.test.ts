/**
 * The one key policy (src/pki/key-policy.ts): which SubjectPublicKeyInfo encodings and signature
 * algorithms are accepted, on real node:crypto keys and on hand-built DER for the forms
 * node:crypto hides (explicit curve parameters) or cannot make quickly (huge moduli).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  defaultKeyPolicy,
  keyPolicyViolation,
  resolveKeyPolicy,
  signatureAlgorithmViolation,
  spkiPolicyViolation,
} from '../../src/pki/index.js';
import { bits, int, nul, oid, seq, tlv } from './der-builder.js';

const spkiOf = (key: { export(options: { type: 'spki'; format: 'der' }): Buffer }) =>
  key.export({ type: 'spki', format: 'der' });
const integer = (bytes: Uint8Array) => tlv(0x02, bytes);
const rsaSpki = (modulus: Uint8Array, exponent: Uint8Array, params: Uint8Array[] = [nul()]) =>
  seq(
    seq(oid('1.2.840.113549.1.1.1'), ...params),
    bits(0, seq(integer(modulus), integer(exponent))),
  );
const modulusOfBits = (count: number) => {
  const bytes = new Uint8Array(Math.ceil(count / 8) + 1);
  bytes[1] = 1 << ((count - 1) % 8);
  return bytes[1] >= 0x80 ? bytes : bytes.subarray(1);
};
const e65537 = Uint8Array.of(1, 0, 1);
const ecSpki = (params: Uint8Array | undefined, point: Uint8Array) =>
  seq(seq(oid('1.2.840.10045.2.1'), ...(params === undefined ? [] : [params])), bits(0, point));
const point = (size: number) => Uint8Array.from([4, ...new Array(2 * size).fill(1)]);

describe('key policy: keys', () => {
  it.each([
    ['RSA 2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
    ['RSA-PSS 2048', () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey],
    ['P-256', () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey],
    ['P-384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey],
    ['P-521', () => generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey],
    ['Ed25519', () => generateKeyPairSync('ed25519').publicKey],
    ['Ed448', () => generateKeyPairSync('ed448').publicKey],
  ])('accepts %s', (_name, make) => {
    const key = make();
    expect(keyPolicyViolation(key)).toBeUndefined();
    expect(spkiPolicyViolation(spkiOf(key))).toBeUndefined();
  });

  it.each([
    [
      'RSA 1024',
      () => generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey,
      'RSA key of 1024 bits is below the minimum of 2048',
    ],
    [
      'RSA 2052 (not whole octets)',
      () => generateKeyPairSync('rsa', { modulusLength: 2052 }).publicKey,
      'RSA key of 2052 bits is not a whole number of octets',
    ],
    [
      'DSA',
      () => generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey,
      'DSA keys are not accepted (use ECDSA P-256/P-384/P-521, Ed25519, Ed448 or RSA)',
    ],
    [
      'P-192',
      () => generateKeyPairSync('ec', { namedCurve: 'prime192v1' }).publicKey,
      'EC curve P-192 is not accepted (P-256, P-384 or P-521)',
    ],
    [
      'secp256k1',
      () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey,
      'EC curve secp256k1 is not accepted (P-256, P-384 or P-521)',
    ],
    [
      'brainpoolP512r1 (no friendly name)',
      () => generateKeyPairSync('ec', { namedCurve: 'brainpoolP512r1' }).publicKey,
      'EC curve 1.3.36.3.3.2.8.1.1.13 is not accepted (P-256, P-384 or P-521)',
    ],
    [
      'X25519',
      () => generateKeyPairSync('x25519').publicKey,
      'X25519/X448 keys cannot sign and are not accepted',
    ],
  ])('refuses %s', (_name, make, reason) => {
    const key = make();
    expect(keyPolicyViolation(key)).toBe(reason);
  });

  it('refuses a private key object and an exotic key type node cannot put in an SPKI', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(keyPolicyViolation(privateKey)).toBe('not a public key');
    const fake = {
      type: 'public',
      asymmetricKeyType: undefined,
      export: () => {
        throw new Error('no');
      },
    } as unknown as Parameters<typeof keyPolicyViolation>[0];
    expect(keyPolicyViolation(fake)).toBe('public key type unknown is not accepted');
  });

  it('refuses explicit EC curve parameters even for P-256 (node:crypto reports a named curve)', () => {
    const explicit = seq(int(1), seq(oid('1.2.840.10045.1.1'), integer(Uint8Array.of(1))));
    expect(spkiPolicyViolation(ecSpki(explicit, point(32)))).toBe(
      'explicit or implicit EC curve parameters are not accepted (use a named curve)',
    );
    expect(spkiPolicyViolation(ecSpki(nul(), point(32)))).toMatch(/explicit or implicit/);
    expect(spkiPolicyViolation(ecSpki(undefined, point(32)))).toMatch(/explicit or implicit/);
  });

  it('checks EC point encodings by curve size', () => {
    const p256 = oid('1.2.840.10045.3.1.7');
    expect(spkiPolicyViolation(ecSpki(p256, point(32)))).toBeUndefined();
    expect(spkiPolicyViolation(ecSpki(p256, Uint8Array.from([2, ...new Array(32).fill(1)])))).toBe(
      undefined,
    );
    expect(spkiPolicyViolation(ecSpki(p256, point(48)))).toBe('malformed P-256 point');
    expect(spkiPolicyViolation(ecSpki(p256, Uint8Array.of(0)))).toBe('malformed P-256 point');
    expect(spkiPolicyViolation(ecSpki(oid('1.3.132.0.33'), point(28)))).toMatch(/P-224/);
  });

  it('checks RSA moduli and exponents on the DER', () => {
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), e65537))).toBeUndefined();
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(3072), e65537), { minRsaBits: 4096 })).toBe(
      'RSA key of 3072 bits is below the minimum of 4096',
    );
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(16_392), e65537))).toBe(
      'RSA keys over 16384 bits are not accepted',
    );
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), Uint8Array.of(2)))).toBe(
      'RSA public exponent must be odd and at least 3',
    );
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), Uint8Array.of(1)))).toBe(
      'RSA public exponent must be odd and at least 3',
    );
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), Uint8Array.of(3)))).toBeUndefined();
    // 2^32 + 1 (33 bits) is the longest exponent accepted; 2^33 + 1 is refused.
    expect(
      spkiPolicyViolation(rsaSpki(modulusOfBits(2048), Uint8Array.of(1, 0, 0, 0, 1))),
    ).toBeUndefined();
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), Uint8Array.of(2, 0, 0, 0, 1)))).toBe(
      'RSA public exponent over 33 bits is not accepted',
    );
    expect(spkiPolicyViolation(rsaSpki(Uint8Array.of(0x80, 0), e65537))).toBe(
      'malformed RSA key (negative integer)',
    );
    expect(spkiPolicyViolation(rsaSpki(Uint8Array.of(0), e65537))).toMatch(/0 bits is below/);
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), e65537, [int(1)]))).toBe(
      'RSA key with parameters',
    );
    expect(spkiPolicyViolation(rsaSpki(modulusOfBits(2048), e65537, []))).toBeUndefined();
    const extraField = seq(
      seq(oid('1.2.840.113549.1.1.1'), nul()),
      bits(0, seq(integer(modulusOfBits(2048)), integer(e65537), int(1))),
    );
    expect(spkiPolicyViolation(extraField)).toBe('malformed RSA key');
  });

  it('checks EdDSA key lengths and parameters, and refuses unknown algorithms and bad DER', () => {
    const ed = (id: string, length: number, params: Uint8Array[] = []) =>
      seq(seq(oid(id), ...params), bits(0, new Uint8Array(length)));
    expect(spkiPolicyViolation(ed('1.3.101.112', 32))).toBeUndefined();
    expect(spkiPolicyViolation(ed('1.3.101.112', 31))).toBe('malformed Ed25519 key');
    expect(spkiPolicyViolation(ed('1.3.101.112', 32, [nul()]))).toBe('malformed Ed25519 key');
    expect(spkiPolicyViolation(ed('1.3.101.113', 57))).toBeUndefined();
    expect(spkiPolicyViolation(ed('1.3.101.113', 32))).toBe('malformed Ed448 key');
    expect(spkiPolicyViolation(ed('1.2.3.4', 32))).toBe(
      'public key algorithm 1.2.3.4 is not accepted',
    );
    expect(spkiPolicyViolation(Uint8Array.of(0x30, 0x01))).toBe('malformed public key');
    expect(
      spkiPolicyViolation(seq(seq(oid('1.3.101.112')), bits(0, new Uint8Array(32)), nul())),
    ).toBe('malformed public key');
    expect(
      spkiPolicyViolation(seq(seq(oid('1.3.101.112'), nul(), nul()), bits(0, new Uint8Array(32)))),
    ).toBe('malformed public key algorithm');
    expect(spkiPolicyViolation(seq(seq(oid('1.3.101.112')), bits(1, new Uint8Array(32))))).toBe(
      'malformed public key',
    );
  });

  it('resolves policies: the default, stricter ones, never weaker or odd ones', () => {
    expect(resolveKeyPolicy()).toBe(defaultKeyPolicy);
    expect(resolveKeyPolicy({ minRsaBits: 2048 })).toBe(defaultKeyPolicy);
    expect(resolveKeyPolicy({ minRsaBits: 3072 })).toEqual({ minRsaBits: 3072 });
    for (const minRsaBits of [1024, 2047, 2052, 16_392, Number.NaN]) {
      expect(() => resolveKeyPolicy({ minRsaBits })).toThrow(TypeError);
    }
  });
});

describe('key policy: signature algorithms', () => {
  const algorithm = (id: string, ...params: Uint8Array[]) => seq(oid(id), ...params);

  it.each([
    ['sha256WithRSAEncryption', '1.2.840.113549.1.1.11'],
    ['RSASSA-PSS', '1.2.840.113549.1.1.10'],
    ['ecdsa-with-SHA384', '1.2.840.10045.4.3.3'],
    ['Ed25519', '1.3.101.112'],
    ['Ed448', '1.3.101.113'],
  ])('accepts %s', (_name, id) => {
    expect(signatureAlgorithmViolation(algorithm(id))).toBeUndefined();
  });

  it.each([
    ['md5WithRSAEncryption', '1.2.840.113549.1.1.4', 'MD5 signatures are not accepted'],
    ['md2WithRSAEncryption', '1.2.840.113549.1.1.2', 'MD2 signatures are not accepted'],
    ['sha1WithRSAEncryption', '1.2.840.113549.1.1.5', 'SHA-1 signatures are not accepted'],
    ['ecdsa-with-SHA1', '1.2.840.10045.4.1', 'SHA-1 signatures are not accepted'],
    ['dsa-with-sha256', '2.16.840.1.101.3.4.3.2', 'DSA signatures are not accepted'],
    ['an unknown algorithm', '1.2.3.4', 'signature algorithm 1.2.3.4 is not accepted'],
  ])('refuses %s', (_name, id, reason) => {
    expect(signatureAlgorithmViolation(algorithm(id))).toBe(reason);
  });

  it('refuses a malformed AlgorithmIdentifier', () => {
    expect(signatureAlgorithmViolation(Uint8Array.of(0x30, 0x00))).toBe(
      'malformed signature algorithm',
    );
  });
});
