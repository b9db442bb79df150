/**
 * verifyAccessToken, one test per check (RFC 9068 §4, RFC 8705 §3, RFC 6750 §3.1), with keys and
 * tokens made here so every field can be wrong on purpose.
 */
import { createHmac, type KeyObject, randomUUID, sign } from 'node:crypto';
import { createLocalJWKSet, type JWK, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AccessTokenKeyResolver,
  ResourceError,
  type VerifyAccessTokenOptions,
  verifyAccessToken,
} from '../../src/resource/index.js';
import { rawJws } from '../helpers/assertions.js';
import { generateKeyPairSync } from '../helpers/keys.js';

const issuer = 'https://tollgate.test';
const audience = 'https://api.test/orders';
const nowMs = Date.UTC(2030, 0, 1);
const now = nowMs / 1000;
const thumbprint = 'a'.repeat(43);
const otherThumbprint = 'b'.repeat(43);

interface Signer {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

function makeSigner(kid: string): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, publicJwk: { ...publicKeyJwk(publicKey), kid, alg: 'ES256' } };
}

function publicKeyJwk(key: KeyObject): JWK {
  return key.export({ format: 'jwk' }) as JWK;
}

function claims(extra: Record<string, unknown> = {}): JWTPayload {
  return {
    iss: issuer,
    sub: 'svc-a',
    client_id: 'svc-a',
    aud: audience,
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
    scope: 'read write',
    ...extra,
  } as JWTPayload;
}

async function mint(
  signer: Signer,
  payload: JWTPayload = claims(),
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt', ...header })
    .sign(signer.privateKey);
}

