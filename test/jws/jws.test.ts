/** The compact JWS core: strict decoding and the algorithm table. */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createJwsSigner,
  decodeCompactJws,
  isCanonicalBase64url,
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

  it('counts members past escaped quotes and backslashes, and refuses a repeated __proto__', () => {
    // A name that ends in an escaped backslash, and values holding quotes, commas and brackets.
    expect(() =>
      decodeCompactJws(`${b64('{"a\\\\":"x\\",{[","b":"\\\\","a\\\\":1}')}.${b64('{}')}.AA`),
    ).toThrow(/duplicate member/);
    const jws = decodeCompactJws(
      `${b64('{"a\\\\":"x\\",{[","b":"\\\\"}')}.${b64('{ "c" : [1,{"d":2}] , "e":{} }')}.AA`,
    );
    expect(Object.keys(jws.header)).toEqual(['a\\', 'b']);
    expect(jws.payload).toEqual({ c: [1, { d: 2 }], e: {} });
    // JSON.parse keeps `__proto__` as an own member, so a second one is a duplicate too.
    expect(() =>
      decodeCompactJws(`${b64('{"alg":"ES256"}')}.${b64('{"__proto__":1,"__proto__":2}')}.AA`),
    ).toThrow(/duplicate member/);
    expect(decodeCompactJws(`${b64('{"alg":"ES256"}')}.${b64('{}')}.AA`).payload).toEqual({});
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

describe('isCanonicalBase64url (RFC 7515 §2, RFC 4648 §3.5)', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

  it('accepts exactly one spelling of each byte string: every other final character is refused', () => {
    let refused = 0;
    for (let length = 1; length <= 7; length++) {
      for (let seed = 0; seed < 40; seed++) {
        const bytes = Buffer.from(Array.from({ length }, (_, i) => (seed * 37 + i * 101) & 0xff));
        const canonical = bytes.toString('base64url');
        expect(isCanonicalBase64url(canonical), canonical).toBe(true);
        for (const char of alphabet) {
          const variant = `${canonical.slice(0, -1)}${char}`;
          if (variant === canonical) continue;
          // Canonical exactly when re-encoding its decoded bytes gives it back; in particular a
          // variant that decodes to the same bytes as `canonical` is always refused.
          const decoded = Buffer.from(variant, 'base64url');
          const canonicalForItsBytes = decoded.toString('base64url') === variant;
          expect(isCanonicalBase64url(variant), variant).toBe(canonicalForItsBytes);
          if (decoded.equals(bytes)) {
            expect(canonicalForItsBytes).toBe(false);
            refused++;
          }
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('refuses padding, the standard alphabet, impossible lengths and the empty string', () => {
    for (const part of ['', 'AA==', 'AAA=', 'A', 'AAAAA', 'ab+c', 'ab/c', 'a b', 'AA.']) {
      expect(isCanonicalBase64url(part), part).toBe(false);
    }
    for (const part of ['AA', 'AAA', 'AAAA', 'Zg', 'Zm8', 'Zm9v', '-_-_']) {
      expect(isCanonicalBase64url(part), part).toBe(true);
    }
  });

  it('decodeCompactJws refuses a token whose any part carries non-zero unused bits', () => {
    const header = b64('{"alg":"ES256","kid":"a"}');
    const payload = b64('{"a":1}');
    expect(decodeCompactJws(`${header}.${payload}.AA`).signature).toEqual(Buffer.from([0]));
    expect(() => decodeCompactJws(`${header}.${payload}.AB`)).toThrow(/canonical base64url/);
    const bump = (part: string) =>
      `${part.slice(0, -1)}${alphabet[alphabet.indexOf(part.at(-1) as string) | 1]}`;
    expect(header.length % 4).not.toBe(0);
    expect(() => decodeCompactJws(`${bump(header)}.${payload}.AA`)).toThrow(/canonical/);
    expect(payload.length % 4).not.toBe(0);
    expect(() => decodeCompactJws(`${header}.${bump(payload)}.AA`)).toThrow(/canonical/);
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
