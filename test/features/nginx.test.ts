/**
 * Tollgate behind a real nginx that terminates TLS (`ssl_verify_client optional_no_ca`) and
 * forwards the client certificate as `$ssl_client_escaped_cert` to the plain listener.
 * .ci/run installs nginx; without it (and outside CI) this suite is skipped with a notice.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createNegativeFixtures,
  type DevCa,
  type IssuedClientCertificate,
  type NegativeFixtureSet,
} from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { findNginx, type RunningNginx, startNginx } from '../helpers/nginx.js';

const nginx = findNginx();
if (nginx === undefined && process.env.CI !== undefined) {
  throw new Error('nginx is required in CI (.ci/run installs it)');
}
if (nginx === undefined)
  console.warn('nginx not installed: skipping the nginx suite (apt-get install nginx-light)');

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

describe.skipIf(nginx === undefined)('behind a real nginx', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let proxy: RunningNginx;
  let client: IssuedClientCertificate;
  let negative: NegativeFixtureSet;

  const viaNginx = (
    body: string,
    identity?: { cert: string; key: string },
    headers: Record<string, string> = {},
  ) =>
    new Promise<Reply>((resolve, reject) => {
      const req = httpsRequest(
        `https://127.0.0.1:${proxy.port}/token`,
        {
          method: 'POST',
          ca: ca.root.certPem,
          servername: 'localhost',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
          ...(identity ?? {}),
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text) as Record<string, unknown>,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  beforeAll(async () => {
    ca = await createDevCa();
    client = await ca.issueClient({ clientId: 'svc-nginx', subject: 'CN=svc-nginx,O=Acme,C=US' });
    negative = await createNegativeFixtures(ca);
    server = await startMtlsTollgate({
      ca,
      plain: true,
      clients: [
        {
          client_id: 'svc-nginx',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=svc-nginx,O=Acme,C=US',
        },
        negative.fixtures['foreign-ca'].registration,
        negative.fixtures.revoked.registration,
      ],
      config: {
        proxy: {
          trustedCidrs: ['127.0.0.1/32'],
          certificateFormat: 'nginx',
          nginxHeader: 'x-ssl-client-cert',
        },
      },
    });
    const serverCert = await ca.issueServer();
    proxy = await startNginx({
      binary: nginx as string,
      certPem: serverCert.chainPem,
      keyPem: serverCert.keyPem,
      upstreamPort: Number(new URL(server.plainBase as string).port),
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.dispose();
  });

  it('a good client gets a token bound to its certificate', async () => {
    const reply = await viaNginx('grant_type=client_credentials&client_id=svc-nginx', {
      cert: client.chainPem,
      key: client.keyPem,
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(claimsOf(reply.body.access_token as string).cnf).toEqual({
      'x5t#S256': thumbprintOf(client.certPem),
    });
  });

  it('a certificate from a foreign CA, passed along by nginx, is rejected by Tollgate', async () => {
    const fixture = negative.fixtures['foreign-ca'];
    const reply = await viaNginx(`grant_type=client_credentials&client_id=${fixture.clientId}`, {
      cert: fixture.presentedChainPem,
      key: fixture.cert.keyPem,
    });
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/does not chain/),
    });
  });

  it('a revoked certificate, passed along by nginx, is rejected by Tollgate', async () => {
    const fixture = negative.fixtures.revoked;
    const reply = await viaNginx(`grant_type=client_credentials&client_id=${fixture.clientId}`, {
      cert: fixture.presentedChainPem,
      key: fixture.cert.keyPem,
    });
    expect(reply.status).toBe(401);
    expect(reply.body.error_description).toMatch(/revoked/);
  });

  it('a client cannot inject the header through nginx', async () => {
    const forged = encodeURIComponent(client.certPem);
    const reply = await viaNginx('grant_type=client_credentials&client_id=svc-nginx', undefined, {
      'x-ssl-client-cert': forged,
    });
    expect(reply.status).toBe(401);
    expect(reply.body.error_description).toMatch(/needs a client certificate/);
  });

  it('a forged header sent straight to Tollgate from outside the trusted CIDRs is ignored', async () => {
    const reply = await new Promise<Reply>((resolve, reject) => {
      const req = httpRequest(
        `${server.plainBase}/token`,
        {
          method: 'POST',
          localAddress: '127.0.0.2',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'x-ssl-client-cert': encodeURIComponent(client.certPem),
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(text) as Record<string, unknown>,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end('grant_type=client_credentials&client_id=svc-nginx');
    });
    expect(reply.status).toBe(401);
    expect(reply.body.error_description).toMatch(/needs a client certificate/);
  });
});
