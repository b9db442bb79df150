/**
 * The client SDK with DPoP (RFC 9449), against a real Tollgate that requires nonces and a real
 * API (the resource plugin over HTTPS) that requires its own: the TokenClient gets a DPoP-bound
 * token (one retry on use_dpop_nonce), calls the API with a proof per request (one retry on the
 * API's nonce), caches tokens per key, and a key from a file works the same.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenClient } from '../../src/client/index.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { tollgateResource } from '../../src/resource/index.js';
import { makeProofKey } from '../helpers/dpop.js';
import { claimsOf } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { type RunningTollgate, startTollgate } from './harness.js';

const orders = 'https://api.test/orders';

describe('TokenClient with DPoP', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let jwt: JwtClient;
  let api: FastifyInstance;
  let apiBase: string;

  beforeAll(async () => {
    ca = await createDevCa();
    jwt = await makeJwtClient('svc-dpop', 'ES256', {
      allowed_resources: [orders],
      default_resource: orders,
    });
    server = await startTollgate({
      ca,
      clients: [jwt.metadata],
      config: { dpop: { nonce: { required: true } }, rateLimits: { enabled: false } },
    });
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
      jkt: request.accessToken?.dpopJkt,
    }));
    api.post('/orders', { config: { tollgate: {} } }, async (request) => ({ got: request.body }));
    await api.listen({ host: '127.0.0.1', port: apiPort });
  });
  afterAll(async () => {
    await api?.close();
    await server?.dispose();
  });

  it('gets a DPoP token (retrying once on use_dpop_nonce) and calls the API with proofs', async () => {
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: jwt.clientId, key: jwt.key.privateJwk },
      ca: ca.root.certPem,
      dpop: { key: true },
    });
    const token = await client.getToken();
    expect(token.tokenType).toBe('DPoP');
    expect(token.dpopJkt).toBe(client.dpopJkt);
    expect(claimsOf(token.accessToken).cnf).toEqual({ jkt: client.dpopJkt });
    // The first request learned the nonce from use_dpop_nonce; the retry used it.
    expect(client.requestCount).toBe(2);

    const first = await client.fetch(`${apiBase}/orders?x=1`);
    expect(first.status, await first.clone().text()).toBe(200);
    expect(await first.json()).toEqual({ jkt: client.dpopJkt });
    // The API's nonce is now known: the next call goes through at once, with a fresh proof.
    const second = await client.fetch(`${apiBase}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1 }),
    });
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ got: { n: 1 } });
    expect(client.requestCount).toBe(2);
    await client.close();
  });

  it('a key file works the same; tokens are cached per key', async () => {
    const key = await makeProofKey('ES256');
    const file = join(server.dir, 'dpop-key.json');
    await writeFile(file, JSON.stringify(key.privateJwk), { mode: 0o600 });
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: jwt.clientId, key: jwt.key.privateJwk },
      ca: ca.root.certPem,
      dpop: { key: file },
    });
    const one = await client.getToken();
    expect(client.dpopJkt).toBe(key.jkt);
    expect(claimsOf(one.accessToken).cnf).toEqual({ jkt: key.jkt });
    const again = await client.getToken();
    expect(again.accessToken).toBe(one.accessToken);
    const res = await client.fetch(`${apiBase}/orders`);
    expect(res.status).toBe(200);
    await client.close();
  });
});
