/**
 * Workload trust sources against hostile or slow endpoints, over real HTTPS on 127.0.0.1:
 * - a SPIFFE bundle endpoint slower than 3 s (a SPIRE server far away) with
 *   `remoteJwks.timeoutMs` raised for it: the code before this change ignored the setting for
 *   bundle endpoints (docs/workload-identity.md names it) and cut the fetch at 3 s, so every SVID
 *   of the domain failed with 503. The endpoint answers after 3.5 s, from a timer in this same
 *   process as Tollgate's own: the 3 s timeout always fires first, whatever the machine's load;
 * - an issuer whose discovery document names another issuer, or an http `jwks_uri`: no key is
 *   ever taken from it (OpenID Connect Discovery §4.3, exact issuer match), every token of the
 *   source fails closed with 503.
 *
 * @see SPIFFE Federation §5, OpenID Connect Discovery 1.0 §4, docs/workload-identity.md
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import {
  createTrustDomain,
  createWorkloadIssuer,
  type FixtureServer,
  startFixtureServer,
  type TrustDomain,
  type WorkloadIssuer,
} from '../helpers/workload.js';

const jwtSpiffe = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';
const jwtBearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** How long the slow bundle endpoint takes: past the 3 s default, well within the 20 s set. */
const slowBundleMs = 3_500;

function expectRefused(result: TokenResult, status: number, description: RegExp): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect(result.status).toBe(status);
  expect(result.errorDescription).toMatch(description);
}

describe('workload trust sources against slow and hostile endpoints', () => {
  let serverCa: DevCa;
  let fixtures: FixtureServer;
  let slow: Server;
  let td: TrustDomain;
  let mismatch: WorkloadIssuer;
  let plainJwks: WorkloadIssuer;
  let tg: MtlsTollgate;

  beforeAll(async () => {
    serverCa = await createDevCa();
    fixtures = await startFixtureServer(serverCa);
    td = await createTrustDomain('far.example.org');
    const leaf = await serverCa.issueServer();
    slow = createServer({ cert: leaf.chainPem, key: leaf.keyPem }, (_request, response) => {
      const timer = setTimeout(() => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(td.bundle()));
      }, slowBundleMs);
      response.on('close', () => clearTimeout(timer));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowBase = `https://127.0.0.1:${(slow.address() as AddressInfo).port}`;

    mismatch = await createWorkloadIssuer(fixtures, '/mismatch');
    mismatch.publish();
    fixtures.routes.set('/mismatch/.well-known/openid-configuration', {
      body: {
        issuer: `${fixtures.base}/elsewhere`,
        jwks_uri: `${fixtures.base}/mismatch/openid/v1/jwks`,
      },
    });
    plainJwks = await createWorkloadIssuer(fixtures, '/plain');
    plainJwks.publish();
    fixtures.routes.set('/plain/.well-known/openid-configuration', {
      body: { issuer: plainJwks.issuer, jwks_uri: `http://127.0.0.1:9/openid/v1/jwks` },
    });

    const caFile = join(await mkdtemp(join(tmpdir(), 'tollgate-wl-sources-')), 'fixture-ca.pem');
    await writeFile(caFile, fixtures.caPem);
    const federated = (clientId: string, source: string) => ({
      client_id: clientId,
      token_endpoint_auth_method: 'federated_jwt',
      federated_identity: { source, subject: 'system:serviceaccount:payments:ledger' },
      scope: 'read',
    });
    tg = await startMtlsTollgate({
      ca: serverCa,
      clients: [
        {
          client_id: 'far',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: 'spiffe://far.example.org/ns/prod/sa/api',
          scope: 'read',
        },
        federated('ledger-mismatch', 'mismatch'),
        federated('ledger-plain', 'plain'),
      ],
      tollgate: { workload: { poll: false } },
      config: {
        remoteJwks: { timeoutMs: 20_000 },
        workloadIdentity: {
          sources: [
            {
              kind: 'spiffe',
              name: 'far',
              trustDomain: 'far.example.org',
              bundleEndpointUrl: `${slowBase}/bundle`,
              caFile,
            },
            { kind: 'oidc-issuer', name: 'mismatch', issuer: mismatch.issuer, caFile },
            { kind: 'oidc-issuer', name: 'plain', issuer: plainJwks.issuer, caFile },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await tg?.dispose();
    await fixtures?.close();
    slow?.closeAllConnections();
    slow?.close();
  });

  const send = (clientId: string, type: string, assertion: string) =>
    tg.token({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: type,
      client_assertion: assertion,
    });

  it('waits for a slow bundle endpoint as long as remoteJwks.timeoutMs says', async () => {
    const svid = await td.jwtSvid('/ns/prod/sa/api', {
      aud: tg.issuer,
      nowSeconds: Date.now() / 1000,
    });
    const result = await send('far', jwtSpiffe, svid);
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it('takes no key from a discovery document naming another issuer or an http jwks_uri', async () => {
    const token = (issuer: WorkloadIssuer) =>
      issuer.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: tg.issuer,
        nowSeconds: Date.now() / 1000,
      });
    expectRefused(
      await send('ledger-mismatch', jwtBearer, await token(mismatch)),
      503,
      /no current keys/,
    );
    expectRefused(
      await send('ledger-plain', jwtBearer, await token(plainJwks)),
      503,
      /no current keys/,
    );
    // Neither JWKS was ever fetched: the discovery document was refused first.
    expect(fixtures.hits.get('/mismatch/openid/v1/jwks')).toBeUndefined();
  });
});
