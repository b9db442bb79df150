/**
 * DPoP interop (RFC 9449) with two clients no one here wrote, oauth4webapi v3 and openid-client
 * v6, against a real Tollgate that requires DPoP nonces and a real API (the resource plugin over
 * HTTPS) that requires its own. Each library gets a DPoP-bound token (handling use_dpop_nonce as
 * it does), calls the protected route (200), and the same token without the key gets 401.
 */
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { type CryptoKey, decodeJwt, importJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { tollgateResource } from '../../src/resource/index.js';
import { type RunningTollgate, startTollgate } from '../client/harness.js';
import { freePort } from '../helpers/net.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { call } from '../resource/http.js';

const orders = 'https://api.test/orders';

describe('interop: DPoP with oauth4webapi and openid-client', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let one: JwtClient;
  let two: JwtClient;
  let agent: Agent;
  let api: FastifyInstance;
  let apiBase: string;
  const fetchOn = ((url: string, options: RequestInit) =>
    undiciFetch(url, { ...options, dispatcher: agent } as Parameters<
      typeof undiciFetch
    >[1])) as never;

  beforeAll(async () => {
    ca = await createDevCa();
    const registration = {
      allowed_resources: [orders],
      default_resource: orders,
      dpop_bound_access_tokens: true,
    };
    one = await makeJwtClient('svc-o4w-dpop', 'ES256', registration);
    two = await makeJwtClient('svc-oidc-dpop', 'ES256', registration);
    server = await startTollgate({
      ca,
      clients: [one.metadata, two.metadata],
      config: { dpop: { nonce: { required: true } } },
    });
    agent = new Agent({ connect: { ca: ca.root.certPem } });
    const apiCert = await ca.issueServer();
    api = Fastify({
      https: { cert: apiCert.chainPem, key: apiCert.keyPem },
    }) as unknown as FastifyInstance;
    const apiPort = await freePort();
    apiBase = `https://127.0.0.1:${apiPort}`;
    await api.register(tollgateResource, {
      issuer: server.issuer,
      audience: orders,
      jwksUri: `${server.issuer}/jwks`,
      jwksCa: ca.root.certPem,
      dpop: { publicOrigin: apiBase, nonce: { secret: randomBytes(32) } },
    });
    api.get('/orders', { config: { tollgate: { requireBinding: true } } }, async (request) => ({
      client: request.accessToken?.clientId,
      jkt: request.accessToken?.dpopJkt,
    }));
    await api.listen({ host: '127.0.0.1', port: apiPort });
  });
  afterAll(async () => {
    await api?.close();
    await agent?.close();
    await server?.dispose();
  });

  /** The stolen-token check: the token alone, as Bearer and as DPoP without a proof. */
  async function expectUselessWithoutKey(token: string) {
    for (const authorization of [`Bearer ${token}`, `DPoP ${token}`]) {
      const res = await call(`${apiBase}/orders`, {
        ca: ca.root.certPem,
        headers: { authorization },
      });
      expect(res.status, authorization.split(' ')[0]).toBe(401);
    }
  }

  it('oauth4webapi: DPoP token (after use_dpop_nonce), protected route 200, stolen token 401', async () => {
    const issuer = new URL(server.issuer);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.customFetch]: fetchOn }),
    );
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
    const c: oauth.Client = { client_id: one.clientId };
    const auth = oauth.PrivateKeyJwt({
      key: (await importJWK(one.key.privateJwk, 'ES256')) as CryptoKey,
      kid: one.key.kid,
    });
    const DPoP = oauth.DPoP(c, await oauth.generateKeyPair('ES256'));
    const grant = () =>
      oauth.clientCredentialsGrantRequest(as, c, auth, new URLSearchParams({ scope: 'read' }), {
        DPoP,
        [oauth.customFetch]: fetchOn,
      });
    let nonceErrors = 0;
    let result: oauth.TokenEndpointResponse | undefined;
    for (let attempt = 0; attempt < 2 && result === undefined; attempt++) {
      try {
        result = await oauth.processClientCredentialsResponse(as, c, await grant());
      } catch (error) {
        if (!oauth.isDPoPNonceError(error)) throw error;
        nonceErrors++;
      }
    }
    expect(nonceErrors).toBe(1);
    expect(result?.token_type).toBe('dpop');
    const token = String(result?.access_token);
    const jkt = (decodeJwt(token).cnf as { jkt: string }).jkt;

    let response: Response | undefined;
    for (let attempt = 0; attempt < 2 && response === undefined; attempt++) {
      try {
        response = await oauth.protectedResourceRequest(
          token,
          'GET',
          new URL(`${apiBase}/orders`),
          undefined,
          undefined,
          {
            DPoP,
            [oauth.customFetch]: fetchOn,
          },
        );
      } catch (error) {
        if (!oauth.isDPoPNonceError(error)) throw error;
      }
    }
    expect(response?.status).toBe(200);
    expect(await response?.json()).toEqual({ client: one.clientId, jkt });
    await expectUselessWithoutKey(token);
  });

  it('openid-client: DPoP token, protected route 200 (its own nonce retries), stolen token 401', async () => {
    const config = await client.discovery(
      new URL(server.issuer),
      two.clientId,
      undefined,
      client.PrivateKeyJwt({
        key: (await importJWK(two.key.privateJwk, 'ES256')) as CryptoKey,
        kid: two.key.kid,
      }),
      { algorithm: 'oauth2', [client.customFetch]: fetchOn },
    );
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    const jkt = (decodeJwt(tokens.access_token).cnf as { jkt: string }).jkt;
    const response = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${apiBase}/orders`),
      'GET',
      undefined,
      undefined,
      { DPoP },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ client: two.clientId, jkt });
    await expectUselessWithoutKey(tokens.access_token);
  });
});
