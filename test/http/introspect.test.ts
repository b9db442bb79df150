/**
 * POST /introspect (RFC 7662) through the real app with `inject()`: caller authentication with
 * Tollgate's methods, the active response with `cnf`, and `{"active": false}` for anything
 * expired, foreign, malformed or not an access token.
 */
import { createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { rawJws } from '../helpers/assertions.js';
import {
  form,
  formHeaders,
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

const sfBinary = (der: Uint8Array) => `:${Buffer.from(der).toString('base64')}:`;

describe('POST /introspect', () => {
  let tg: TestTollgate;
  let owner: JwtClient;
  let other: JwtClient;
  let stranger: JwtClient;
  let gateway: JwtClient;
  let cert: IssuedClientCertificate;
  let nowMs = Date.now();

  const assertionFor = (client: JwtClient) =>
    createClientAssertion({
      clientId: client.clientId,
      audience: testIssuer,
      key: client.key.privateJwk,
      nowSeconds: Math.floor(nowMs / 1000),
    });

  const issue = async (headers: Record<string, string> = {}) => {
    const res = await tg.app.inject({
      method: 'POST',
      url: '/token',
      headers: { ...formHeaders, ...headers },
      payload: form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await assertionFor(owner),
      }),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().access_token as string;
  };

  const introspect = async (
    params: Record<string, string | undefined>,
    caller: JwtClient | null = other,
  ) =>
    tg.app.inject({
      method: 'POST',
      url: '/introspect',
      headers: formHeaders,
      payload: form({
        ...(caller === null
          ? {}
          : {
              client_assertion_type: jwtBearerAssertionType,
              client_assertion: await assertionFor(caller),
            }),
        ...params,
      }),
    });

  /** Signs with Tollgate's own active key (read from the test folder), with any header. */
  const signWithServerKey = async (header: Record<string, unknown>, claims: JWTPayload) => {
    const file = JSON.parse(readFileSync(join(tg.dir, 'signing-keys.json'), 'utf8')) as {
      keys: JWK[];
    };
    const jwk = file.keys[0] as JWK;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid as string, ...header })
      .sign(await importJWK(jwk, 'ES256'));
  };

  /** Signs any header and claims with Tollgate's key (jose refuses some hostile headers). */
  const signRaw = async (header: Record<string, unknown>, claims: Record<string, unknown>) => {
    const file = JSON.parse(readFileSync(join(tg.dir, 'signing-keys.json'), 'utf8')) as {
      keys: JWK[];
    };
    const jwk = file.keys[0] as JWK;
    const fullHeader = Object.fromEntries(
      Object.entries({ alg: 'ES256', kid: jwk.kid, typ: 'at+jwt', ...header }).filter(
        ([, value]) => value !== undefined,
      ),
    );
    const body = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode(fullHeader)}.${encode(body)}`;
    const key = createPrivateKey({ key: jwk as JWK & { kty: string }, format: 'jwk' });
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };

  beforeAll(async () => {
    owner = await makeJwtClient('svc-owner');
    // A resource server: it serves the issuer's default audience and https://b.test.
    other = await makeJwtClient('svc-resource-server', 'ES256', {
      scope: 'introspect',
      served_resources: [testIssuer, 'https://b.test'],
    });
    stranger = await makeJwtClient('svc-stranger');
    gateway = await makeJwtClient('svc-gateway', 'ES256', { introspect_any_token: true });
    const ca = await createDevCa();
    cert = await ca.issueClient({ clientId: 'svc-owner' });
    tg = await makeTollgate({
      clients: [owner.metadata, other.metadata, stranger.metadata, gateway.metadata],
      // inject() peers are 127.0.0.1: trust it as a proxy to present a certificate by header.
      config: { proxy: { trustedCidrs: ['127.0.0.1/32'], certificateFormat: 'rfc9440' } },
      tollgate: { now: () => nowMs },
    });
  });
  afterAll(() => tg?.dispose());

  it('answers an active token with its claims, cnf and no-store', async () => {
    const token = await issue({ 'client-cert': sfBinary(cert.certDer) });
    const res = await introspect({ token, token_type_hint: 'access_token' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({
      active: true,
      scope: 'read write',
      client_id: 'svc-owner',
      sub: 'svc-owner',
      aud: testIssuer,
      iss: testIssuer,
      exp: expect.any(Number),
      iat: Math.floor(nowMs / 1000),
      jti: expect.any(String),
      token_type: 'Bearer',
      cnf: { 'x5t#S256': cert.x5tS256 },
    });
    expect(body.exp - body.iat).toBe(600);
  });

  it('an unbound token has no cnf', async () => {
    const res = await introspect({ token: await issue() });
    expect(res.json()).toMatchObject({ active: true, client_id: 'svc-owner' });
    expect(res.json()).not.toHaveProperty('cnf');
  });

  it('the token owner may introspect its own token', async () => {
    const token = await issue();
    expect((await introspect({ token }, owner)).json().active).toBe(true);
  });

  // Issue 12, attack 5: any registered client could introspect any token (an "is it live" oracle).
  it('a client that neither owns the token nor serves its audience learns nothing', async () => {
    const token = await issue();
    const res = await introspect({ token }, stranger);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ active: false });
    // The same token is live for its resource server and for an opted-in gateway.
    expect((await introspect({ token }, other)).json().active).toBe(true);
    expect((await introspect({ token }, gateway)).json().active).toBe(true);
  });

  it('an expired token is inactive', async () => {
    const token = await issue();
    const saved = nowMs;
    try {
      nowMs += 601_000;
      const res = await introspect({ token });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ active: false });
    } finally {
      nowMs = saved;
    }
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['two parts', 'eyJhbGciOiJFUzI1NiJ9.e30'],
    ['alg none', rawJws({ alg: 'none', typ: 'at+jwt' }, { iss: testIssuer }, '')],
  ])('a malformed token (%s) is inactive', async (_name, token) => {
    const res = await introspect({ token });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ active: false });
  });

  it('a tampered token (signature no longer matches) is inactive', async () => {
    const [header, payload, signature] = (await issue()).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.scope = 'admin';
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    expect((await introspect({ token: forged })).json()).toEqual({ active: false });
  });

  it('a foreign token (same kid, another key) is inactive', async () => {
    const [header] = (await issue()).split('.') as [string];
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString());
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = Math.floor(nowMs / 1000);
    const token = await new SignJWT({ client_id: 'svc-owner', jti: 'x', scope: 'read' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(testIssuer)
      .setSubject('svc-owner')
      .setAudience(testIssuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    expect((await introspect({ token })).json()).toEqual({ active: false });
  });

  it('our key but another issuer, or another typ, is inactive', async () => {
    const now = Math.floor(nowMs / 1000);
    const claims = {
      iss: testIssuer,
      sub: 'svc-owner',
      client_id: 'svc-owner',
      aud: testIssuer,
      iat: now,
      exp: now + 60,
      jti: 'j',
    };
    const good = await signWithServerKey({ typ: 'at+jwt' }, claims);
    expect((await introspect({ token: good })).json().active).toBe(true);
    const foreignIssuer = await signWithServerKey(
      { typ: 'at+jwt' },
      { ...claims, iss: 'https://elsewhere.test' },
    );
    expect((await introspect({ token: foreignIssuer })).json()).toEqual({ active: false });
    const idTokenLike = await signWithServerKey({ typ: 'JWT' }, claims);
    expect((await introspect({ token: idTokenLike })).json()).toEqual({ active: false });
  });

  it.each([
    ['nbf in the future', { nbf: 'future' }, {}],
    ['no exp', { exp: undefined }, {}],
    ['a string iat', { iat: 'yesterday' }, {}],
    ['no jti', { jti: undefined }, {}],
    ['a numeric sub', { sub: 7 }, {}],
    ['an empty aud list', { aud: [] }, {}],
    ['a scope list', { scope: ['read'] }, {}],
    ['cnf without x5t#S256', { cnf: { jkt: 'abc' } }, {}],
    ['crit', {}, { crit: ['exp'] }],
    ['another alg than its key', {}, { alg: 'ES384' }],
    ['no kid', {}, { kid: undefined }],
  ])('our signature over %s is inactive', async (_name, extra, header) => {
    const now = Math.floor(nowMs / 1000);
    const claims: Record<string, unknown> = {
      iss: testIssuer,
      sub: 'svc-owner',
      client_id: 'svc-owner',
      aud: testIssuer,
      iat: now,
      exp: now + 60,
      jti: 'j',
      ...extra,
    };
    if (claims.nbf === 'future') claims.nbf = now + 60;
    const token = await signRaw(header, claims);
    expect((await introspect({ token })).json()).toEqual({ active: false });
  });

  it('an audience list is answered as a list', async () => {
    const now = Math.floor(nowMs / 1000);
    const token = await signRaw(
      {},
      {
        iss: testIssuer,
        sub: 'svc-owner',
        client_id: 'svc-owner',
        aud: ['https://a.test', 'https://b.test'],
        iat: now,
        exp: now + 60,
        nbf: now,
        jti: 'list',
      },
    );
    expect((await introspect({ token })).json()).toMatchObject({
      active: true,
      aud: ['https://a.test', 'https://b.test'],
    });
  });

  it('an oversized token is inactive', async () => {
    expect((await introspect({ token: 'a'.repeat(9000) })).json()).toEqual({ active: false });
  });

  it('HS256 keyed with our public JWK (alg confusion) is inactive', async () => {
    const [header] = (await issue()).split('.') as [string];
    const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString());
    const now = Math.floor(nowMs / 1000);
    const claims = { iss: testIssuer, sub: 'svc-owner', client_id: 'svc-owner', aud: testIssuer };
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'HS256', typ: 'at+jwt', kid })}.${encode({ ...claims, iat: now, exp: now + 60, jti: 'h' })}`;
    const secret = JSON.stringify(tg.serverPublicJwks.keys[0]);
    const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    expect((await introspect({ token })).json()).toEqual({ active: false });
  });

  it('a caller that does not authenticate gets invalid_client', async () => {
    const res = await introspect({ token: await issue() }, null);
    expect(res.statusCode).toBe(401);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json().error).toBe('invalid_client');
  });

  it('a client secret or Basic header is refused like at the token endpoint', async () => {
    const res = await tg.app.inject({
      method: 'POST',
      url: '/introspect',
      headers: { ...formHeaders, authorization: 'Basic c3ZjOnNlY3JldA==' },
      payload: form({ token: 'x' }),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_client');
  });

  it('a missing token is invalid_request', async () => {
    const res = await introspect({});
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: 'invalid_request',
      error_description: 'token is required',
    });
  });

  it('a token sent twice is invalid_request', async () => {
    const assertion = await assertionFor(other);
    const res = await tg.app.inject({
      method: 'POST',
      url: '/introspect',
      headers: formHeaders,
      payload: `${form({ client_assertion_type: jwtBearerAssertionType, client_assertion: assertion })}&token=a&token=b`,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('a JSON body is invalid_request', async () => {
    const res = await tg.app.inject({
      method: 'POST',
      url: '/introspect',
      headers: { 'content-type': 'application/json' },
      payload: '{"token":"x"}',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('GET is 405 with Allow: POST', async () => {
    const res = await tg.app.inject({ method: 'GET', url: '/introspect?token=x' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
  });

  it('metadata advertises the endpoint and its authentication', async () => {
    const res = await tg.app.inject({
      method: 'GET',
      url: '/.well-known/oauth-authorization-server',
    });
    const metadata = res.json();
    expect(metadata).toMatchObject({
      introspection_endpoint: `${testIssuer}/introspect`,
      introspection_endpoint_auth_methods_supported: [
        'private_key_jwt',
        'tls_client_auth',
        'self_signed_tls_client_auth',
      ],
    });
    expect(metadata.introspection_endpoint_auth_signing_alg_values_supported).toEqual(
      metadata.token_endpoint_auth_signing_alg_values_supported,
    );
    expect(metadata.mtls_endpoint_aliases).toBeUndefined();
  });
});

describe('introspection metadata with an mTLS alias', () => {
  let tg: TestTollgate;
  afterAll(() => tg?.dispose());

  it('lists the introspection endpoint in mtls_endpoint_aliases', async () => {
    const client = await makeJwtClient('svc-alias');
    tg = await makeTollgate({
      clients: [client.metadata],
      config: { mtls: { enabled: true, port: 9444, publicUrl: 'https://mtls.tollgate.test' } },
    });
    const res = await tg.app.inject({
      method: 'GET',
      url: '/.well-known/oauth-authorization-server',
    });
    expect(res.json().mtls_endpoint_aliases).toEqual({
      token_endpoint: 'https://mtls.tollgate.test/token',
      introspection_endpoint: 'https://mtls.tollgate.test/introspect',
    });
  });
});
