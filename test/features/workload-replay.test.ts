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
 *   refused long after the age cap had made them worthless;
 * - a Redis data loss: the store fences claims for the longest time a lost claim could matter,
 *   which counted private_key_jwt assertions only (340 s by default), while a spent
 *   service-account token stays acceptable for its source's age cap (an hour by default): once
 *   the fence lifted, a token spent before the loss could be used again for the rest of the hour.
 *
 * The clock is injected and moved; the only waits are bounded polls while Redis connects. A restart is a second Tollgate with a fresh
 * memory replay store, as a new process has (test/features/restart-replay.test.ts runs real
 * processes for private_key_jwt).
 *
 * @see draft-ietf-oauth-spiffe-client-auth §3.1, RFC 7523 §3 (item 7), docs/workload-identity.md
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../src/client/token-request.js';
import type { ConfigInput } from '../../src/config/index.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { makeJwtClient } from '../helpers/tollgate.js';
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

  async function start(
    config: ConfigInput = {},
    extraClients: unknown[] = [],
  ): Promise<MtlsTollgate> {
    const tg = await startMtlsTollgate({
      ca: serverCa,
      clients: [
        ...extraClients,
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
  it.skipIf(!redisAvailable({ needBinary: true }))(
    'fences a Redis data loss, on every instance, for as long as a spent workload token is acceptable',
    async () => {
      const redis: TestRedis = await startRedis();
      const instances: MtlsTollgate[] = [];
      try {
        // Two instances sharing one Redis, as behind a load balancer.
        const shared = {
          replay: { store: 'redis' as const },
          redis: { url: redis.url, keyPrefix: `wl-fence:${crypto.randomUUID()}:` },
        };
        // A private_key_jwt client probes the fence: its 60 s assertions add nothing to it.
        const batch = await makeJwtClient('batch');
        instances.push(
          await start(shared, [batch.metadata]),
          await start(shared, [batch.metadata]),
        );
        const [a, b] = instances as [MtlsTollgate, MtlsTollgate];
        const sa = await saToken();
        // Bounded: the store connects and checks its epoch before it decides claims.
        let first = await send(a, 'ledger', jwtBearer, sa);
        for (let i = 0; i < 100 && !first.ok && first.status === 503; i++) {
          await sleep(50);
          first = await send(a, 'ledger', jwtBearer, sa);
        }
        expectIssued(first);
        // A goes away (a rolling deploy) and B, which has checked the record's epoch but
        // claimed nothing, is left to notice the loss: no claim of its own stretches its fence
        // (A's would have, had A still been running).
        await a.dispose();
        instances.splice(instances.indexOf(a), 1);
        running.splice(running.indexOf(a), 1);
        let ready = 0;
        for (let i = 0; i < 100 && ready !== 200; i++) {
          ready = (await b.tg.app.inject({ method: 'GET', url: '/readyz' })).statusCode;
          if (ready !== 200) await sleep(50);
        }
        expect(ready).toBe(200);

        const admin = new Redis(redis.url);
        try {
          await admin.flushall();
        } finally {
          admin.disconnect();
        }
        // B notices the loss at its next claim (any client's) and fences every part of the record
        // it has no claim of its own in, the spent token's included. That token is accepted by
        // its source until iat + 3600 s + 30 s, so the fence must last at least that long, or the
        // token is good again at B once it lifts (the code before this change fenced 340 s).
        let retryAfter = 0;
        for (let i = 0; i < 100 && retryAfter <= 1; i++) {
          const fenced = await b.token({
            grant_type: 'client_credentials',
            client_assertion_type: jwtBearer,
            client_assertion: await signAssertion(batch.key.privateJwk, 'batch', issuer, {
              nowSeconds: Math.floor(nowSeconds()),
            }),
          });
          expect(fenced.ok, JSON.stringify(fenced)).toBe(false);
          if (!fenced.ok) retryAfter = fenced.retryAfterSeconds ?? 0;
          if (retryAfter <= 1) await sleep(50);
        }
        expect(retryAfter).toBeGreaterThanOrEqual(3_600 + 30);
      } finally {
        for (const tg of instances) {
          await tg.dispose();
          running.splice(running.indexOf(tg), 1);
        }
        await redis.dispose();
      }
    },
  );
});
