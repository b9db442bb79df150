/**
 * The end-to-end example (examples/): dev CA, Tollgate, the client service on the SDK, the
 * protected API on the resource plugin, all over real TLS on 127.0.0.1. The API accepts the
 * token with the client's certificate, and rejects the same token with another certificate from
 * the same CA and with no certificate.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callOrders, createClientService } from '../../examples/client-service.js';
import { buildProtectedApi } from '../../examples/protected-api.js';
import type { TokenClient } from '../../src/client/index.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { bearer, call } from '../resource/http.js';

describe('example: client service -> Tollgate -> protected API', () => {
  let ca: DevCa;
  let dir: string;
  let tollgate: MtlsTollgate;
  let api: FastifyInstance;
  let apiBase: string;
  let client: TokenClient;
  let service: IssuedClientCertificate;
  let thief: IssuedClientCertificate;

  beforeAll(async () => {
    ca = await createDevCa();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-example-'));
    service = await ca.issueClient({ clientId: 'svc-example' });
    thief = await ca.issueClient({ clientId: 'svc-thief' });
    const files = {
      cert: join(dir, 'chain.pem'),
      key: join(dir, 'key.pem'),
      ca: join(dir, 'root.pem'),
    };
    await writeFile(files.cert, service.chainPem);
    await writeFile(files.key, service.keyPem, { mode: 0o600 });
    await writeFile(files.ca, ca.root.certPem);

    const apiPort = await freePort();
    const audience = `https://localhost:${apiPort}`;
    tollgate = await startMtlsTollgate({
      ca,
      clients: [
        {
          client_id: 'svc-example',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: service.subject,
          grant_types: ['client_credentials'],
          scope: 'read write',
          tls_client_certificate_bound_access_tokens: true,
        },
      ],
      // What examples/tollgate.json does for `npm run tollgate -- serve`.
      config: { accessToken: { defaultAudience: audience } },
    });

    const apiCert = await ca.issueServer();
    api = await buildProtectedApi({
      issuer: tollgate.issuer,
      audience,
      publicOrigin: `https://127.0.0.1:${apiPort}`,
      jwksUri: `${tollgate.base}/jwks`,
      caPem: ca.root.certPem,
      certPem: apiCert.chainPem,
      keyPem: apiCert.keyPem,
    });
    await api.listen({ host: '127.0.0.1', port: apiPort });
    apiBase = `https://127.0.0.1:${apiPort}`;

    client = createClientService({
      tokenEndpoint: `${tollgate.base}/token`,
      clientId: 'svc-example',
      certFile: files.cert,
      keyFile: files.key,
      caFile: files.ca,
    });
  });
  afterAll(async () => {
    await client?.close();
    await api?.close();
    await tollgate?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('the client service gets a bound token and the API accepts it with its certificate', async () => {
    const result = await callOrders(client, apiBase);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    expect(result.body).toMatchObject({
      client_id: 'svc-example',
      bound_to: thumbprintOf(service.certPem),
    });
    // A second call reuses the cached token: one token request in all.
    expect((await callOrders(client, apiBase)).status).toBe(200);
    expect(client.requestCount).toBe(1);
  });

  it('the same token with another certificate from the same CA is refused', async () => {
    const { accessToken } = await client.getToken();
    const res = await call(`${apiBase}/orders`, {
      ca: ca.root.certPem,
      headers: bearer(accessToken),
      cert: thief.chainPem,
      key: thief.keyPem,
    });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.json?.error_description).toMatch(/different client certificate/);
  });

  it('the same token with no certificate is refused', async () => {
    const { accessToken } = await client.getToken();
    const res = await call(`${apiBase}/orders`, {
      ca: ca.root.certPem,
      headers: bearer(accessToken),
    });
    expect(res.status).toBe(401);
    expect(res.json?.error_description).toMatch(/bound to a client certificate/);
  });

  it('the API needs the write scope to create orders', async () => {
    const { accessToken } = await client.getToken();
    const res = await call(`${apiBase}/orders`, {
      method: 'POST',
      ca: ca.root.certPem,
      headers: bearer(accessToken),
      cert: service.chainPem,
      key: service.keyPem,
    });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toMatch(/error="insufficient_scope".*scope="write"/);
  });
});
