/** The real HTTPS listener on 127.0.0.1: handshake, token over the wire, metadata, JWKS. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { capturingLogger } from '../helpers/dpop.js';
import { freePort } from '../helpers/net.js';
import {
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
} from '../helpers/tollgate.js';

function getJson(
  url: string,
  ca: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: JSON.parse(Buffer.concat(chunks).toString()),
        }),
      );
    }).on('error', reject);
  });
}

describe('HTTPS listener', () => {
  let ca: DevCa;
  let tg: TestTollgate;
  let client: JwtClient;
  let base: string;
  let issuer: string;
  const log = capturingLogger();

  beforeAll(async () => {
    ca = await createDevCa();
    const server = await ca.issueServer();
    client = await makeJwtClient('svc-wire');
    const certDir = await mkdtemp(join(tmpdir(), 'tollgate-listener-'));
    const certFile = join(certDir, 'server.pem');
    const keyFile = join(certDir, 'server-key.pem');
    await writeFile(certFile, server.chainPem);
    await writeFile(keyFile, server.keyPem, { mode: 0o600 });
    const port = await freePort();
    issuer = `https://localhost:${port}`;
    tg = await makeTollgate({
      clients: [client.metadata],
      config: { issuer, tls: { host: '127.0.0.1', port, certFile, keyFile } },
      tollgate: { tls: true, logger: log.logger },
    });
    await tg.listen();
    base = `https://127.0.0.1:${port}`;
  });
  afterAll(() => tg?.dispose());

  it('logs the TLS listener as https:// (Fastify alone says http://), the admin one as http://', () => {
    const listening = log.lines
      .map((line) => line.msg)
      .filter((msg) => typeof msg === 'string' && msg.startsWith('Server listening at '));
    expect(listening).toContain(`Server listening at ${base}`);
    expect(listening.filter((msg) => (msg as string).includes(`:${new URL(base).port}`))).toEqual([
      `Server listening at ${base}`,
    ]);
    expect(
      listening.some((msg) =>
        /^Server listening at http:\/\/127\.0\.0\.1:\d+$/.test(msg as string),
      ),
    ).toBe(true);
  });

  it('issues a token over TLS that verifies against the served JWKS', async () => {
    const assertion = await createClientAssertion({
      clientId: client.clientId,
      audience: issuer,
      key: client.key.privateJwk,
    });
    const result = await postTokenRequest({
      tokenEndpoint: `${base}/token`,
      params: {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      },
      ca: ca.root.certPem,
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    expect(result.serverDateMs).toBeTypeOf('number');
    const jwks = await getJson(`${base}/jwks`, ca.root.certPem);
    expect(jwks.headers['content-type']).toMatch(/application\/jwk-set\+json/);
    const { payload } = await jwtVerify(
      result.accessToken,
      createLocalJWKSet(jwks.body as { keys: [] }),
      {
        issuer,
        audience: issuer,
        typ: 'at+jwt',
      },
    );
    expect(payload.client_id).toBe(client.clientId);
  });

  it('serves RFC 8414 metadata matching the configuration', async () => {
    const { status, body } = await getJson(
      `${base}/.well-known/oauth-authorization-server`,
      ca.root.certPem,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      issuer,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: [
        'private_key_jwt',
        'tls_client_auth',
        'self_signed_tls_client_auth',
      ],
      tls_client_certificate_bound_access_tokens: true,
    });
    expect(
      (body as Record<string, unknown>).token_endpoint_auth_signing_alg_values_supported,
    ).not.toContain('none');
    expect(
      (body as Record<string, unknown>).token_endpoint_auth_signing_alg_values_supported,
    ).not.toContain('HS256');
  });

  it('refuses TLS below 1.2', async () => {
    const error = await new Promise<Error | undefined>((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port: Number(new URL(base).port),
        ca: ca.root.certPem,
        servername: 'localhost',
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      });
      socket.on('secureConnect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.on('error', resolve);
    });
    expect(error).toBeInstanceOf(Error);
  });

  it('answers health and readiness', async () => {
    expect((await getJson(`${base}/healthz`, ca.root.certPem)).status).toBe(200);
    const ready = await getJson(`${base}/readyz`, ca.root.certPem);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready' });
  });
});
