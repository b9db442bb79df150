/**
 * private_key_jwt, one test per accept/reject rule of DESIGN.md §3 (RFC 7523, RFC 8725,
 * rfc7523bis), through the real Fastify app with `inject()`.
 */
import { createHmac, createPrivateKey, sign } from 'node:crypto';
import { createLocalJWKSet, exportJWK, type JWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { isReplayRejection } from '../../src/client/retry.js';
import { generateSigningJwk } from '../../src/dev-ca/index.js';
import { MemoryReplayStore } from '../../src/replay/index.js';
import { rawJws, signAssertion, standardClaims } from '../helpers/assertions.js';
import { makeProof, makeProofKey } from '../helpers/dpop.js';
import { generateKeyPairSync } from '../helpers/keys.js';
import {
  form,
  formHeaders,
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

const tokenEndpoint = `${testIssuer}/token`;
const future = new Date(Date.now() + 86_400_000).toISOString();
const past = new Date(Date.now() - 86_400_000).toISOString();

describe('private_key_jwt', () => {
  let tg: TestTollgate;
  let es256: JwtClient;
  let legacy: JwtClient;
  let legacyExpired: JwtClient;
  let pinnedAlg: JwtClient;
  let shortLifetime: JwtClient;
  let noGrant: JwtClient;
  let resources: JwtClient;
  const byAlg = new Map<string, JwtClient>();

  beforeAll(async () => {
    es256 = await makeJwtClient('svc-es256');
    legacy = await makeJwtClient('svc-legacy', 'ES256', { legacy_audience: { until: future } });
    legacyExpired = await makeJwtClient('svc-legacy-expired', 'ES256', {
      legacy_audience: { until: past },
    });
    pinnedAlg = await makeJwtClient('svc-pinned', 'ES256', {
      token_endpoint_auth_signing_alg: 'ES256',
    });
    shortLifetime = await makeJwtClient('svc-short', 'ES256', { max_assertion_lifetime: 30 });
    noGrant = await makeJwtClient('svc-no-grant', 'ES256', {
      grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
    });
    resources = await makeJwtClient('svc-resources', 'ES256', {
      allowed_resources: ['https://api.test/orders', 'https://api.test/billing'],
    });
    for (const alg of ['ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'] as const) {
      byAlg.set(alg, await makeJwtClient(`svc-${alg.toLowerCase()}`, alg));
    }
    tg = await makeTollgate({
      clients: [
        es256,
        legacy,
        legacyExpired,
        pinnedAlg,
        shortLifetime,
        noGrant,
        resources,
        ...byAlg.values(),
      ].map((client) => client.metadata),
      // A server that has been up for an hour: its replay record covers every assertion these
      // tests sign. The restart fence has its own suite below.
      tollgate: {
        replayStore: new MemoryReplayStore({
          maxEntries: 10_000,
          startedAtMs: Date.now() - 3_600_000,
        }),
      },
    });
  });
  afterAll(() => tg.dispose());

  const post = (payload: string, headers: Record<string, string> = formHeaders) =>
    tg.app.inject({ method: 'POST', url: '/token', headers, payload });
  const withAssertion = (
    assertion: string,
    extra: Record<string, string | string[] | undefined> = {},
  ) =>
    post(
      form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
        ...extra,
      }),
    );
  const expectError = async (
    response: Awaited<ReturnType<typeof post>>,
    status: number,
    error: string,
    description?: RegExp,
  ) => {
    expect(response.statusCode, response.body).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers.pragma).toBe('no-cache');
    const body = response.json();
    expect(body.error).toBe(error);
    expect(typeof body.error_description).toBe('string');
    expect(body.error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
    if (description !== undefined) expect(body.error_description).toMatch(description);
  };

  describe('accepts', () => {
    it('issues an RFC 9068 token whose every claim checks out against /jwks', async () => {
      const before = Math.floor(Date.now() / 1000);
      const response = await withAssertion(
        await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer),
      );
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers.pragma).toBe('no-cache');
      const body = response.json();
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'expires_in',
        'scope',
        'token_type',
      ]);
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'read write' });

      const jwks = await tg.app.inject({ method: 'GET', url: '/jwks' });
      expect(jwks.statusCode).toBe(200);
      for (const key of jwks.json().keys) expect(key).not.toHaveProperty('d');
      const { payload, protectedHeader } = await jwtVerify(
        body.access_token,
        createLocalJWKSet(jwks.json()),
        {
          issuer: testIssuer,
          audience: testIssuer,
          typ: 'at+jwt',
          algorithms: ['ES256'],
          requiredClaims: ['iss', 'sub', 'client_id', 'aud', 'iat', 'exp', 'jti'],
        },
      );
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(protectedHeader.kid).toBe(tg.serverPublicJwks.keys[0]?.kid);
      expect(payload.sub).toBe(es256.clientId);
      expect(payload.client_id).toBe(es256.clientId);
      expect(payload.scope).toBe('read write');
      expect(payload.iat).toBeGreaterThanOrEqual(before);
      expect((payload.exp as number) - (payload.iat as number)).toBe(600);
      expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
      expect(payload).not.toHaveProperty('cnf');
    });

    it.each(['ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'])(
      'accepts %s client keys',
      async (alg) => {
        const client = byAlg.get(alg) as JwtClient;
        const response = await withAssertion(
          await signAssertion(client.key.privateJwk, client.clientId, testIssuer),
        );
        expect(response.statusCode, response.body).toBe(200);
      },
    );

    it('accepts aud as an array holding only the issuer', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { aud: [testIssuer] },
      });
      expect((await withAssertion(assertion)).statusCode).toBe(200);
    });

    it('accepts typ JWT and an absent typ', async () => {
      for (const typ of ['JWT', undefined]) {
        const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
          header: { typ },
        });
        expect((await withAssertion(assertion)).statusCode).toBe(200);
      }
    });

    it('accepts an assertion without kid by trying the registered keys', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        header: { kid: undefined },
      });
      expect((await withAssertion(assertion)).statusCode).toBe(200);
    });

    it('accepts iat and nbf up to 10 s ahead', async () => {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iat: now + 10, nbf: now + 10, exp: now + 70 },
      });
      expect((await withAssertion(assertion)).statusCode).toBe(200);
    });

    it('accepts an assertion without iat when exp is within the lifetime', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iat: undefined },
      });
      expect((await withAssertion(assertion)).statusCode).toBe(200);
    });

    it('accepts a client_id parameter equal to sub', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      expect((await withAssertion(assertion, { client_id: es256.clientId })).statusCode).toBe(200);
    });

    it('accepts the token endpoint URL as aud for a client with an unexpired legacy_audience', async () => {
      const assertion = await signAssertion(legacy.key.privateJwk, legacy.clientId, tokenEndpoint);
      expect((await withAssertion(assertion)).statusCode).toBe(200);
    });
  });

  describe('rejects', () => {
    it('alg none', async () => {
      const assertion = rawJws(
        { alg: 'none', typ: 'JWT' },
        standardClaims(es256.clientId, testIssuer),
        '',
      );
      // An empty signature part is not a compact JWS we accept either way.
      await expectError(await withAssertion(assertion), 401, 'invalid_client');
      const withSig = rawJws({ alg: 'none' }, standardClaims(es256.clientId, testIssuer), 'AAAA');
      await expectError(await withAssertion(withSig), 401, 'invalid_client', /alg/);
    });

    it('HS256 signed with the public key bytes (algorithm confusion)', async () => {
      const header = { alg: 'HS256', typ: 'JWT', kid: es256.key.kid };
      const claims = standardClaims(es256.clientId, testIssuer);
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      for (const secret of [JSON.stringify(es256.key.publicJwk), es256.key.publicJwk.x as string]) {
        const signature = createHmac('sha256', secret).update(input).digest('base64url');
        await expectError(
          await withAssertion(`${input}.${signature}`),
          401,
          'invalid_client',
          /alg/,
        );
      }
    });

    it('an embedded jwk, x5c, jku or x5u header is never used to verify', async () => {
      const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const attackerJwk = { ...(await exportJWK(attacker.publicKey)), alg: 'ES256' };
      for (const header of [
        { jwk: attackerJwk },
        { jku: 'https://attacker.test/jwks' },
        { x5u: 'https://attacker.test/cert.pem' },
        { x5c: ['MIIBszCCAVmgAwIBAgIU'] },
      ]) {
        const assertion = await new SignJWT(standardClaims(es256.clientId, testIssuer))
          .setProtectedHeader({ alg: 'ES256', ...header })
          .sign(attacker.privateKey);
        await expectError(await withAssertion(assertion), 401, 'invalid_client', /signature/);
      }
    });

    it('an unknown kid', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        header: { kid: 'no-such-key' },
      });
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /kid/);
    });

    it('a signature by another key under the registered kid', async () => {
      const other = await generateSigningJwk('ES256');
      const assertion = await signAssertion(
        { ...other.privateJwk, kid: es256.key.kid },
        es256.clientId,
        testIssuer,
      );
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /signature/);
    });

    it('the token endpoint URL as aud without legacy_audience', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, tokenEndpoint);
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /aud/);
    });

    it('the token endpoint URL as aud when legacy_audience has expired', async () => {
      const assertion = await signAssertion(
        legacyExpired.key.privateJwk,
        legacyExpired.clientId,
        tokenEndpoint,
      );
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /aud/);
    });

    it('aud arrays with two values, even when one is the issuer', async () => {
      for (const aud of [
        [testIssuer, 'https://other.test'],
        [testIssuer, tokenEndpoint],
        [testIssuer, testIssuer],
      ]) {
        const assertion = await signAssertion(legacy.key.privateJwk, legacy.clientId, testIssuer, {
          claims: { aud },
        });
        await expectError(await withAssertion(assertion), 401, 'invalid_client', /aud/);
      }
    });

    it('a foreign aud, an empty array and a missing aud', async () => {
      for (const aud of ['https://other.test', [], undefined, `${testIssuer}/`]) {
        const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
          claims: { aud },
        });
        await expectError(await withAssertion(assertion), 401, 'invalid_client', /aud/);
      }
    });

    it('names the token endpoint URL and legacy_audience only when aud is that URL', async () => {
      const sent = async (aud: unknown) =>
        withAssertion(
          await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
            claims: { aud },
          }),
        );
      await expectError(
        await sent(tokenEndpoint),
        401,
        'invalid_client',
        /as its only value, not the token endpoint URL .*legacy_audience/,
      );
      for (const aud of ['https://other.test', [testIssuer, 'https://other.test']]) {
        await expectError(await sent(aud), 401, 'invalid_client', /as its only value$/);
      }
    });

    it('iss different from sub', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iss: 'someone-else' },
      });
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /iss/);
    });

    it('a replayed assertion, saying so', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      expect((await withAssertion(assertion)).statusCode).toBe(200);
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /replayed/);
    });

    it('20 concurrent uses of one assertion yield exactly one token', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => withAssertion(assertion)),
      );
      const statuses = responses.map((response) => response.statusCode).sort();
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 401)).toHaveLength(19);
    });

    it('a lifetime longer than the maximum, server-wide and per client', async () => {
      const now = Math.floor(Date.now() / 1000);
      const long = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iat: now, exp: now + 301 },
      });
      await expectError(await withAssertion(long), 401, 'invalid_client', /lifetime/);
      const noIat = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iat: undefined, exp: now + 400 },
      });
      await expectError(await withAssertion(noIat), 401, 'invalid_client', /lifetime/);
      const perClient = await signAssertion(
        shortLifetime.key.privateJwk,
        shortLifetime.clientId,
        testIssuer,
        {
          claims: { iat: now, exp: now + 31 },
        },
      );
      await expectError(await withAssertion(perClient), 401, 'invalid_client', /30 seconds/);
    });

    it('iat or nbf beyond the clock tolerance in the future', async () => {
      // 40 s ahead, not 31: a second passing between signing and checking (a busy machine) must
      // not bring the value back inside the 30 s tolerance.
      const now = Math.floor(Date.now() / 1000);
      const iat = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iat: now + 40, exp: now + 90 },
      });
      await expectError(await withAssertion(iat), 401, 'invalid_client', /iat/);
      const nbf = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { nbf: now + 40, exp: now + 60 },
      });
      await expectError(await withAssertion(nbf), 401, 'invalid_client', /nbf/);
    });

    it('an expired assertion, and one without exp or jti', async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { iat: now - 100, exp: now - 31 },
      });
      await expectError(await withAssertion(expired), 401, 'invalid_client', /expired/);
      const noExp = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { exp: undefined },
      });
      await expectError(await withAssertion(noExp), 401, 'invalid_client', /exp/);
      const noJti = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { jti: undefined },
      });
      await expectError(await withAssertion(noJti), 401, 'invalid_client', /jti/);
      const stringExp = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { exp: String(now + 60) },
      });
      await expectError(await withAssertion(stringExp), 401, 'invalid_client', /exp/);
    });

    it('a wrong typ and any crit header', async () => {
      const typ = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        header: { typ: 'at+jwt' },
      });
      await expectError(await withAssertion(typ), 401, 'invalid_client', /typ/);
      // jose refuses to sign an unknown crit, so sign by hand.
      const header = { alg: 'ES256', kid: es256.key.kid, crit: ['exp'], exp: 1 };
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(standardClaims(es256.clientId, testIssuer))).toString('base64url')}`;
      const key = createPrivateKey({
        key: es256.key.privateJwk as JWK & { kty: string },
        format: 'jwk',
      });
      const crit = `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      await expectError(await withAssertion(crit), 401, 'invalid_client', /crit/);
    });

    it('an alg other than the client registered, and an alg the key does not fit', async () => {
      const otherAlgKey = await generateSigningJwk('ES384');
      const pinned = await signAssertion(
        { ...otherAlgKey.privateJwk, kid: pinnedAlg.key.kid },
        pinnedAlg.clientId,
        testIssuer,
      );
      await expectError(await withAssertion(pinned), 401, 'invalid_client', /ES256/);
      // ES384 claimed in the header, but the registered key is P-256.
      const header = { alg: 'ES384', kid: es256.key.kid };
      const forged = rawJws(
        header,
        standardClaims(es256.clientId, testIssuer),
        Buffer.alloc(96, 1),
      );
      await expectError(await withAssertion(forged), 401, 'invalid_client');
    });

    it('an unknown client and a malformed assertion', async () => {
      const unknown = await signAssertion(es256.key.privateJwk, 'nobody', testIssuer);
      await expectError(await withAssertion(unknown), 401, 'invalid_client', /unknown client/);
      for (const junk of [
        'a.b',
        'not-a-jwt',
        'a.b.c.d',
        '..',
        'e30.e30.',
        `${'!'.repeat(10)}.e30.AA`,
      ]) {
        await expectError(await withAssertion(junk), 401, 'invalid_client');
      }
    });

    it('a wrong client_assertion_type, and a missing client_assertion', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      await expectError(
        await post(
          form({
            grant_type: 'client_credentials',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
            client_assertion: assertion,
          }),
        ),
        401,
        'invalid_client',
        /client_assertion_type/,
      );
      await expectError(
        await post(
          form({ grant_type: 'client_credentials', client_assertion_type: jwtBearerAssertionType }),
        ),
        400,
        'invalid_request',
        /client_assertion/,
      );
    });

    it('a client_id parameter that differs from sub', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      await expectError(
        await withAssertion(assertion, { client_id: 'svc-pinned' }),
        401,
        'invalid_client',
        /client_id/,
      );
    });

    it('an oversized assertion', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
        claims: { pad: 'x'.repeat(9000) },
      });
      await expectError(await withAssertion(assertion), 401, 'invalid_client', /larger/);
    });
  });

  describe('the request', () => {
    it('a duplicated parameter is invalid_request', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      const body = `${form({ grant_type: 'client_credentials', client_assertion_type: jwtBearerAssertionType, client_assertion: assertion })}&grant_type=client_credentials`;
      await expectError(await post(body), 400, 'invalid_request', /more than once/);
      const twoAssertions = `${form({ grant_type: 'client_credentials', client_assertion_type: jwtBearerAssertionType, client_assertion: assertion })}&client_assertion=${assertion}`;
      await expectError(await post(twoAssertions), 400, 'invalid_request', /more than once/);
    });

    it('a body that is not application/x-www-form-urlencoded is invalid_request', async () => {
      const assertion = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer);
      const json = JSON.stringify({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      });
      await expectError(
        await post(json, { 'content-type': 'application/json' }),
        400,
        'invalid_request',
        /x-www-form-urlencoded/,
      );
      await expectError(
        await post('grant_type=client_credentials', { 'content-type': 'text/plain' }),
        400,
        'invalid_request',
      );
      await expectError(await post('', {}), 400, 'invalid_request');
    });

    it('malformed percent-encoding is invalid_request', async () => {
      await expectError(
        await post('grant_type=client_credentials&client_id=%ZZ'),
        400,
        'invalid_request',
        /percent/,
      );
    });

    it('GET and other methods get 405 with Allow: POST', async () => {
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        const response = await tg.app.inject({ method, url: '/token' });
        expect(response.statusCode).toBe(405);
        expect(response.headers.allow).toBe('POST');
        expect(response.json().error).toBe('invalid_request');
        expect(response.headers['cache-control']).toBe('no-store');
      }
    });

    it('a client_secret is refused, naming the supported methods', async () => {
      await expectError(
        await post(
          form({
            grant_type: 'client_credentials',
            client_id: es256.clientId,
            client_secret: 'hunter2',
          }),
        ),
        401,
        'invalid_client',
        /private_key_jwt/,
      );
    });

    it('a Basic header gets 401 with a matching WWW-Authenticate', async () => {
      const response = await post(form({ grant_type: 'client_credentials' }), {
        ...formHeaders,
        authorization: `Basic ${Buffer.from(`${es256.clientId}:secret`).toString('base64')}`,
      });
      await expectError(response, 401, 'invalid_client', /Basic/);
      expect(response.headers['www-authenticate']).toMatch(/^Basic realm=/);
    });

    it('no client authentication at all is invalid_client', async () => {
      await expectError(
        await post(form({ grant_type: 'client_credentials' })),
        401,
        'invalid_client',
      );
      await expectError(
        await post(form({ grant_type: 'client_credentials', client_id: es256.clientId })),
        401,
        'invalid_client',
        /private_key_jwt/,
      );
    });

    it('a body over the limit is refused with 413', async () => {
      const response = await post(`grant_type=client_credentials&pad=${'x'.repeat(20_000)}`);
      expect(response.statusCode).toBe(413);
      expect(response.json().error).toBe('invalid_request');
    });
  });

  describe('grant checks after authentication', () => {
    const assertionFor = (client: JwtClient) =>
      signAssertion(client.key.privateJwk, client.clientId, testIssuer);

    it('a missing grant_type is invalid_request; another grant is unsupported_grant_type', async () => {
      const missing = form({
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await assertionFor(es256),
      });
      await expectError(await post(missing), 400, 'invalid_request', /grant_type/);
      const password = form({
        grant_type: 'password',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await assertionFor(es256),
      });
      await expectError(await post(password), 400, 'unsupported_grant_type');
    });

    it('a client not registered for client_credentials is unauthorized_client', async () => {
      await expectError(
        await withAssertion(await assertionFor(noGrant)),
        400,
        'unauthorized_client',
      );
    });

    it('scope: a subset is granted, a superset is invalid_scope, an empty value means the default', async () => {
      const subset = await withAssertion(await assertionFor(es256), { scope: 'read' });
      expect(subset.statusCode).toBe(200);
      expect(subset.json().scope).toBe('read');
      await expectError(
        await withAssertion(await assertionFor(es256), { scope: 'read admin' }),
        400,
        'invalid_scope',
      );
      await expectError(
        await withAssertion(await assertionFor(es256), { scope: 'read\tadmin' }),
        400,
        'invalid_scope',
      );
      const empty = await withAssertion(await assertionFor(es256), { scope: '' });
      expect(empty.json().scope).toBe('read write');
    });

    it('resource: allowed ones become aud, others are invalid_target', async () => {
      const one = await withAssertion(await assertionFor(resources), {
        resource: 'https://api.test/orders',
      });
      expect(one.statusCode, one.body).toBe(200);
      const claims = JSON.parse(
        Buffer.from(one.json().access_token.split('.')[1], 'base64url').toString(),
      );
      expect(claims.aud).toBe('https://api.test/orders');

      const two = await withAssertion(await assertionFor(resources), {
        resource: ['https://api.test/orders', 'https://api.test/billing'],
      });
      expect(two.statusCode, two.body).toBe(200);
      const both = JSON.parse(
        Buffer.from(two.json().access_token.split('.')[1], 'base64url').toString(),
      );
      expect(both.aud).toEqual(['https://api.test/orders', 'https://api.test/billing']);

      await expectError(
        await withAssertion(await assertionFor(resources), { resource: 'https://api.test/admin' }),
        400,
        'invalid_target',
      );
      await expectError(
        await withAssertion(await assertionFor(resources), { resource: '/relative' }),
        400,
        'invalid_target',
      );
      await expectError(
        await withAssertion(await assertionFor(resources), {
          resource: 'https://api.test/orders#frag',
        }),
        400,
        'invalid_target',
      );
      await expectError(
        await withAssertion(await assertionFor(es256), { resource: 'https://api.test/orders' }),
        400,
        'invalid_target',
      );
    });

    it('without resource, aud is the issuer', async () => {
      const response = await withAssertion(await assertionFor(es256));
      const claims = JSON.parse(
        Buffer.from(response.json().access_token.split('.')[1], 'base64url').toString(),
      );
      expect(claims.aud).toBe(testIssuer);
    });
  });
});

