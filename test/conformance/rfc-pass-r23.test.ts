/**
 * Round 23's pass over the RFCs, as the author of an independent conformance suite would write
 * it: only what the other files of test/conformance do not already check. Every request goes
 * over a real TLS socket to a running Tollgate; what is asserted is what goes over the wire.
 *
 * RFC 6749 §3.1/§3.2 (empty values, media type parameters, percent-encoded names), §5.2
 * (`unauthorized_client`), RFC 9068 §2.1 (RS256 among the supported algorithms), RFC 8414 §3
 * with an issuer that has a path (every advertised URL answers), RFC 7517 §4-§5 (key set
 * members), RFC 8705 §3.2 (`cnf` in introspection), RFC 7662 §2.1 and §2.3 (who may introspect,
 * and what a refused caller sees) and RFC 7009 (not offered, so not advertised).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { createLocalJWKSet, type JWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { tollgateResource } from '../../src/resource/index.js';
import { makeProof, makeProofKey, type ProofKey } from '../helpers/dpop.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import {
  assertionType,
  encode,
  expectOAuthError,
  formType,
  type RawResponse,
  tokenRequests,
} from './support.js';

/**
 * Sends `head` (request line and header fields, CRLF-separated, without the final empty line)
 * as written over a fresh TLS connection and returns the status code: for request targets that
 * Node's HTTP client never writes (absolute-form). Bounded to 10 s.
 */
function rawHttp(port: number, ca: string, head: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () =>
      socket.write(`${head}\r\nConnection: close\r\n\r\n`),
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error('raw request timed out')));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