/** Signs any header (jose refuses to sign some of the hostile ones). */
function mintRaw(signer: Signer, payload: JWTPayload, header: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const fullHeader = { alg: 'ES256', kid: signer.kid, typ: 'at+jwt', ...header };
  const input = `${encode(fullHeader)}.${encode(payload)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: signer.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

async function refusal(promise: Promise<unknown>): Promise<ResourceError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ResourceError) return error;
    throw error;
  }
  throw new Error('expected a ResourceError');
}

describe('verifyAccessToken', () => {
  let signer: Signer;
  let second: Signer;
  let foreign: Signer;
  let jwks: AccessTokenKeyResolver;
  let options: VerifyAccessTokenOptions;

  beforeAll(() => {
    signer = makeSigner('k1');
    second = makeSigner('k2');
    foreign = makeSigner('k1');
    jwks = createLocalJWKSet({ keys: [signer.publicJwk, second.publicJwk] });
    options = { issuer, audience, jwks, nowMs };
  });

  it('accepts a valid token and returns its claims and scopes', async () => {
    const verified = await verifyAccessToken(await mint(signer), {
      ...options,
      requiredScopes: ['read'],
    });
    expect(verified.clientId).toBe('svc-a');
    expect([...verified.scopes]).toEqual(['read', 'write']);
    expect(verified.certificateThumbprint).toBeUndefined();
    expect(verified.kid).toBe('k1');
    expect(verified.claims.iss).toBe(issuer);
  });

  it('accepts typ application/at+jwt (RFC 9068 §4) and an audience list', async () => {
    const token = await mint(signer, claims({ aud: ['https://other.test', audience] }), {
      typ: 'application/at+jwt',
    });
    await expect(verifyAccessToken(token, options)).resolves.toBeDefined();
    await expect(
      verifyAccessToken(await mint(signer), { ...options, audience: ['x:y', audience] }),
    ).resolves.toBeDefined();
  });

  it('refuses other spellings of a valid token: stray characters, padding, unused bits set', async () => {
    const token = await mint(signer);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const last = signature.at(-1) as string;
    // 64 signature bytes are 86 characters: the last one carries 4 unused bits.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const unusedBitsSet = alphabet[alphabet.indexOf(last) | 1] as string;
    for (const respelled of [
      `${header}.${payload}.${signature.slice(0, 10)} ${signature.slice(10)}`,
      `${header}.${payload}.${signature.slice(0, 10)}\t${signature.slice(10)}`,
      `${header}.${payload}.${signature}==`,
      `${header}.${payload}.${signature.slice(0, -1)}${unusedBitsSet}`,
      `${header}.${payload.slice(0, 5)}\n${payload.slice(5)}.${signature}`,
    ]) {
      const error = await refusal(verifyAccessToken(respelled, options));
      expect(error, JSON.stringify(respelled)).toMatchObject({ reason: 'token_malformed' });
    }
  });

  it.each([
    ['typ JWT (an ID token or assertion)', { typ: 'JWT' }, 'typ_invalid'],
    ['no typ', { typ: undefined }, 'typ_invalid'],
    ['crit', { crit: ['x-extension'], 'x-extension': true }, 'crit_unsupported'],
  ])('refuses a header with %s', async (_name, header, reason) => {
    const error = await refusal(verifyAccessToken(mintRaw(signer, claims(), header), options));
    expect(error).toMatchObject({ code: 'invalid_token', reason, status: 401 });
  });

  it.each([
    ['another issuer', { iss: 'https://evil.test' }, 'issuer_invalid'],
    ['another audience', { aud: 'https://api.test/billing' }, 'audience_invalid'],
    ['expired', { exp: now - 31 }, 'expired'],
    ['not yet valid', { nbf: now + 31 }, 'not_yet_valid'],
    ['issued in the future', { iat: now + 31 }, 'not_yet_valid'],
    ['no client_id', { client_id: undefined }, 'claims_invalid'],
    ['no jti', { jti: undefined }, 'claims_invalid'],
    ['a numeric sub', { sub: 42 }, 'claims_invalid'],
    ['an empty client_id', { client_id: '' }, 'claims_invalid'],
    ['an empty sub', { sub: '' }, 'claims_invalid'],
    ['an empty jti', { jti: '' }, 'claims_invalid'],
    ['a scope array', { scope: ['read'] }, 'claims_invalid'],
  ])('refuses a token with %s', async (_name, extra, reason) => {
    const error = await refusal(verifyAccessToken(await mint(signer, claims(extra)), options));
    expect(error).toMatchObject({ code: 'invalid_token', reason });
  });

  it('accepts exp and nbf within the clock tolerance', async () => {
    const token = await mint(signer, claims({ exp: now - 10, nbf: now + 10 }));
    await expect(verifyAccessToken(token, options)).resolves.toBeDefined();
    const strict = { ...options, clockToleranceSeconds: 0 };
    const expired = await mint(signer, claims({ exp: now - 1 }));
    expect((await refusal(verifyAccessToken(expired, strict))).reason).toBe('expired');
    const early = await mint(signer, claims({ nbf: now + 1 }));
    expect((await refusal(verifyAccessToken(early, strict))).reason).toBe('not_yet_valid');
  });

  it('refuses a token signed by a foreign key under a known kid', async () => {
    const error = await refusal(verifyAccessToken(await mint(foreign), options));
    expect(error).toMatchObject({ code: 'invalid_token', reason: 'signature_invalid' });
  });

  it('refuses an unknown kid', async () => {
    const error = await refusal(verifyAccessToken(await mint(makeSigner('k9')), options));
    expect(error).toMatchObject({ code: 'invalid_token', reason: 'key_not_found' });
  });

  it('finds the key of a token without kid among several', async () => {
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .sign(second.privateKey);
    await expect(verifyAccessToken(token, options)).resolves.toBeDefined();
    const forged = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
      .sign(foreign.privateKey);
    expect((await refusal(verifyAccessToken(forged, options))).reason).toBe('signature_invalid');
  });

  it('refuses alg none', async () => {
    const token = rawJws({ alg: 'none', typ: 'at+jwt' }, claims(), '');
    const error = await refusal(verifyAccessToken(token, options));
    expect(error).toMatchObject({ code: 'invalid_token', reason: 'alg_not_allowed' });
  });

  it('refuses HS256 keyed with the public JWK (algorithm confusion)', async () => {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' })}.${encode(claims())}`;
    const mac = createHmac('sha256', JSON.stringify(signer.publicJwk)).update(input);
    const error = await refusal(verifyAccessToken(`${input}.${mac.digest('base64url')}`, options));
    expect(error.reason).toBe('alg_not_allowed');
  });

  it('refuses an algorithm outside a narrowed allowlist', async () => {
    const error = await refusal(
      verifyAccessToken(await mint(signer), { ...options, algorithms: ['EdDSA'] }),
    );
    expect(error.reason).toBe('alg_not_allowed');
  });

  it.each([
    ['not a string', 42],
    ['empty', ''],
    ['two parts', 'a.b'],
    ['a bad header', 'e30x.e30.e30'],
  ])('refuses a malformed token (%s)', async (_name, token) => {
    const error = await refusal(verifyAccessToken(token, options));
    expect(error).toMatchObject({ code: 'invalid_token', reason: 'token_malformed' });
  });

  it('refuses an oversized token before parsing it', async () => {
    const error = await refusal(verifyAccessToken('a'.repeat(9000), options));
    expect(error.reason).toBe('token_too_large');
  });

  it('insufficient_scope (403) names the scopes needed', async () => {
    const error = await refusal(
      verifyAccessToken(await mint(signer), { ...options, requiredScopes: ['read', 'admin'] }),
    );
    expect(error).toMatchObject({
      code: 'insufficient_scope',
      status: 403,
      scopes: ['read', 'admin'],
    });
  });

  describe('certificate binding (RFC 8705 §3)', () => {
    const bound = () => claims({ cnf: { 'x5t#S256': thumbprint } });

    it('accepts a bound token with the matching certificate', async () => {
      const verified = await verifyAccessToken(await mint(signer, bound()), {
        ...options,
        certificateThumbprint: thumbprint,
      });
      expect(verified.certificateThumbprint).toBe(thumbprint);
    });

    it('refuses it with another certificate', async () => {
      const error = await refusal(
        verifyAccessToken(await mint(signer, bound()), {
          ...options,
          certificateThumbprint: otherThumbprint,
        }),
      );
      expect(error).toMatchObject({ code: 'invalid_token', reason: 'binding_mismatch' });
    });

    it('refuses it without a certificate', async () => {
      const error = await refusal(verifyAccessToken(await mint(signer, bound()), options));
      expect(error).toMatchObject({ code: 'invalid_token', reason: 'binding_certificate_missing' });
    });

    it('checks the binding before the scopes (a stolen token learns nothing)', async () => {
      const error = await refusal(
        verifyAccessToken(await mint(signer, bound()), { ...options, requiredScopes: ['admin'] }),
      );
      expect(error.code).toBe('invalid_token');
    });

    it('requireBinding refuses an unbound token, also when a certificate is presented', async () => {
      const error = await refusal(
        verifyAccessToken(await mint(signer), {
          ...options,
          requireBinding: true,
          certificateThumbprint: thumbprint,
        }),
      );
      expect(error.reason).toBe('binding_required');
    });

    it('an unbound token is accepted with a certificate when binding is not required', async () => {
      await expect(
        verifyAccessToken(await mint(signer), { ...options, certificateThumbprint: thumbprint }),
      ).resolves.toBeDefined();
    });

    it('refuses a token bound by a method it cannot check (cnf.kid)', async () => {
      const token = await mint(signer, claims({ cnf: { kid: thumbprint } }));
      const error = await refusal(verifyAccessToken(token, options));
      expect(error.reason).toBe('binding_unsupported');
    });

    it('refuses a DPoP-bound token presented as Bearer (RFC 9449 §7.2)', async () => {
      const token = await mint(signer, claims({ cnf: { jkt: thumbprint } }));
      const error = await refusal(verifyAccessToken(token, options));
      expect(error.reason).toBe('dpop_downgrade');
      expect(error.scheme).toBe('DPoP');
    });

    it('refuses a cnf naming two bindings', async () => {
      const token = await mint(
        signer,
        claims({ cnf: { jkt: thumbprint, 'x5t#S256': thumbprint } }),
      );
      expect((await refusal(verifyAccessToken(token, options))).reason).toBe('claims_invalid');
    });

    it.each([
      ['a string', 'x'],
      ['a short thumbprint', { 'x5t#S256': 'abc' }],
    ])('refuses cnf that is %s', async (_name, cnf) => {
      const error = await refusal(verifyAccessToken(await mint(signer, claims({ cnf })), options));
      expect(error.reason).toBe('claims_invalid');
    });
  });

  it('a failing key fetch is temporarily_unavailable (503), never invalid_token', async () => {
    const failing: AccessTokenKeyResolver = async () => {
      throw new TypeError('fetch failed');
    };
    const error = await refusal(
      verifyAccessToken(await mint(signer), { ...options, jwks: failing }),
    );
    expect(error).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
  });

  it.each([[['none']], [['HS256']], [[]]])(
    'refuses an allowlist of %j as a programming error',
    async (algorithms) => {
      await expect(verifyAccessToken('x', { ...options, algorithms })).rejects.toThrow(TypeError);
    },
  );

  // Regression: jose skips the iss check when its option is undefined, so a caller whose issuer
  // came from an unset variable (JavaScript, or a cast) accepted tokens from any issuer.
  it.each([
    ['an undefined issuer', { issuer: undefined }],
    ['an empty issuer', { issuer: '' }],
    ['an undefined audience', { audience: undefined }],
    ['an empty audience', { audience: '' }],
    ['an empty audience list', { audience: [] }],
    ['an audience list with an empty value', { audience: [audience, ''] }],
  ])('refuses %s as a programming error, whatever the token', async (_what, override) => {
    const foreignToken = await mint(signer, claims({ iss: 'https://evil.test' }));
    await expect(
      verifyAccessToken(foreignToken, { ...options, ...override } as VerifyAccessTokenOptions),
    ).rejects.toThrow(TypeError);
  });

  it('refuses an absurd clock tolerance', async () => {
    await expect(
      verifyAccessToken('x', { ...options, clockToleranceSeconds: 3600 }),
    ).rejects.toThrow(TypeError);
  });
});
