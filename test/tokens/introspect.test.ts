/**
 * Introspection of tokens signed with our own keys whose claims are off: such tokens are never
 * minted, but a signature alone must not make them active.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generateSigningJwk,
  prepareSigningKeys,
  type SigningKeySet,
  TokenIntrospector,
} from '../../src/tokens/index.js';

const issuer = 'https://tollgate.test';

describe('TokenIntrospector', () => {
  let keys: SigningKeySet;
  let introspector: TokenIntrospector;
  const nowMs = Date.UTC(2030, 0, 1);
  const nowSeconds = nowMs / 1000;
  beforeAll(async () => {
    const jwk = await generateSigningJwk('ES256');
    keys = prepareSigningKeys({ active_kid: jwk.kid, keys: [jwk] }, 'ES256');
    introspector = new TokenIntrospector({ issuer, publicKeys: () => keys.publicKeys });
  });

  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: issuer,
    sub: 'svc',
    client_id: 'svc',
    aud: 'https://api.test',
    iat: nowSeconds,
    exp: nowSeconds + 60,
    jti: randomUUID(),
    ...extra,
  });

  it('returns the certificate binding of a bound token', () => {
    const token = keys.signer.sign(claims({ cnf: { 'x5t#S256': 'abc' }, scope: 'read' }));
    expect(introspector.introspect(token, nowMs)).toMatchObject({
      active: true,
      scope: 'read',
      cnf: { 'x5t#S256': 'abc' },
      token_type: 'Bearer',
    });
  });

  it('returns token_type DPoP and cnf.jkt for a DPoP-bound token (RFC 9449 §6.2)', () => {
    const token = keys.signer.sign(claims({ cnf: { jkt: 'thumb' } }));
    expect(introspector.introspect(token, nowMs)).toMatchObject({
      active: true,
      cnf: { jkt: 'thumb' },
      token_type: 'DPoP',
    });
  });

  it.each([
    ['a string cnf', { cnf: 'abc' }],
    ['a null cnf', { cnf: null }],
    ['a cnf with neither x5t#S256 nor jkt', { cnf: { kid: 'abc' } }],
    ['a cnf with both x5t#S256 and jkt', { cnf: { jkt: 'abc', 'x5t#S256': 'def' } }],
    ['an empty aud array', { aud: [] }],
    ['a numeric scope', { scope: 1 }],
    ['an nbf in the future', { nbf: nowSeconds + 1 }],
  ])('is inactive for %s, even with our signature', (_name, extra) => {
    expect(introspector.introspect(keys.signer.sign(claims(extra)), nowMs)).toEqual({
      active: false,
    });
  });
});