describe('private_key_jwt under the fapi2 profile', () => {
  let tg: TestTollgate;
  let rs256: JwtClient;
  let ps256: JwtClient;
  let es256: JwtClient;
  beforeAll(async () => {
    rs256 = await makeJwtClient('fapi-rs256', 'RS256');
    ps256 = await makeJwtClient('fapi-ps256', 'PS256');
    es256 = await makeJwtClient('fapi-es256', 'ES256');
    tg = await makeTollgate({
      clients: [rs256.metadata, ps256.metadata, es256.metadata],
      config: { profile: 'fapi2' },
    });
  });
  afterAll(() => tg.dispose());
  // fapi2 issues sender-constrained tokens only: these requests carry a DPoP proof.
  const send = async (assertion: string) =>
    tg.app.inject({
      method: 'POST',
      url: '/token',
      headers: {
        ...formHeaders,
        dpop: await makeProof(await makeProofKey('ES256'), { htu: `${testIssuer}/token` }),
      },
      payload: form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      }),
    });

  it('narrows algorithms to PS256, ES256 and EdDSA', async () => {
    expect(
      (await send(await signAssertion(ps256.key.privateJwk, ps256.clientId, testIssuer)))
        .statusCode,
    ).toBe(200);
    expect(
      (await send(await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer)))
        .statusCode,
    ).toBe(200);
    const refused = await send(
      await signAssertion(rs256.key.privateJwk, rs256.clientId, testIssuer),
    );
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error_description).toMatch(/PS256, ES256, EdDSA/);
  });

  it('publishes the narrowed list in metadata', async () => {
    const metadata = (
      await tg.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
    ).json();
    expect(metadata.token_endpoint_auth_signing_alg_values_supported).toEqual([
      'PS256',
      'ES256',
      'EdDSA',
      'Ed25519',
    ]);
  });

  it('accepts iat 10 s ahead and rejects 61 s ahead', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ok = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
      claims: { iat: now + 10, exp: now + 70 },
    });
    expect((await send(ok)).statusCode).toBe(200);
    const tooFar = await signAssertion(es256.key.privateJwk, es256.clientId, testIssuer, {
      claims: { iat: now + 61, exp: now + 120 },
    });
    expect((await send(tooFar)).statusCode).toBe(401);
  });
});

