/**
 * Seeded fuzzing of the resource server's token check (what an API runs on every request). The
 * corpus starts from a valid RFC 9068 token of the issuer and breaks it: hostile header members
 * and claims re-signed with the issuer's real key (so every check behind the signature is
 * reached), characters changed in the compact token, a key the issuer does not publish, `none`,
 * and HMAC keyed with the issuer's public key.
 *
 * The oracle is RFC 9068 §4 read independently of src/resource: whatever the token, the check
 * ends in a ResourceError or in a token that is signed by the issuer's published key with ES256,
 * typed `at+jwt`, names the issuer and this resource, is unexpired, carries the claims of §2.2,
 * grants the required scope, and is not bound to a certificate or DPoP key the request lacks.
 *
 * Reproduce or widen: `TOLLGATE_FUZZ_SEED=N TOLLGATE_FUZZ_CASES=N npx vitest run test/resource/fuzz.test.ts`.
 */
import { createHmac, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AccessTokenKeyResolver,
  ResourceError,
  type VerifiedAccessToken,
  verifyAccessToken,
} from '../../src/resource/index.js';
import { rawEs256 } from '../helpers/dpop.js';
import { below, fuzzRun, hostileJson, hostileStrings, pick, type Rng } from '../helpers/fuzz.js';
import { generateKeyPairSync } from '../helpers/keys.js';

const issuer = 'https://tollgate.test';
const audience = 'https://api.test/orders';
const nowMs = Date.UTC(2030, 0, 1);
const now = nowMs / 1000;
/** The verifier's documented default tolerance. */
const toleranceSeconds = 30;
const thumbprint = 'a'.repeat(43);

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('fuzzing verifyAccessToken', () => {
  let issuerKey: KeyObject;
  let issuerJwk: JWK;
  let strangerKey: KeyObject;
  let jwks: AccessTokenKeyResolver;

  beforeAll(() => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    issuerKey = pair.privateKey;
    issuerJwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1', alg: 'ES256' };
    strangerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    jwks = createLocalJWKSet({ keys: [issuerJwk] });
  });

  it('ends in a ResourceError or in a token RFC 9068 §4 accepts', async () => {
    const { seed, cases, rng } = fuzzRun(3000);
    let accepted = 0;
    for (let i = 0; i < cases; i++) {
      const label = `seed ${seed} case ${i}`;
      const { token, signedByIssuer } = build(rng, issuerKey, strangerKey, issuerJwk);
      const presented = below(rng, 4) === 0 ? thumbprint : undefined;
      let verified: VerifiedAccessToken;
      try {
        verified = await verifyAccessToken(token, {
          issuer,
          audience,
          jwks,
          nowMs,
          requiredScopes: ['read'],
          certificateThumbprint: presented,
        });
      } catch (error) {
        if (error instanceof ResourceError) continue;
        throw new Error(`${label}: threw ${(error as Error)?.stack}\ntoken: ${token}`, {
          cause: error,
        });
      }
      accepted++;
      expectAcceptable(token, signedByIssuer, presented, `${label}: accepted ${token}`);
      expect(verified.clientId, label).toBe(
        (
          JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as {
            client_id: unknown;
          }
        ).client_id,
      );
    }
    // The valid tokens in the corpus must pass, or the oracle was never exercised.
    expect(accepted).toBeGreaterThan(0);
  }, 600_000); // bounded by the case count; a corpus run by hand may take minutes
});