/** The JWT header of a compact JWS, unverified. */
const headerOf = (jws: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8'));

describe('RFC pass, round 23 (conformance)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let alice: JwtClient;
  let bearerOnly: JwtClient;
  let mtlsLeaf: IssuedClientCertificate;

  const { send, post, clientAuth } = tokenRequests(
    () => server,
    () => ca.root.certPem,
  );
  const auth = (client: JwtClient = alice, audience?: string) => clientAuth(client, audience);
  const mtls = { client_id: 'r23-mtls' };

  beforeAll(async () => {
    ca = await createDevCa();
    alice = await makeJwtClient('r23-alice');
    // Registered for another grant only: the token endpoint must say unauthorized_client.
    bearerOnly = await makeJwtClient('r23-jwt-bearer-only', 'ES256', {
      grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
    });
    mtlsLeaf = await ca.issueClient({ clientId: mtls.client_id });
    server = await startMtlsTollgate({
      ca,
      mtls: true,
      clients: [
        alice.metadata,
        bearerOnly.metadata,
        {
          client_id: mtls.client_id,
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: mtlsLeaf.subject,
          grant_types: ['client_credentials'],
          scope: 'read',
        },
      ],
      config: { rateLimits: { enabled: false } },
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  describe('RFC 6749 §3.1 and §3.2: "parameters sent without a value MUST be treated as if they were omitted"', () => {
    it('grant_type= (no value) is a missing grant_type: invalid_request, not unsupported_grant_type', async () => {
      const res = await post(`${encode(await auth())}&grant_type=`);
      expectOAuthError(res, 400, 'invalid_request');
      expect(String(res.json?.error_description)).toMatch(/grant_type is required/);
    });

    it('client_id= (no value) next to a valid assertion is omitted: the token is issued', async () => {
      const res = await post(
        `${encode({ grant_type: 'client_credentials', ...(await auth()) })}&client_id=`,
      );
      expect(res.status, res.text).toBe(200);
      expect(claimsOf(String(res.json?.access_token)).client_id).toBe(alice.clientId);
    });

    it('tls_client_auth with client_id= (no value): no client is named, so the certificate alone authenticates nobody (RFC 8705 §2)', async () => {
      const res = await send(
        {
          path: '/token',
          headers: { 'content-type': formType },
          body: 'grant_type=client_credentials&client_id=',
          cert: mtlsLeaf.chainPem,
          key: mtlsLeaf.keyPem,
        },
        server.mtlsBase,
      );
      expectOAuthError(res, 401, 'invalid_client');
    });

    it('client_assertion_type= and client_assertion= (no values) next to tls_client_auth are omitted: one method, a token', async () => {
      const res = await send(
        {
          path: '/token',
          headers: { 'content-type': formType },
          body: `${encode({ grant_type: 'client_credentials', ...mtls })}&client_assertion_type=&client_assertion=`,
          cert: mtlsLeaf.chainPem,
          key: mtlsLeaf.keyPem,
        },
        server.mtlsBase,
      );
      expect(res.status, res.text).toBe(200);
    });
  });

  describe('RFC 6749 Appendix B and §3.2: the form media type', () => {
    for (const contentType of [
      `${formType}; charset=utf-8; foo=bar`,
      `${formType} ; charset=UTF-8`,
      `${formType};charset=utf-8`,
    ]) {
      it(`accepts Content-Type "${contentType}" (RFC 9110 §8.3.1 parameters)`, async () => {
        const res = await post(
          encode({ grant_type: 'client_credentials', ...(await auth()) }),
          contentType,
        );
        expect(res.status, res.text).toBe(200);
      });
    }

    it('refuses a charset other than UTF-8 (Appendix B: the names and values are UTF-8)', async () => {
      const res = await post(
        encode({ grant_type: 'client_credentials', ...(await auth()) }),
        `${formType}; charset=ISO-8859-1`,
      );
      expectOAuthError(res, 400, 'invalid_request');
    });

    it('decodes percent-encoded parameter names (grant%5Ftype is grant_type)', async () => {
      const { client_assertion } = await auth();
      const body = `grant%5Ftype=client_credentials&client%5Fassertion%5Ftype=${encodeURIComponent(assertionType)}&client_assertion=${client_assertion}`;
      const res = await post(body);
      expect(res.status, res.text).toBe(200);
    });

    it('a name repeated under two encodings (grant_type and grant%5Ftype) is a repeated parameter', async () => {
      const res = await post(
        `${encode({ grant_type: 'client_credentials', ...(await auth()) })}&grant%5Ftype=client_credentials`,
      );
      expectOAuthError(res, 400, 'invalid_request');
    });
  });

  describe('RFC 9110 §8.4 Content-Encoding on the form (no coding is decoded, so none is accepted)', () => {
    const withCoding = async (coding: string, body: string | Buffer) =>
      send({
        path: '/token',
        headers: { 'content-type': formType, 'content-encoding': coding },
        body,
      });

    it('a gzip-coded form: 415 invalid_request naming identity in Accept-Encoding (§15.5.16), no token', async () => {
      const form = encode({ grant_type: 'client_credentials', ...(await auth()) });
      const res = await withCoding('gzip', gzipSync(form));
      expectOAuthError(res, 415, 'invalid_request');
      expect(String(res.headers['accept-encoding'])).toBe('identity');
    });

    it('a plain form labelled gzip is not read as if the label were absent', async () => {
      const res = await withCoding(
        'gzip',
        encode({ grant_type: 'client_credentials', ...(await auth()) }),
      );
      expectOAuthError(res, 415, 'invalid_request');
      expect(res.text).not.toMatch(/access_token/);
    });

    it('Content-Encoding: identity is no coding at all: the token is issued', async () => {
      const res = await withCoding(
        'identity',
        encode({ grant_type: 'client_credentials', ...(await auth()) }),
      );
      expect(res.status, res.text).toBe(200);
    });
  });

  describe('RFC 6749 §5.2 unauthorized_client', () => {
    it('an authenticated client not registered for client_credentials: 400 unauthorized_client, no token', async () => {
      const res = await post(
        encode({ grant_type: 'client_credentials', ...(await auth(bearerOnly)) }),
      );
      expectOAuthError(res, 400, 'unauthorized_client');
      expect(res.text).not.toMatch(/access_token/);
    });
  });

  describe('RFC 9068 §2.1: "MUST include RS256 among their supported signature algorithms"', () => {
    let rsa: MtlsTollgate;
    const api = 'https://rs256-api.example.test';

    beforeAll(async () => {
      rsa = await startMtlsTollgate({
        ca,
        clients: [{ ...alice.metadata, allowed_resources: [api] }],
        config: { rateLimits: { enabled: false }, accessToken: { signingAlg: 'RS256' } },
      });
    });
    afterAll(async () => {
      await rsa?.dispose();
    });

    it('the server signs at+jwt with RS256, publishes the RSA key, and the resource plugin accepts the token', async () => {
      const res = await send(
        {
          path: '/token',
          headers: { 'content-type': formType },
          body: encode({
            grant_type: 'client_credentials',
            resource: api,
            ...(await auth(alice, rsa.issuer)),
          }),
        },
        rsa.base,
      );
      expect(res.status, res.text).toBe(200);
      const token = String(res.json?.access_token);
      expect(headerOf(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
      const jwks = (await send({ method: 'GET', path: '/jwks' }, rsa.base)).json as {
        keys: JWK[];
      };
      const published = jwks.keys.find((key) => key.kid === headerOf(token).kid);
      expect(published).toMatchObject({ kty: 'RSA', alg: 'RS256' });

      // A resource server with the plugin's default algorithms, fetching the JWKS over TLS.
      const rs = Fastify();
      try {
        await rs.register(tollgateResource, {
          issuer: rsa.issuer,
          audience: api,
          jwksUri: `${rsa.base}/jwks`,
          ca: ca.root.certPem,
          dpop: { enabled: false },
        });
        rs.get('/ping', { config: { tollgate: {} } }, async () => 'pong');
        const ok = await rs.inject({ url: '/ping', headers: { authorization: `Bearer ${token}` } });
        expect(ok.statusCode, ok.body).toBe(200);
      } finally {
        await rs.close();
      }
    });
  });

  describe('RFC 8414 §3 with an issuer that has a path component', () => {
    const path = '/tenants/blue';
    let tenant: MtlsTollgate;
    let metadata: Record<string, unknown>;

    /** The listener an advertised URL names (`localhost:<port>` is served on 127.0.0.1). */
    const listenerOf = (url: string) => {
      const parsed = new URL(url);
      return { base: `https://127.0.0.1:${parsed.port}`, path: parsed.pathname };
    };

    beforeAll(async () => {
      tenant = await startMtlsTollgate({
        ca,
        mtls: true,
        issuerPath: path,
        clients: [alice.metadata],
        config: { rateLimits: { enabled: false } },
      });
      const res = await send(
        { method: 'GET', path: `/.well-known/oauth-authorization-server${path}` },
        tenant.base,
      );
      expect(res.status, res.text).toBe(200);
      metadata = res.json as Record<string, unknown>;
    });
    afterAll(async () => {
      await tenant?.dispose();
    });

    it('§3.3: the document at the inserted well-known URL names exactly this issuer', () => {
      expect(tenant.issuer).toMatch(/\/tenants\/blue$/);
      expect(metadata.issuer).toBe(tenant.issuer);
    });

    it('§3: the well-known URL without the path (another issuer) and the path-appended form do not serve this issuer', async () => {
      for (const other of [
        '/.well-known/oauth-authorization-server',
        `${path}/.well-known/oauth-authorization-server`,
      ]) {
        const res = await send({ method: 'GET', path: other }, tenant.base);
        if (res.status === 200) expect(res.json?.issuer, other).not.toBe(tenant.issuer);
        else expect(res.status, other).toBe(404);
      }
    });

    it('§2: every advertised URL is under the issuer and answers on its listener', async () => {
      const aliases = metadata.mtls_endpoint_aliases as Record<string, string>;
      const urls = {
        token_endpoint: String(metadata.token_endpoint),
        introspection_endpoint: String(metadata.introspection_endpoint),
        jwks_uri: String(metadata.jwks_uri),
        'mtls_endpoint_aliases.token_endpoint': String(aliases.token_endpoint),
        'mtls_endpoint_aliases.introspection_endpoint': String(aliases.introspection_endpoint),
      };
      for (const [name, url] of Object.entries(urls)) {
        expect(new URL(url).pathname.startsWith(`${path}/`), name).toBe(true);
      }
      const jwks = listenerOf(urls.jwks_uri);
      const keys = await send({ method: 'GET', path: jwks.path }, jwks.base);
      expect(keys.status).toBe(200);
      expect(Array.isArray(keys.json?.keys)).toBe(true);
      for (const name of [
        'token_endpoint',
        'introspection_endpoint',
        'mtls_endpoint_aliases.token_endpoint',
        'mtls_endpoint_aliases.introspection_endpoint',
      ] as const) {
        const at = listenerOf(urls[name]);
        // No credentials: the endpoint exists and asks for client authentication.
        const res = await send(
          { path: at.path, headers: { 'content-type': formType }, body: 'token=x' },
          at.base,
        );
        expectOAuthError(res, 401, 'invalid_client');
      }
      // And a real token request at the advertised token endpoint and at its mTLS alias.
      for (const url of [urls.token_endpoint, urls['mtls_endpoint_aliases.token_endpoint']]) {
        const at = listenerOf(url);
        const res = await send(
          {
            path: at.path,
            headers: { 'content-type': formType },
            body: encode({
              grant_type: 'client_credentials',
              ...(await auth(alice, tenant.issuer)),
            }),
          },
          at.base,
        );
        expect(res.status, `${url}: ${res.text}`).toBe(200);
        // Verified with the key set fetched from the advertised jwks_uri above.
        const { payload } = await jwtVerify(
          String(res.json?.access_token),
          createLocalJWKSet(keys.json as { keys: JWK[] }),
          { issuer: tenant.issuer, typ: 'at+jwt' },
        );
        expect(payload.iss).toBe(tenant.issuer);
      }
    });
  });

  describe('RFC 7517 §4 and §5: the published key set', () => {
    it('every key has kty, a kid unique in the set, an asymmetric alg, use "sig" if any, and no private member', async () => {
      const res = await send({ method: 'GET', path: '/jwks' });
      expect(res.status).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/^application\/jwk-set\+json/);
      const { keys } = res.json as { keys: JWK[] };
      expect(keys.length).toBeGreaterThan(0);
      const kids = keys.map((key) => key.kid);
      expect(new Set(kids).size).toBe(keys.length);
      for (const key of keys) {
        expect(['EC', 'RSA', 'OKP']).toContain(key.kty);
        expect(typeof key.kid).toBe('string');
        expect(String(key.alg)).toMatch(/^(ES|PS|RS)(256|384|512)$|^EdDSA$|^Ed25519$/);
        if (key.use !== undefined) expect(key.use).toBe('sig');
        if (key.key_ops !== undefined) expect(key.key_ops).toEqual(['verify']);
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) {
          expect(key, member).not.toHaveProperty(member);
        }
      }
    });
  });

  describe('RFC 8705 §3.2 and RFC 7662 §2.2: introspecting a certificate-bound token', () => {
    it('the response carries cnf.x5t#S256 = base64url(SHA-256(DER)) of the certificate the token was issued to', async () => {
      const identity = { cert: mtlsLeaf.chainPem, key: mtlsLeaf.keyPem };
      const issued = await send(
        {
          path: '/token',
          headers: { 'content-type': formType },
          body: encode({ grant_type: 'client_credentials', ...mtls }),
          ...identity,
        },
        server.mtlsBase,
      );
      expect(issued.status, issued.text).toBe(200);
      const res = await send(
        {
          path: '/introspect',
          headers: { 'content-type': formType },
          body: encode({ token: String(issued.json?.access_token), ...mtls }),
          ...identity,
        },
        server.mtlsBase,
      );
      expect(res.status, res.text).toBe(200);
      const expected = createHash('sha256')
        .update(new X509Certificate(mtlsLeaf.certPem).raw)
        .digest('base64url');
      expect(res.json).toMatchObject({
        active: true,
        client_id: mtls.client_id,
        token_type: 'Bearer',
        cnf: { 'x5t#S256': expected },
      });
      expect(String(res.headers['cache-control'])).toMatch(/no-store/);
    });
  });

  describe('RFC 7662 §2.1 and §2.3: "some form of authorization", here client authentication only', () => {
    // RFC 7662 §2.1 asks for "some form of authorization ... such as client authentication ...
    // or a separate OAuth 2.0 access token"; either satisfies it. Tollgate takes client
    // authentication only (DESIGN.md §3: "callers authenticate with the same methods"), so an
    // access token never doubles as a credential for learning about other tokens. §2.3: failed
    // client authentication is answered as RFC 6749 §5.2 says (as at the token endpoint), an
    // access token that is "invalid for this request" as RFC 6750 §3 says.
    const description =
      'the introspection endpoint takes client authentication, not an access token: authenticate as a registered client with private_key_jwt, mutual TLS or a workload identity';
    const tokenChallenge = (scheme: string) =>
      `${scheme} realm="tollgate", error="invalid_token", error_description="${description}"`;
    const introspect = (headers: Record<string, string>, body: string, base = server.base) =>
      send({ path: '/introspect', headers: { 'content-type': formType, ...headers }, body }, base);
    /** What a refused caller sees: status, body and challenge. */
    const refusal = (res: RawResponse) => ({
      status: res.status,
      body: res.json,
      challenge: res.headers['www-authenticate'],
    });
    const issueToken = async () => {
      const issued = await post(encode({ grant_type: 'client_credentials', ...(await auth()) }));
      expect(issued.status, issued.text).toBe(200);
      return String(issued.json?.access_token);
    };

    it('a valid access token as Authorization: Bearer: 401 invalid_token, with error="invalid_token" in the Bearer challenge (RFC 6750 §3)', async () => {
      const token = await issueToken();
      const res = await introspect({ authorization: `Bearer ${token}` }, encode({ token }));
      expectOAuthError(res, 401, 'invalid_token');
      expect(res.json?.error_description).toBe(description);
      expect(res.headers['www-authenticate']).toBe(tokenChallenge('Bearer'));
      expect(res.text).not.toMatch(/active/);
    });

    it('a bad Bearer token gets the very same answer as a valid one: the refusal is no oracle', async () => {
      const token = await issueToken();
      const valid = refusal(
        await introspect({ authorization: `Bearer ${token}` }, encode({ token })),
      );
      for (const presented of ['garbage', `${token.slice(0, -4)}AAAA`, 'a'.repeat(4000)]) {
        const res = await introspect({ authorization: `Bearer ${presented}` }, encode({ token }));
        expect(refusal(res), presented.slice(0, 20)).toEqual(valid);
      }
      // Schemes are case-insensitive (RFC 9110 §11.1); the challenge names the scheme as RFC 6750 spells it.
      const lower = await introspect({ authorization: `bearer ${token}` }, encode({ token }));
      expect(refusal(lower)).toEqual(valid);
    });

    it('a DPoP-scheme token: 401 invalid_token with a DPoP challenge (RFC 9449 §7.1)', async () => {
      const token = await issueToken();
      const res = await introspect({ authorization: `DPoP ${token}` }, encode({ token }));
      expectOAuthError(res, 401, 'invalid_token');
      expect(res.headers['www-authenticate']).toBe(tokenChallenge('DPoP'));
    });

    it('a Bearer token next to valid client authentication is still refused: it is not ignored, and two credentials are never merged', async () => {
      const token = await issueToken();
      const res = await send(
        {
          path: '/introspect',
          headers: { 'content-type': formType, authorization: `Bearer ${token}` },
          body: encode({ token, ...mtls }),
          cert: mtlsLeaf.chainPem,
          key: mtlsLeaf.keyPem,
        },
        server.mtlsBase,
      );
      expectOAuthError(res, 401, 'invalid_token');
      expect(res.headers['www-authenticate']).toBe(tokenChallenge('Bearer'));
      expect(res.text).not.toMatch(/active/);
    });

    /** The same credentials at /token and at /introspect: the same refusal (RFC 6749 §5.2). */
    const expectSameAsTokenEndpoint = async (
      headers: Record<string, string>,
      credentials: () => Promise<Record<string, string>>,
      base = server.base,
    ) => {
      const atIntrospect = await introspect(
        headers,
        encode({ token: 'x', ...(await credentials()) }),
        base,
      );
      expectOAuthError(atIntrospect, 401, 'invalid_client');
      const atToken = await send(
        {
          path: '/token',
          headers: { 'content-type': formType, ...headers },
          body: encode({ grant_type: 'client_credentials', ...(await credentials()) }),
        },
        base,
      );
      expect(refusal(atIntrospect)).toEqual(refusal(atToken));
      return atIntrospect;
    };

    it('nothing presented: 401 invalid_client and no challenge, as at the token endpoint', async () => {
      const res = await expectSameAsTokenEndpoint({}, async () => ({}));
      expect(res.headers).not.toHaveProperty('www-authenticate');
    });

    it('client authentication that fails (unknown client, wrong key, certificate client without its certificate): 401 invalid_client and no challenge, as at the token endpoint', async () => {
      const stranger = await makeJwtClient('r23-stranger');
      const impostor = await makeJwtClient(alice.clientId);
      for (const credentials of [() => auth(stranger), () => auth(impostor), async () => mtls]) {
        const res = await expectSameAsTokenEndpoint({}, credentials);
        expect(res.headers).not.toHaveProperty('www-authenticate');
      }
      const noCertificate = await expectSameAsTokenEndpoint({}, async () => mtls, server.mtlsBase);
      expect(noCertificate.headers).not.toHaveProperty('www-authenticate');
    });

    it('Authorization: Basic: 401 invalid_client with a Basic challenge and no error code, as at the token endpoint', async () => {
      const res = await expectSameAsTokenEndpoint(
        { authorization: `Basic ${Buffer.from('r23-alice:secret').toString('base64')}` },
        async () => ({}),
      );
      expect(res.headers['www-authenticate']).toBe('Basic realm="tollgate"');
    });

    it('a bare "Bearer" with no token carries no credential: invalid_client, a Bearer challenge with no error code (RFC 6750 §3)', async () => {
      const res = await expectSameAsTokenEndpoint({ authorization: 'Bearer' }, async () => ({}));
      expect(res.headers['www-authenticate']).toBe('Bearer realm="tollgate"');
    });

    it('at the token endpoint (not RFC 7662) a Bearer token stays an unsupported client authentication: invalid_client, the Bearer scheme and no error code', async () => {
      const token = await issueToken();
      const res = await send({
        path: '/token',
        headers: { 'content-type': formType, authorization: `Bearer ${token}` },
        body: encode({ grant_type: 'client_credentials' }),
      });
      expectOAuthError(res, 401, 'invalid_client');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="tollgate"');
    });
  });

  describe('RFC 9112 §3.2.2 absolute-form targets at the resource plugin (RFC 9449 §4.3 check 9)', () => {
    const orders = 'https://orders-r23.example.test';
    let key: ProofKey;
    let token: string;
    let direct: FastifyInstance;
    let proxied: FastifyInstance;
    let directPort: number;
    let proxiedPort: number;

    beforeAll(async () => {
      key = await makeProofKey('ES256');
      const dpopClient = await makeJwtClient('r23-dpop', 'ES256', { allowed_resources: [orders] });
      const tg = await startMtlsTollgate({
        ca,
        clients: [dpopClient.metadata],
        config: { rateLimits: { enabled: false } },
      });
      try {
        const res = await send(
          {
            path: '/token',
            headers: {
              'content-type': formType,
              dpop: await makeProof(key, { htu: `${tg.issuer}/token` }),
            },
            body: encode({
              grant_type: 'client_credentials',
              resource: orders,
              ...(await auth(dpopClient, tg.issuer)),
            }),
          },
          tg.base,
        );
        expect(res.json?.token_type, res.text).toBe('DPoP');
        token = String(res.json?.access_token);
        ({ api: direct, port: directPort } = await startApiFor(tg));
        ({ api: proxied, port: proxiedPort } = await startApiFor(tg, orders));
      } finally {
        await tg.dispose();
      }
    });
    afterAll(async () => {
      await direct?.close();
      await proxied?.close();
    });

    /** The API trusts the issuer `tg`; its JWKS is fetched once, while the plugin loads. */
    const startApiFor = async (tg: MtlsTollgate, publicOrigin?: string) => {
      const identity = await ca.issueServer();
      const api = Fastify({
        https: { cert: identity.chainPem, key: identity.keyPem },
      }) as unknown as FastifyInstance;
      const port = await freePort();
      await api.register(tollgateResource, {
        issuer: tg.issuer,
        audience: orders,
        jwksUri: `${tg.base}/jwks`,
        ca: ca.root.certPem,
        // Required: the API's own origin unless it is served under another one.
        dpop: { publicOrigin: publicOrigin ?? `https://127.0.0.1:${port}` },
      });
      api.get('/orders', { config: { tollgate: {} } }, async () => 'ok');
      await api.listen({ host: '127.0.0.1', port });
      return { api, port };
    };
    const request = async (port: number, target: string, host: string, htu: string) =>
      rawHttp(
        port,
        ca.root.certPem,
        [
          `GET ${target} HTTP/1.1`,
          `Host: ${host}`,
          `Authorization: DPoP ${token}`,
          `DPoP: ${await makeProof(key, { htm: 'GET', htu, accessToken: token })}`,
        ].join('\r\n'),
      );

    it('origin-form (control): the proof for https://<Host>/orders is accepted', async () => {
      const origin = `https://127.0.0.1:${directPort}`;
      expect(
        await request(directPort, '/orders', `127.0.0.1:${directPort}`, `${origin}/orders`),
      ).toBe(200);
    });

    it('absolute-form: the proof for the target URI is accepted', async () => {
      const uri = `https://127.0.0.1:${directPort}/orders`;
      expect(await request(directPort, `${uri}?page=2`, `127.0.0.1:${directPort}`, uri)).toBe(200);
    });

    it('absolute-form: Host is ignored for the target authority (a proof naming the Host is refused)', async () => {
      const uri = `https://127.0.0.1:${directPort}/orders`;
      expect(await request(directPort, uri, 'other.example.test', uri)).toBe(200);
      expect(
        await request(directPort, uri, 'other.example.test', 'https://other.example.test/orders'),
      ).toBe(401);
    });

    it('absolute-form behind a configured publicOrigin: the target path counts, the public origin names the API', async () => {
      expect(
        await request(proxiedPort, `${orders}/orders`, 'internal:8443', `${orders}/orders`),
      ).toBe(200);
      expect(
        await request(
          proxiedPort,
          `https://127.0.0.1:${proxiedPort}/orders`,
          'internal:8443',
          `${orders}/orders`,
        ),
      ).toBe(200);
      // Another path is still another resource.
      expect(
        await request(proxiedPort, `${orders}/orders`, 'internal:8443', `${orders}/invoices`),
      ).toBe(401);
    });
  });

  describe('RFC 7009 token revocation: not offered, so not advertised', () => {
    it('metadata has no revocation_endpoint, and POST /revoke is 404 (no half-made endpoint)', async () => {
      const metadata = (
        await send({ method: 'GET', path: '/.well-known/oauth-authorization-server' })
      ).json as Record<string, unknown>;
      expect(metadata).not.toHaveProperty('revocation_endpoint');
      expect(metadata).not.toHaveProperty('revocation_endpoint_auth_methods_supported');
      expect(metadata.mtls_endpoint_aliases).not.toHaveProperty('revocation_endpoint');
      const res = await post(encode({ token: 'x', ...(await auth()) }), formType, '/revoke');
      expect(res.status).toBe(404);
    });
  });
});
