/**
 * The tollgateResource plugin through `inject()`: how routes are protected, what the request
 * gets, and the RFC 6750 answers. Keys are local and the certificate source is injected; the
 * real-socket and proxy paths are in tls.test.ts.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PkiError, type PresentedCertificate } from '../../src/pki/index.js';
import { type TollgateResourceOptions, tollgateResource } from '../../src/resource/index.js';
import { generateKeyPairSync } from '../helpers/keys.js';

const issuer = 'https://tollgate.test';
const audience = 'https://api.test/orders';
const thumbprint = 'c'.repeat(43);
/** DPoP stays on (the challenges name it); its public origin is required. */
const dpop = { publicOrigin: 'https://api.test' };

describe('tollgateResource (inject)', () => {
  let app: FastifyInstance;
  let privateKey: KeyObject;
  let presented: string | undefined;
  let certificateFails = false;

  const mint = (extra: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: issuer,
      sub: 'svc-a',
      client_id: 'svc-a',
      aud: audience,
      iat: now,
      exp: now + 600,
      jti: randomUUID(),
      scope: 'read',
      ...extra,
    } as JWTPayload)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .sign(privateKey);
  };
  const get = async (url: string, token?: string, method: 'GET' | 'HEAD' = 'GET') =>
    app.inject({
      method,
      url,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  beforeAll(async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    privateKey = pair.privateKey;
    const publicJwk = { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1' };
    app = Fastify();
    await app.register(tollgateResource, {
      issuer,
      audience,
      jwks: createLocalJWKSet({ keys: [publicJwk] }),
      realm: 'orders',
      dpop,
      certificateSource: {
        fromRequest: () => {
          if (certificateFails) throw new PkiError('duplicate', 'twice');
          return presented === undefined
            ? undefined
            : ({ x5tS256: presented } as unknown as PresentedCertificate);
        },
      },
    });
    app.get('/open', async (request) => ({ token: request.accessToken }));
    app.get('/orders', { config: { tollgate: { scopes: ['read'] } } }, async (request) => ({
      client: request.accessToken?.clientId,
      scopes: [...(request.accessToken?.scopes ?? [])],
    }));
    app.get('/admin', { onRequest: app.tollgate.protect(['admin']) }, async () => ({ ok: true }));
    app.get('/strict', { config: { tollgate: { requireBinding: true } } }, async (request) => ({
      bound: request.accessToken?.certificateThumbprint,
    }));
    await app.register(async (child) => {
      child.get('/child', { config: { tollgate: {} } }, async () => ({ ok: true }));
    });
    await app.ready();
  });
  afterAll(() => app?.close());

  it('leaves routes without config.tollgate alone', async () => {
    const res = await get('/open');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ token: null });
  });

  it('lets a valid token through and decorates the request', async () => {
    const res = await get('/orders', await mint());
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ client: 'svc-a', scopes: ['read'] });
  });

  it('protects HEAD routes that Fastify derives from GET', async () => {
    expect((await get('/orders', undefined, 'HEAD')).statusCode).toBe(401);
    expect((await get('/orders', await mint(), 'HEAD')).statusCode).toBe(200);
  });

  it('protects routes in child contexts registered after it', async () => {
    expect((await get('/child')).statusCode).toBe(401);
    expect((await get('/child', await mint())).statusCode).toBe(200);
  });

  it('no token: 401 with a bare Bearer challenge and no body (RFC 6750 §3.1)', async () => {
    const res = await get('/orders');
    expect(res.statusCode).toBe(401);
    // RFC 9449 §7.1: beside Bearer, a DPoP challenge names the accepted proof algorithms.
    expect(res.headers['www-authenticate']).toEqual([
      'Bearer realm="orders"',
      'DPoP realm="orders", algs="ES256 ES384 ES512 PS256 EdDSA Ed25519"',
    ]);
    expect(res.body).toBe('');
  });

  it('a bad token: 401 invalid_token with a challenge and a JSON body', async () => {
    const res = await get('/orders', await mint({ aud: 'https://api.test/billing' }));
    expect(res.statusCode).toBe(401);
    // RFC 9449 §7.2 (Figure 18): the error in the Bearer challenge, DPoP's algs beside it.
    expect(res.headers['www-authenticate']).toEqual([
      'Bearer realm="orders", error="invalid_token", error_description="the access token is not meant for this resource"',
      'DPoP realm="orders", algs="ES256 ES384 ES512 PS256 EdDSA Ed25519"',
    ]);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json()).toEqual({
      error: 'invalid_token',
      error_description: 'the access token is not meant for this resource',
    });
  });

  it('missing scope: 403 insufficient_scope naming the scope', async () => {
    const res = await get('/admin', await mint());
    expect(res.statusCode).toBe(403);
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin"$/);
    expect(res.json().error).toBe('insufficient_scope');
  });

  it('a malformed Authorization header: 400 invalid_request', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/orders',
      headers: { authorization: 'Bearer a b' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('a token in the query string: 400, never accepted', async () => {
    const res = await get(`/orders?access_token=${await mint()}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().error_description).toMatch(/Authorization header/);
  });

  it('binding: matching certificate passes, another fails, none fails', async () => {
    const token = await mint({ cnf: { 'x5t#S256': thumbprint } });
    try {
      presented = thumbprint;
      expect((await get('/orders', token)).statusCode).toBe(200);
      presented = 'd'.repeat(43);
      const other = await get('/orders', token);
      expect(other.statusCode).toBe(401);
      expect(other.json().error_description).toMatch(/different client certificate/);
      presented = undefined;
      expect((await get('/orders', token)).statusCode).toBe(401);
    } finally {
      presented = undefined;
    }
  });

  it('requireBinding per route refuses an unbound token', async () => {
    const res = await get('/strict', await mint());
    expect(res.statusCode).toBe(401);
    expect(res.json().error_description).toMatch(
      /only sender-constrained \(certificate- or DPoP-bound\)/,
    );
  });

  it('an unreadable certificate header: 400 invalid_request', async () => {
    certificateFails = true;
    try {
      const res = await get('/orders', await mint());
      expect(res.statusCode).toBe(400);
      expect(res.json().error_description).toMatch(/more than once/);
    } finally {
      certificateFails = false;
    }
  });

  it('keys that cannot be fetched: 503 with Retry-After and no challenge', async () => {
    const failing = Fastify();
    await failing.register(tollgateResource, {
      issuer,
      audience,
      jwks: async () => {
        throw new TypeError('fetch failed');
      },
      retryAfterSeconds: 7,
      dpop,
    });
    failing.get('/x', { config: { tollgate: {} } }, async () => ({}));
    const res = await failing.inject({
      method: 'GET',
      url: '/x',
      headers: { authorization: `Bearer ${await mint()}` },
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('7');
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(res.json().error).toBe('temporarily_unavailable');
    await failing.close();
  });

  it.each<[string, unknown, RegExp]>([
    ['no issuer', { issuer: '', audience, dpop }, /issuer is required/],
    ['no audience', { issuer, audience: [], dpop }, /audience is required/],
    ['alg none allowed', { issuer, audience, algorithms: ['none'], dpop }, /"none"/],
    ['an http jwks_uri', { issuer, audience, jwksUri: 'http://tollgate.test/jwks', dpop }, /https/],
    ['a bad proxy CIDR', { issuer, audience, trustedProxies: ['10.0.0.0/99'], dpop }, /10\.0/],
    // RFC 9449 §4.3 check 9: no origin may come from the request, so DPoP without one stops.
    [
      'DPoP accepted (the default) and no dpop.publicOrigin',
      { issuer, audience, jwks: createLocalJWKSet({ keys: [] }) },
      /^tollgateResource: dpop\.publicOrigin is required while DPoP is accepted: set it to the origin clients call this API at \(https:\/\/api\.example\.com, or a list of them\), or set dpop\.enabled: false$/,
    ],
    [
      'dpop.enabled: true and no dpop.publicOrigin',
      { issuer, audience, jwks: createLocalJWKSet({ keys: [] }), dpop: { enabled: true } },
      /dpop\.publicOrigin is required/,
    ],
    ...(
      [
        ['a path', 'https://api.test/orders'],
        ['a query', 'https://api.test/?x=1'],
        ['user information', 'https://user@api.test'],
        ['another scheme', 'wss://api.test'],
        ['no URL', 'api.test'],
      ] as const
    ).map(
      ([what, origin]) =>
        [
          `a dpop.publicOrigin with ${what}`,
          {
            issuer,
            audience,
            jwks: createLocalJWKSet({ keys: [] }),
            dpop: { publicOrigin: origin },
          },
          /dpop\.publicOrigin must be an origin like https:\/\/api\.example\.com/,
        ] as [string, unknown, RegExp],
    ),
    [
      'an empty dpop.publicOrigin list',
      { issuer, audience, jwks: createLocalJWKSet({ keys: [] }), dpop: { publicOrigin: [] } },
      /one origin or a list of 1 to 8/,
    ],
    [
      'nine public origins',
      {
        issuer,
        audience,
        jwks: createLocalJWKSet({ keys: [] }),
        dpop: { publicOrigin: Array.from({ length: 9 }, (_, i) => `https://api${i}.test`) },
      },
      /one origin or a list of 1 to 8/,
    ],
  ])('refuses to start with %s', async (_name, options, message) => {
    const broken = Fastify();
    const registering = broken.register(tollgateResource, options as TollgateResourceOptions);
    await expect(registering.ready()).rejects.toThrow(TypeError);
    await expect(registering.ready()).rejects.toThrow(message);
    await broken.close();
  });

  it('starts with DPoP off and no public origin, and then takes Bearer only', async () => {
    const bearerOnly = Fastify();
    await bearerOnly.register(tollgateResource, {
      issuer,
      audience,
      jwks: createLocalJWKSet({ keys: [] }),
      dpop: { enabled: false },
    });
    bearerOnly.get('/x', { config: { tollgate: {} } }, async () => ({}));
    const res = await bearerOnly.inject({ method: 'GET', url: '/x' });
    expect(res.headers['www-authenticate']).toBe('Bearer');
    await bearerOnly.close();
  });
});