describe('replay store at its bound', () => {
  it('fails closed with 503 temporarily_unavailable and Retry-After, never evicting', async () => {
    const client = await makeJwtClient('svc-bound');
    const tg = await makeTollgate({
      clients: [client.metadata],
      // One client may use the whole store here: the bound itself is under test.
      config: { replay: { store: 'memory', maxEntries: 2, maxClientShare: 1 } },
    });
    try {
      const send = async () =>
        tg.app.inject({
          method: 'POST',
          url: '/token',
          headers: formHeaders,
          payload: form({
            grant_type: 'client_credentials',
            client_assertion_type: jwtBearerAssertionType,
            client_assertion: await signAssertion(
              client.key.privateJwk,
              client.clientId,
              testIssuer,
            ),
          }),
        });
      expect((await send()).statusCode).toBe(200);
      expect((await send()).statusCode).toBe(200);
      const full = await send();
      expect(full.statusCode).toBe(503);
      expect(full.json().error).toBe('temporarily_unavailable');
      expect(Number(full.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await tg.dispose();
    }
  });
});

describe('private_key_jwt after a restart: the memory replay store fences its start', () => {
  let client: JwtClient;
  let tg: TestTollgate;
  let startedAtMs: number;
  beforeAll(async () => {
    client = await makeJwtClient('svc-restarted');
    startedAtMs = Date.now();
    // Whatever this server's predecessor accepted, it no longer knows: its record starts now.
    tg = await makeTollgate({
      clients: [client.metadata],
      tollgate: { replayStore: new MemoryReplayStore({ maxEntries: 100, startedAtMs }) },
    });
  });
  afterAll(() => tg.dispose());
  const token = (assertion: string) =>
    tg.app.inject({
      method: 'POST',
      url: '/token',
      headers: formHeaders,
      payload: form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      }),
    });
  const startSeconds = () => Math.floor(startedAtMs / 1000);

  it('refuses an assertion issued before the store started, telling the client to send a fresh one', async () => {
    const iat = startSeconds() - 5;
    const assertion = await signAssertion(client.key.privateJwk, client.clientId, testIssuer, {
      claims: { iat, exp: iat + 120 },
    });
    const response = await token(assertion);
    expect(response.statusCode, response.body).toBe(401);
    const body = response.json();
    expect(body.error).toBe('invalid_client');
    // "replay" is what clients (the SDK among them) key their one fresh retry on.
    expect(body.error_description).toMatch(/replay/);
    expect(body.error_description).toMatch(/send a freshly signed assertion/);
    expect(isReplayRejection(body.error, body.error_description)).toBe(true);
  });

  it('accepts an assertion issued in the second the store started, or later', async () => {
    for (const iat of [startSeconds(), Math.floor(Date.now() / 1000)]) {
      const assertion = await signAssertion(client.key.privateJwk, client.clientId, testIssuer, {
        claims: { iat, exp: iat + 120 },
      });
      expect((await token(assertion)).statusCode).toBe(200);
    }
  });

  it('without iat, dates the assertion at exp minus the longest lifetime the client may use', async () => {
    // max_assertion_lifetime 300 (server default) + 30 s clock tolerance: an assertion without
    // iat expiring in 60 s may have been signed 270 s ago, before this store started.
    const now = Math.floor(Date.now() / 1000);
    const short = await signAssertion(client.key.privateJwk, client.clientId, testIssuer, {
      claims: { iat: undefined, exp: now + 60 },
    });
    const refused = await token(short);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error_description).toMatch(/issued before this server started/);
    // One that uses the whole lifetime cannot be older than the store: accepted.
    const whole = await signAssertion(client.key.privateJwk, client.clientId, testIssuer, {
      claims: { iat: undefined, exp: now + 330 },
    });
    expect((await token(whole)).statusCode).toBe(200);
  });
});
