/**
 * A stolen bound token is refused by the resource plugin, directly over mutual TLS and behind a
 * TLS-terminating proxy. Everything is real: Tollgate issues the tokens over TLS, the API
 * fetches Tollgate's JWKS over TLS (trusting the dev CA), clients present dev CA certificates.
 * Behind the proxy, trust is decided by the socket peer: 127.0.0.2 is the proxy, 127.0.0.1 a
 * stranger (both loopback on Linux).
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { type TollgateResourceOptions, tollgateResource } from '../../src/resource/index.js';
import { rawJws } from '../helpers/assertions.js';
import { type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { bearer, type CallOptions, call, clientCertHeader } from './http.js';

const orders = 'https://api.test/orders';
const billing = 'https://api.test/billing';

async function startApi(
  options: TollgateResourceOptions,
  https?: { cert: string; key: string },
): Promise<{ app: FastifyInstance; base: string }> {
  const app =
    https === undefined
      ? Fastify()
      : (Fastify({
          https: {
            ...https,
            // Ask for a certificate, never reject at the handshake: the plugin decides, and the
            // TLS layer has already checked the client holds the certificate's key.
            requestCert: true,
            rejectUnauthorized: false,
          },
        }) as unknown as FastifyInstance);
  await app.register(tollgateResource, options);
  app.get('/orders', { config: { tollgate: { scopes: ['read'] } } }, async (request) => ({
    client: request.accessToken?.clientId,
    bound: request.accessToken?.certificateThumbprint ?? null,
  }));
  app.get('/admin', { config: { tollgate: { scopes: ['admin'] } } }, async () => ({ ok: true }));
  app.get('/strict', { config: { tollgate: { requireBinding: true } } }, async () => ({ ok: 1 }));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: address.replace('localhost', '127.0.0.1') };
}

describe('resource plugin over real TLS', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let victim: IssuedClientCertificate;
  let thief: IssuedClientCertificate;
  let jwtCert: IssuedClientCertificate;
  let jwtClient: JwtClient;
  let direct: { app: FastifyInstance; base: string };
  let proxied: { app: FastifyInstance; base: string };
  let boundToken: string;

  const viaTls = (path: string, options: CallOptions = {}) =>
    call(`${direct.base}${path}`, { ca: ca.root.certPem, ...options });
  const withCert = (cert: IssuedClientCertificate) => ({ cert: cert.chainPem, key: cert.keyPem });

  const mtlsToken = async (params: Record<string, string> = {}) => {
    const result = await server.token(
      { grant_type: 'client_credentials', client_id: 'svc-bound', ...params },
      { cert: victim.chainPem, key: victim.keyPem },
    );
    if (!result.ok) throw new Error(JSON.stringify(result));
    return result.accessToken;
  };
  const jwtToken = async (identity?: { cert: string; key: string }) => {
    const assertion = await createClientAssertion({
      clientId: jwtClient.clientId,
      audience: server.issuer,
      key: jwtClient.key.privateJwk,
    });
    const result = await server.token(
      {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      },
      identity,
    );
    if (!result.ok) throw new Error(JSON.stringify(result));
    return result.accessToken;
  };
  /** Signs with Tollgate's own active key, any header: for the typ check. */
  const signWithServerKey = async (header: Record<string, unknown>) => {
    const file = JSON.parse(readFileSync(join(server.tg.dir, 'signing-keys.json'), 'utf8')) as {
      keys: JWK[];
    };
    const jwk = file.keys[0] as JWK;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: 'svc-bound', scope: 'read', jti: 'typ-test' })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid as string, ...header })
      .setIssuer(server.issuer)
      .setSubject('svc-bound')
      .setAudience(orders)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await importJWK(jwk, 'ES256'));
  };

  beforeAll(async () => {
    ca = await createDevCa();
    victim = await ca.issueClient({ clientId: 'svc-bound', subject: 'CN=svc-bound,O=Acme,C=US' });
    thief = await ca.issueClient({ clientId: 'svc-thief', subject: 'CN=svc-thief,O=Acme,C=US' });
    jwtCert = await ca.issueClient({ clientId: 'svc-jwt' });
    jwtClient = await makeJwtClient('svc-jwt', 'ES256', {
      allowed_resources: [orders, billing],
      default_resource: orders,
    });
    server = await startMtlsTollgate({
      ca,
      clients: [
        {
          client_id: 'svc-bound',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=svc-bound,O=Acme,C=US',
          grant_types: ['client_credentials'],
          scope: 'read write',
          allowed_resources: [orders, billing],
          default_resource: orders,
        },
        jwtClient.metadata,
      ],
    });
    const apiServer = await ca.issueServer();
    const common = {
      issuer: server.issuer,
      audience: orders,
      jwksUri: `${server.base}/jwks`,
      jwksCa: ca.root.certPem,
      // DPoP stays on (its challenges are checked here); no proof is sent, any origin does.
      dpop: { publicOrigin: 'https://api.test' },
    };
    direct = await startApi(common, { cert: apiServer.chainPem, key: apiServer.keyPem });
    proxied = await startApi({
      ...common,
      trustedProxies: ['127.0.0.2/32'],
      proxyFormat: 'rfc9440',
    });
    boundToken = await mtlsToken();
  });
  afterAll(async () => {
    await direct?.app.close();
    await proxied?.app.close();
    await server?.dispose();
  });

  describe('directly over mutual TLS', () => {
    it('accepts the bound token with the client certificate it is bound to', async () => {
      const res = await viaTls('/orders', { headers: bearer(boundToken), ...withCert(victim) });
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ client: 'svc-bound', bound: thumbprintOf(victim.certPem) });
    });

    it('refuses it with another certificate from the same CA (a stolen token)', async () => {
      const res = await viaTls('/orders', { headers: bearer(boundToken), ...withCert(thief) });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(
        'Bearer error="invalid_token", error_description="the access token is bound to a different client certificate", DPoP algs="ES256 ES384 ES512 PS256 EdDSA Ed25519"',
      );
    });

    it('refuses it without a certificate', async () => {
      const res = await viaTls('/orders', { headers: bearer(boundToken) });
      expect(res.status).toBe(401);
      expect(res.json?.error_description).toMatch(/present that certificate/);
    });

    it('ignores a forged Client-Cert header from a peer that is no trusted proxy', async () => {
      const res = await viaTls('/orders', {
        headers: { ...bearer(boundToken), 'client-cert': clientCertHeader(victim.certDer) },
        ...withCert(thief),
      });
      expect(res.status).toBe(401);
    });

    it('a private_key_jwt client that presented a certificate gets a token bound to it', async () => {
      const token = await jwtToken(withCert(jwtCert));
      expect(
        (await viaTls('/orders', { headers: bearer(token), ...withCert(jwtCert) })).status,
      ).toBe(200);
      expect(
        (await viaTls('/orders', { headers: bearer(token), ...withCert(victim) })).status,
      ).toBe(401);
    });

    it('an unbound token passes where binding is optional and fails where it is required', async () => {
      const token = await jwtToken();
      const open = await viaTls('/orders', { headers: bearer(token) });
      expect(open.status, open.text).toBe(200);
      expect(open.json?.bound).toBeNull();
      const strict = await viaTls('/strict', { headers: bearer(token), ...withCert(jwtCert) });
      expect(strict.status).toBe(401);
      expect(strict.json?.error_description).toMatch(/only sender-constrained/);
    });

    it('no token: 401 with a bare Bearer challenge', async () => {
      const res = await viaTls('/orders', withCert(victim));
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(
        'Bearer, DPoP algs="ES256 ES384 ES512 PS256 EdDSA Ed25519"',
      );
    });

    it('a token for another resource (aud): 401', async () => {
      const token = await mtlsToken({ resource: billing });
      const res = await viaTls('/orders', { headers: bearer(token), ...withCert(victim) });
      expect(res.status).toBe(401);
      expect(res.json?.error_description).toMatch(/not meant for this resource/);
    });

    it('a token with the wrong typ, signed by the issuer itself: 401', async () => {
      const token = await signWithServerKey({ typ: 'JWT' });
      const res = await viaTls('/orders', { headers: bearer(token) });
      expect(res.status).toBe(401);
      expect(res.json?.error_description).toMatch(/typ at\+jwt/);
      // The same token with the right typ passes: the typ is what failed.
      const good = await signWithServerKey({ typ: 'at+jwt' });
      expect((await viaTls('/orders', { headers: bearer(good) })).status).toBe(200);
    });

    it('alg none: 401', async () => {
      const [, payload] = boundToken.split('.') as [string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const token = rawJws({ alg: 'none', typ: 'at+jwt' }, claims, '');
      const res = await viaTls('/orders', { headers: bearer(token), ...withCert(victim) });
      expect(res.status).toBe(401);
      expect(res.json?.error).toBe('invalid_token');
    });

    it("a foreign key under the issuer's kid: 401", async () => {
      const [header, payload] = boundToken.split('.') as [string, string];
      const { kid } = JSON.parse(Buffer.from(header, 'base64url').toString());
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .sign(privateKey);
      const res = await viaTls('/orders', { headers: bearer(token), ...withCert(victim) });
      expect(res.status).toBe(401);
      expect(res.json?.error_description).toMatch(/signature/);
    });

    it('an expired token: 401', async () => {
      const later = Fastify();
      await later.register(tollgateResource, {
        issuer: server.issuer,
        audience: orders,
        jwksUri: `${server.base}/jwks`,
        jwksCa: ca.root.certPem,
        now: () => Date.now() + 3600_000,
        dpop: { publicOrigin: 'https://api.test' },
      });
      later.get('/orders', { config: { tollgate: {} } }, async () => ({}));
      const res = await later.inject({
        method: 'GET',
        url: '/orders',
        headers: bearer(boundToken),
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().error_description).toMatch(/expired/);
      await later.close();
    });

    it('a missing scope: 403 insufficient_scope', async () => {
      const res = await viaTls('/admin', { headers: bearer(boundToken), ...withCert(victim) });
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="admin"/);
    });
  });

  describe('behind a TLS-terminating proxy (RFC 9440 Client-Cert)', () => {
    const viaProxy = (headers: Record<string, string | string[]>, localAddress: string) =>
      call(`${proxied.base}/orders`, { headers, localAddress });

    it('accepts the bound token when the trusted proxy forwards the right certificate', async () => {
      const res = await viaProxy(
        { ...bearer(boundToken), 'client-cert': clientCertHeader(victim.certDer) },
        '127.0.0.2',
      );
      expect(res.status, res.text).toBe(200);
      expect(res.json?.bound).toBe(thumbprintOf(victim.certPem));
    });

    it('refuses it when the proxy forwards another certificate from the same CA', async () => {
      const res = await viaProxy(
        { ...bearer(boundToken), 'client-cert': clientCertHeader(thief.certDer) },
        '127.0.0.2',
      );
      expect(res.status).toBe(401);
      expect(res.json?.error_description).toMatch(/different client certificate/);
    });

    it('refuses it when the proxy forwards no certificate', async () => {
      const res = await viaProxy(bearer(boundToken), '127.0.0.2');
      expect(res.status).toBe(401);
    });

    it('refuses it with a forged header sent straight from an untrusted peer', async () => {
      const res = await viaProxy(
        { ...bearer(boundToken), 'client-cert': clientCertHeader(victim.certDer) },
        '127.0.0.1',
      );
      expect(res.status).toBe(401);
      expect(res.json?.error_description).toMatch(/present that certificate/);
    });

    it('a Client-Cert header sent twice: 400 invalid_request', async () => {
      const one = clientCertHeader(victim.certDer);
      const res = await viaProxy({ ...bearer(boundToken), 'client-cert': [one, one] }, '127.0.0.2');
      expect(res.status).toBe(400);
      expect(res.json?.error).toBe('invalid_request');
    });
  });
});
