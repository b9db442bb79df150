/**
 * The signing key file: every way a document can be unusable gets a message naming the key and
 * the problem, keys are generated for every supported alg, and the file is created only once.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessTokenAlg } from '../../src/config/index.js';
import { decodeCompactJws, verifyJwsSignature } from '../../src/jws/index.js';
import {
  ensureSigningKeyFile,
  generateSigningJwk,
  loadSigningKeys,
  prepareSigningKeys,
  SigningKeyError,
} from '../../src/tokens/index.js';
import { generateKeyPairSync } from '../helpers/keys.js';

describe('generateSigningJwk', () => {
  it.each([
    ['ES256', 'EC', 'P-256'],
    ['ES384', 'EC', 'P-384'],
    ['ES512', 'EC', 'P-521'],
    ['EdDSA', 'OKP', 'Ed25519'],
    ['PS256', 'RSA', undefined],
    ['RS256', 'RSA', undefined],
  ] as const)('makes a %s key that signs verifiable tokens', async (alg, kty, crv) => {
    const jwk = await generateSigningJwk(alg);
    expect(jwk).toMatchObject({ kty, alg, use: 'sig' });
    expect(jwk.crv).toBe(crv);
    if (kty === 'RSA') expect(Buffer.from(jwk.n as string, 'base64url').length * 8).toBe(2048);
    const set = prepareSigningKeys({ active_kid: jwk.kid, keys: [jwk] }, alg);
    const token = set.signer.sign({ sub: 'x' });
    const verifier = set.publicKeys.get(jwk.kid as string);
    expect(verifier?.alg).toBe(alg);
    expect(verifyJwsSignature(decodeCompactJws(token), alg, verifier?.key as never)).toBe(true);
    expect(set.publicJwks.keys[0]).not.toHaveProperty('d');
  });
});

describe('prepareSigningKeys', () => {
  let es256: JWK;
  let es384: JWK;
  beforeAll(async () => {
    es256 = await generateSigningJwk('ES256');
    es384 = await generateSigningJwk('ES384');
  });

  const refuses = (document: unknown, message: string, alg: AccessTokenAlg = 'ES256') =>
    expect(() => prepareSigningKeys(document, alg, 'keys.json')).toThrow(
      new SigningKeyError(`keys.json: ${message}`),
    );

  it('refuses a document that is not an object', () => {
    refuses(null, 'must be {"active_kid": ..., "keys": [...]}');
    refuses('keys', 'must be {"active_kid": ..., "keys": [...]}');
  });

  it('refuses a missing active_kid and an empty key list', () => {
    refuses({ keys: [es256] }, 'active_kid must name the signing key');
    refuses({ active_kid: 'a', keys: [] }, 'keys must be a non-empty array');
  });

  it('refuses a key that is not a JWK, or lacks a kid', () => {
    refuses({ active_kid: 'a', keys: [42] }, 'keys[0] must be a JWK');
    refuses({ active_kid: 'a', keys: [{ ...es256, kid: '' }] }, 'keys[0] needs a kid');
  });

  it('refuses a duplicate kid', () => {
    refuses(
      { active_kid: es256.kid, keys: [es256, { ...es384, kid: es256.kid }] },
      `keys[1]: duplicate kid ${es256.kid}`,
    );
  });

  it('refuses an unsupported alg, a public key and invalid key material', () => {
    refuses(
      { active_kid: 'k', keys: [{ ...es256, kid: 'k', alg: 'HS256' }] },
      'keys[0] (k): alg "HS256" is not supported',
    );
    const { d: _d, ...publicOnly } = es256;
    refuses(
      { active_kid: 'k', keys: [{ ...publicOnly, kid: 'k' }] },
      'keys[0] (k): private key material (d) is missing',
    );
    refuses(
      { active_kid: 'k', keys: [{ ...es256, kid: 'k', d: 'AAAA', x: 'AAAA' }] },
      'keys[0] (k): not a valid private JWK',
    );
  });

  it('refuses a key that does not fit its alg', () => {
    refuses(
      { active_kid: 'k', keys: [{ ...es256, kid: 'k', alg: 'ES384' }] },
      'keys[0] (k): ES384 needs curve secp384r1',
    );
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      format: 'jwk',
    });
    refuses(
      { active_kid: 'k', keys: [{ ...small, kid: 'k', alg: 'RS256' }] },
      'keys[0] (k): RSA keys must have at least 2048 bits',
    );
  });

  it('refuses an active key of another alg than accessToken.signingAlg', () => {
    refuses(
      { active_kid: es384.kid, keys: [es384] },
      `the active key ${es384.kid} is ES384, but accessToken.signingAlg is ES256`,
    );
  });

  it('refuses an active_kid that names no key', () => {
    refuses(
      { active_kid: 'elsewhere', keys: [es256] },
      'active_kid elsewhere is not among the keys',
    );
  });

  it('publishes every key but signs with the active one only', () => {
    const set = prepareSigningKeys({ active_kid: es256.kid, keys: [es384, es256] }, 'ES256');
    expect(set.publicJwks.keys.map((key) => key.kid)).toEqual([es384.kid, es256.kid]);
    expect(set.signer.kid).toBe(es256.kid);
    expect(decodeCompactJws(set.signer.sign({})).header).toEqual({
      alg: 'ES256',
      typ: 'at+jwt',
      kid: es256.kid,
    });
  });
});

describe('key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-signing-keys-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('ensureSigningKeyFile creates a 0600 file once, then leaves it alone', async () => {
    const file = join(dir, 'nested', 'keys.json');
    expect(await ensureSigningKeyFile(file, 'ES384')).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const first = loadSigningKeys(file, 'ES384');
    expect(await ensureSigningKeyFile(file, 'ES384')).toBe(false);
    expect(loadSigningKeys(file, 'ES384').signer.kid).toBe(first.signer.kid);
  });

  it('loadSigningKeys names the file it cannot read or parse', async () => {
    const missing = join(dir, 'missing.json');
    expect(() => loadSigningKeys(missing, 'ES256')).toThrow(SigningKeyError);
    expect(() => loadSigningKeys(missing, 'ES256')).toThrow(
      `${missing}: cannot read a JSON key file`,
    );
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"active_kid":');
    expect(() => loadSigningKeys(broken, 'ES256')).toThrow(
      `${broken}: cannot read a JSON key file`,
    );
  });
});