/** One token of the corpus, and whether the issuer's key signed exactly these bytes. */
function build(
  rng: Rng,
  issuerKey: KeyObject,
  strangerKey: KeyObject,
  issuerJwk: JWK,
): { token: string; signedByIssuer: boolean } {
  const header: Record<string, unknown> = { alg: 'ES256', kid: 'k1', typ: 'at+jwt' };
  const claims: Record<string, unknown> = {
    iss: issuer,
    sub: 'svc-a',
    client_id: 'svc-a',
    aud: audience,
    iat: now,
    exp: now + 600,
    jti: `jti-${below(rng, 1e9)}`,
    scope: 'read write',
  };
  for (let changes = below(rng, 4); changes > 0; changes--) {
    if (below(rng, 3) === 0) {
      header[pick(rng, ['alg', 'kid', 'typ', 'crit', 'jku', 'jwk', 'x5c', 'b64', 'cty'])] =
        hostileJson(rng);
    } else {
      const claim = pick(rng, [
        'iss',
        'sub',
        'client_id',
        'aud',
        'iat',
        'exp',
        'nbf',
        'jti',
        'scope',
        'cnf',
        'auth_time',
        '__proto__',
      ]);
      if (below(rng, 5) === 0) delete claims[claim];
      else if (claim === 'cnf' && below(rng, 2) === 0) {
        claims.cnf = pick(rng, [{ 'x5t#S256': thumbprint }, { jkt: 'b'.repeat(43) }, {}]);
      } else claims[claim] = hostileJson(rng);
    }
  }
  switch (below(rng, 8)) {
    case 0: {
      // Characters changed in the compact form of a valid signature.
      const token = rawEs256(header, claims, issuerKey);
      const changed = mutateToken(rng, token);
      return { token: changed, signedByIssuer: changed === token };
    }
    case 1:
      return { token: rawEs256(header, claims, strangerKey), signedByIssuer: false };
    case 2:
      return {
        token: `${encode({ ...header, alg: 'none' })}.${encode(claims)}.`,
        signedByIssuer: false,
      };
    case 3: {
      // Key confusion: HS256 keyed with the issuer's public key as published.
      const input = `${encode({ ...header, alg: 'HS256' })}.${encode(claims)}`;
      const mac = createHmac('sha256', JSON.stringify(issuerJwk)).update(input).digest('base64url');
      return { token: `${input}.${mac}`, signedByIssuer: false };
    }
    default:
      return { token: rawEs256(header, claims, issuerKey), signedByIssuer: true };
  }
}

/** Characters inserted, deleted or replaced, or the token cut. */
function mutateToken(rng: Rng, token: string): string {
  let out = token;
  for (let rounds = 1 + below(rng, 3); rounds > 0; rounds--) {
    const at = below(rng, out.length + 1);
    switch (below(rng, 4)) {
      case 0:
        out =
          out.slice(0, at) +
          pick(rng, ['.', '=', '+', '/', 'A', ' ', ...hostileStrings]) +
          out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + out.slice(at + 1 + below(rng, 8));
        break;
      case 2:
        out = `${out.slice(0, at)}${pick(rng, ['A', 'B', '_', '-'])}${out.slice(at + 1)}`;
        break;
      default:
        out = out.slice(0, at);
    }
  }
  return out;
}

/** RFC 9068 §4 (and §2.2's required claims), checked on what was accepted. */
function expectAcceptable(
  token: string,
  signedByIssuer: boolean,
  presentedThumbprint: string | undefined,
  label: string,
): void {
  const [header, claims] = token
    .split('.')
    .slice(0, 2)
    .map(
      (part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>,
    );
  expect(signedByIssuer, label).toBe(true);
  expect(header?.alg, label).toBe('ES256');
  expect(['at+jwt', 'application/at+jwt'], label).toContain(header?.typ);
  expect(header?.crit, label).toBeUndefined();
  expect(claims?.iss, label).toBe(issuer);
  const audiences = Array.isArray(claims?.aud) ? claims.aud : [claims?.aud];
  expect(audiences, label).toContain(audience);
  const exp = claims?.exp;
  expect(typeof exp === 'number' && exp > now - toleranceSeconds, label).toBe(true);
  const nbf = claims?.nbf;
  expect(
    nbf === undefined || (typeof nbf === 'number' && nbf <= now + toleranceSeconds),
    label,
  ).toBe(true);
  expect(typeof claims?.iat, label).toBe('number');
  for (const claim of ['sub', 'client_id', 'jti']) {
    expect(typeof claims?.[claim] === 'string' && claims[claim] !== '', `${label} (${claim})`).toBe(
      true,
    );
  }
  expect(String(claims?.scope).split(' '), label).toContain('read');
  const cnf = claims?.cnf as Record<string, unknown> | undefined;
  if (cnf !== undefined) {
    expect(cnf.jkt, label).toBeUndefined();
    expect(cnf['x5t#S256'], label).toBe(presentedThumbprint);
  }
}
