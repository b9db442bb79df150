/** The compact JWS core: strict decoding and the algorithm table. */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createJwsSigner,
  decodeCompactJws,
  JwsFormatError,
  keyMismatch,
  verifyJwsSignature,
} from '../../src/jws/index.js';

const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('decodeCompactJws', () => {
  it('refuses duplicate member names in the header and the payload', () => {
    expect(() =>
      decodeCompactJws(`${b64('{"alg":"none","alg":"ES256"}')}.${b64('{}')}.AA`),
    ).toThrow(/duplicate member/);
    expect(() =>
      decodeCompactJws(`${b64('{"alg":"ES256"}')}.${b64('{"sub":"a","sub":"b"}')}.AA`),
    ).toThrow(/duplicate member/);
    // Escapes are decoded before comparing: "a\\u006cg" is "alg".
    expect(() =>
      decodeCompactJws(`${b64('{"alg":"ES256","a\\u006cg":"none"}')}.${b64('{}')}.AA`),
    ).toThrow(JwsFormatError);
  });

  it('accepts the same name at different depths and inside strings', () => {
    const jws = decodeCompactJws(
      `${b64('{"alg":"ES256","x":{"alg":1},"y":"\\"alg\\":"}')}.${b64('{"cnf":{"cnf":1}}')}.AA`,
    );
    expect(jws.header.alg).toBe('ES256');
  });

  it('refuses anything but three base64url parts holding JSON objects', () => {
    for (const token of [
      '',
      'a',
      'a.b',
      'a.b.c.d',
      `${b64('[]')}.${b64('{}')}.AA`,
      `${b64('{}')}.${b64('1')}.AA`,
      `${b64('{}')}.${b64('{}')}.`,
      `${b64('{}')}=.${b64('{}')}.AA`,
    ]) {
      expect(() => decodeCompactJws(token), token).toThrow(JwsFormatError);
    }
  });
});

describe('signing and verifying', () => {
  it('round-trips ES256 and refuses a DER-encoded ECDSA signature', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const token = createJwsSigner(privateKey, 'ES256', { kid: 'k', typ: 'at+jwt' }).sign({ a: 1 });
    const jws = decodeCompactJws(token);
    expect(verifyJwsSignature(jws, 'ES256', publicKey)).toBe(true);
    expect(verifyJwsSignature({ ...jws, signature: Buffer.alloc(70, 1) }, 'ES256', publicKey)).toBe(
      false,
    );
  });

  it('matches keys to algorithms: curve, type and RSA size', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const ed = generateKeyPairSync('ed25519').publicKey;
    expect(keyMismatch(p256, 'ES256')).toBeUndefined();
    expect(keyMismatch(p256, 'ES384')).toMatch(/curve/);
    expect(keyMismatch(p256, 'RS256')).toMatch(/RSA/);
    expect(keyMismatch(rsa1024, 'RS256')).toMatch(/2048/);
    expect(keyMismatch(ed, 'EdDSA')).toBeUndefined();
    expect(keyMismatch(ed, 'Ed25519')).toBeUndefined();
    expect(keyMismatch(ed, 'ES256')).toMatch(/EC/);
  });
});

describe('createJwsSigner misuse', () => {
  it('refuses a public key', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => createJwsSigner(publicKey, 'ES256', { kid: 'k', typ: 'at+jwt' })).toThrow(
      new TypeError('createJwsSigner needs a private key'),
    );
  });

  it('refuses a key that does not fit the algorithm, saying why', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    expect(() => createJwsSigner(privateKey, 'ES256', { kid: 'k', typ: 'at+jwt' })).toThrow(
      new TypeError('createJwsSigner: ES256 needs an EC key'),
    );
  });
});
