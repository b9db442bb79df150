/**
 * Single-use workload tokens (`jti: required-unique` / `unique-when-present`) over real HTTPS:
 * Tollgate on 127.0.0.1 with the memory replay store, a SPIFFE trust domain (bundle endpoint) and
 * a Kubernetes-shaped issuer (discovery + JWKS), both served here over https.
 *
 * Attacks, each of which the code before the fix let through:
 * - a restart: a JWT-SVID or service-account token spent before the server restarted is sent
 *   again after it. The memory store forgot its `jti`; private_key_jwt fenced this (its assertions
 *   issued before the store started are refused), the workload methods did not and issued a
 *   second token for the same single-use credential;
 * - long-lived tokens: a token whose `exp` is far beyond what the source's age cap lets it be used
 *   for held its `jti` in the replay store until `exp` (30 days here), so a client's share of the
 *   store filled with claims of tokens that could never be accepted again, and the client was
 *   refused long after the age cap had made them worthless.
 *
 * The clock is injected and moved; nothing sleeps. A restart is a second Tollgate with a fresh
 * memory replay store, as a new process has (test/features/restart-replay.test.ts runs real
 * processes for private_key_jwt).
 *
 * @see draft-ietf-oauth-spiffe-client-auth §3.1, RFC 7523 §3 (item 7), docs/workload-identity.md
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../src/client/token-request.js';
import type { ConfigInput } from '../../src/config/index.js';
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
/** The issuer identifier of every Tollgate here: the same across a restart, as in production. */
const issuer = 'https://tollgate.replay.test';

function expectIssued(result: TokenResult): void {
  expect(result.ok, JSON.stringify(result)).toBe(true);
}

function expectRefused(result: TokenResult, status: number, description: RegExp): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect(result.status).toBe(status);
  expect(result.errorDescription).toMatch(description);
}

describe('single-use workload tokens and the memory replay store', () => {
  let serverCa: DevCa;
  let fixtures: FixtureServer;
  let td: TrustDomain;
  let cluster: WorkloadIssuer;
  let caFile: string;
  let nowMs = Date.now();
  const nowSeconds = () => nowMs / 1000;
  const running: MtlsTollgate[] = [];

  beforeAll(async () => {
    serverCa = await createDevCa();
    fixtures = await startFixtureServer(serverCa);
    td = await createTrustDomain('example.org');
    cluster = await createWorkloadIssuer(fixtures, '/cluster-a');
    cluster.publish();
    fixtures.routes.set('/bundle.json', { body: td.bundle() });
    caFile = join(await mkdtemp(join(tmpdir(), 'tollgate-wl-replay-')), 'fixture-ca.pem');
    await writeFile(caFile, fixtures.caPem);
  });

  afterAll(async () => {
    for (const tg of running) await tg.dispose();
    await fixtures?.close();
  });

  async function start(config: ConfigInput = {}): Promise<MtlsTollgate> {
    const tg = await startMtlsTollgate({
      ca: serverCa,
      clients: [
        {
          client_id: 'api',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: 'spiffe://example.org/ns/prod/sa/api',
          scope: 'read',
        },
        {
          client_id: 'ledger',
          token_endpoint_auth_method: 'federated_jwt',
          federated_identity: {
            source: 'cluster-a',
            subject: 'system:serviceaccount:payments:ledger',
          },
          scope: 'read',
        },
      ],
      tollgate: { now: () => nowMs, workload: { poll: false } },
      config: {
        issuer,
        workloadIdentity: {
          sources: [
            {
              kind: 'spiffe',
              name: 'example-org',
              trustDomain: 'example.org',
              bundleEndpointUrl: `${fixtures.base}/bundle.json`,
              caFile,
              jti: 'required-unique',
            },
            {
              kind: 'oidc-issuer',
              name: 'cluster-a',
              issuer: cluster.issuer,
              caFile,
              jti: 'unique-when-present',
            },
          ],
        },
        ...config,
      },
    });
    running.push(tg);
    return tg;
  }

  const send = (tg: MtlsTollgate, clientId: string, type: string, assertion: string) =>
    tg.token({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: type,
      client_assertion: assertion,
    });
  const jwtSvid = (claims?: Record<string, unknown>) =>
    td.jwtSvid('/ns/prod/sa/api', {
      aud: issuer,
      nowSeconds: nowSeconds(),
      claims: { jti: crypto.randomUUID(), ...claims },
    });
  const saToken = (lifetimeSeconds?: number) =>
    cluster.token({
      namespace: 'payments',
      serviceAccount: 'ledger',
      aud: issuer,
      nowSeconds: nowSeconds(),
      ...(lifetimeSeconds === undefined ? {} : { lifetimeSeconds }),
    });

  it('refuses a single-use token spent before a restart, and accepts fresh ones after it', async () => {
    const before = await start();
    // A token without iat is placed at exp - age cap - tolerance (below): one minted right at the
    // start would predate the store, so the clock moves on first.
    nowMs += 60_000;
    const svid = await jwtSvid();
    const svidWithoutIat = await jwtSvid({ iat: undefined });
    const sa = await saToken();
    expectIssued(await send(before, 'api', jwtSpiffe, svid));
    expectIssued(await send(before, 'api', jwtSpiffe, svidWithoutIat));
    expectIssued(await send(before, 'ledger', jwtBearer, sa));
    expectRefused(await send(before, 'api', jwtSpiffe, svid), 401, /was replayed/);
    expectRefused(await send(before, 'ledger', jwtBearer, sa), 401, /was replayed/);
    await before.dispose();
    running.splice(running.indexOf(before), 1);

    nowMs += 5_000;
    const after = await start();
    const predates = /issued before this server started its replay record/;
    expectRefused(await send(after, 'api', jwtSpiffe, svid), 401, predates);
    expectRefused(await send(after, 'api', jwtSpiffe, svidWithoutIat), 401, predates);
    expectRefused(await send(after, 'ledger', jwtBearer, sa), 401, predates);

    nowMs += 1_000;
    expectIssued(await send(after, 'api', jwtSpiffe, await jwtSvid()));
    expectIssued(await send(after, 'ledger', jwtBearer, await saToken()));
    // One without iat is placed at exp - age cap - tolerance: fresh ones pass once that is after
    // the restart.
    nowMs += 60_000;
    expectIssued(await send(after, 'api', jwtSpiffe, await jwtSvid({ iat: undefined })));
  });

  it('holds the jti of a long-lived token only while the age cap still accepts it', async () => {
    const tg = await start({ replay: { store: 'memory', maxEntries: 2, maxClientShare: 1 } });
    const monthSeconds = 30 * 24 * 3600;
    expectIssued(await send(tg, 'ledger', jwtBearer, await saToken(monthSeconds)));
    expectIssued(await send(tg, 'ledger', jwtBearer, await saToken(monthSeconds)));
    // The store is full of this client's two live claims.
    const full = await send(tg, 'ledger', jwtBearer, await saToken(monthSeconds));
    expect(full.ok, JSON.stringify(full)).toBe(false);

    // Past the source's age cap (3600 s + 30 s tolerance) the first two can never be accepted
    // again, whatever their exp: their claims are spent, and new tokens get in.
    nowMs += 3_700_000;
    expectIssued(await send(tg, 'ledger', jwtBearer, await saToken(monthSeconds)));
  });
});
