/**
 * Redis failing under two real Tollgate processes (DESIGN.md §4): assertion requests fail closed
 * with 503 `temporarily_unavailable` and `Retry-After`, fast; mutual TLS keeps issuing tokens;
 * `/readyz` says degraded (200: mTLS still works, so the load balancer keeps the instances); both instances recover on their own when Redis is back. And killing
 * Redis never yields a token for a replayed assertion:
 * - a crash of a Redis that persists every write (AOF, fsync always: the deployment guide's
 *   setting) keeps the claims, so a replay is 503 during the outage and 401 after it;
 * - a restart that loses everything (no persistence) is detected by the replay store's epoch
 *   key, and every instance refuses assertions (503) until every claim that could have been lost
 *   has expired; only then do fresh assertions get tokens again.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  clusterIssuer,
  type Instance,
  type Instances,
  startInstances,
} from '../helpers/instances.js';
import { processTestTimeoutMs } from '../helpers/process.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const enabled = redisAvailable({ needBinary: true });

/**
 * Guards of the polls in this file (recovery, readiness), against a hang: not budgets, since a
 * busy machine slows every step.
 */
const recoveryTimeoutMs = 120_000;
/**
 * Long, so that "at once" and "after a command timeout" stay far apart however busy the machine:
 * a request that waited on Redis takes at least this; one that did not takes a handshake's time
 * (500 ms used to be both the timeout and, with a 1 s bound, the whole margin).
 */
const commandTimeoutMs = 5_000;
/**
 * Short assertions (and a short accepted lifetime) keep the data-loss fence, which lasts as long
 * as the longest claim that could have been lost, to seconds.
 */
const assertionLifetimeSeconds = 3;
const maxAssertionLifetimeSeconds = 5;
const clockToleranceSeconds = 10;

describe.skipIf(!enabled)('two Tollgate processes when Redis fails', () => {
  let redis: TestRedis;
  let ca: DevCa;
  let instances: Instances;
  let jwtClient: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  const mtlsDn = 'CN=svc-mtls,O=Acme Corp,C=US';

  beforeAll(async () => {
    // Persistent: a crash keeps claims (the last scenario wipes the files on purpose).
    redis = await startRedis({ persistence: 'aof' });
    ca = await createDevCa();
    jwtClient = await makeJwtClient('svc-jwt');
    mtlsCert = await ca.issueClient({ clientId: 'svc-mtls', subject: mtlsDn });
    instances = await startInstances({
      ca,
      count: 2,
      clients: [
        jwtClient.metadata,
        {
          client_id: 'svc-mtls',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: mtlsDn,
          scope: 'read',
        },
      ],
      config: {
        replay: { store: 'redis' },
        redis: {
          url: redis.url,
          keyPrefix: `tollgate-failure-${randomUUID()}:`,
          connectTimeoutMs: commandTimeoutMs,
          commandTimeoutMs,
        },
        clientAuth: { maxAssertionLifetimeSeconds, clockToleranceSeconds },
        // Shared rate limits on the same Redis: they must fail open, so mTLS keeps working.
        rateLimits: {
          store: 'redis',
          failedAuthPerAddress: 100_000,
          failedAuthPerClient: 100_000,
        },
      },
    });
  }, processTestTimeoutMs);
  afterAll(async () => {
    await instances?.dispose();
    await redis?.dispose();
  });

  const assertion = () =>
    signAssertion(jwtClient.key.privateJwk, jwtClient.clientId, clusterIssuer, {
      claims: { exp: Math.floor(Date.now() / 1000) + assertionLifetimeSeconds },
    });
  const withAssertion = (instance: Instance, signed: string) =>
    instance.token({
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: signed,
    });
  const withCertificate = (instance: Instance) =>
    instance.token(
      { grant_type: 'client_credentials', client_id: 'svc-mtls' },
      { cert: mtlsCert.chainPem, key: mtlsCert.keyPem },
    );

  function expectUnavailable(result: TokenResult, context: string): void {
    expect(result.ok, `${context}: ${JSON.stringify(result)}`).toBe(false);
    if (result.ok) return;
    expect(result.status, context).toBe(503);
    expect(result.error).toBe('temporarily_unavailable');
    expect(result.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  }

  function expectToken(result: TokenResult, context: string): void {
    expect(result.ok, `${context}: ${JSON.stringify(result)}`).toBe(true);
  }

  async function expectNotReady(): Promise<void> {
    for (const instance of instances.list) {
      const { status, body } = await instance.readyz();
      expect(status, instance.name).toBe(200);
      expect(body).toMatchObject({ status: 'degraded', checks: { replayStore: false } });
    }
  }

  /** Polls (bounded) until both instances are ready, without restarting anything. */
  async function waitRecovered(timeoutMs = recoveryTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const instance of instances.list) {
      for (;;) {
        const { status, body } = await instance.readyz();
        if (status === 200 && (body as { status?: string }).status === 'ready') break;
        if (Date.now() > deadline) throw new Error(`${instance.name} did not recover`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  it('Redis crashes (SIGKILL): fast 503s, mTLS works, not ready; replays never get a token; recovery', {
    timeout: processTestTimeoutMs,
  }, async () => {
    const used = await assertion();
    expectToken(await withAssertion(instances.list[0] as Instance, used), 'before the crash');

    await redis.kill();
    // The connection drops at once; both instances notice without a request.
    await waitNotReady();
    await expectNotReady();

    for (const instance of instances.list) {
      const started = performance.now();
      expectUnavailable(await withAssertion(instance, await assertion()), instance.name);
      // Nothing waits on Redis while it is down: the 503 comes without a command timeout (the
      // issue's "within a second" is a latency figure, for the bench, not a test's stopwatch).
      expect(performance.now() - started).toBeLessThan(commandTimeoutMs);
      expectUnavailable(await withAssertion(instance, used), `${instance.name} replay, down`);
      expectToken(await withCertificate(instance), `${instance.name} mTLS, down`);
    }

    await redis.start();
    await waitRecovered();
    for (const instance of instances.list) {
      expectToken(await withAssertion(instance, await assertion()), `${instance.name} recovered`);
      // The claim survived the crash (AOF): still a replay.
      const replay = await withAssertion(instance, used);
      expect(replay).toMatchObject({ ok: false, status: 401, error: 'invalid_client' });
      if (!replay.ok) expect(replay.errorDescription).toMatch(/replayed/);
    }
  });

  it('Redis freezes (SIGSTOP): 503 within the command timeout, then at once; mTLS works; recovery', {
    timeout: processTestTimeoutMs,
  }, async () => {
    redis.freeze();
    try {
      for (const instance of instances.list) {
        // The first waits for one command timeout and is answered 503 (a request that hung would
        // end in the client's own timeout instead, not in a 503)...
        expectUnavailable(await withAssertion(instance, await assertion()), instance.name);
        // Later requests do not each wait for a command timeout: the store knows Redis is stuck.
        const rounds = 5;
        const started = performance.now();
        for (let i = 0; i < rounds; i++) {
          expectUnavailable(await withAssertion(instance, await assertion()), instance.name);
        }
        expect(performance.now() - started).toBeLessThan(rounds * commandTimeoutMs);
        expectToken(await withCertificate(instance), `${instance.name} mTLS, frozen`);
      }
      await expectNotReady();
    } finally {
      redis.thaw();
    }
    await waitRecovered();
    for (const instance of instances.list) {
      expectToken(await withAssertion(instance, await assertion()), `${instance.name} thawed`);
    }
  });

  it(
    'Redis restarts empty: every instance refuses assertions until lost claims expire, never a replay',
    async () => {
      const used = await assertion();
      expectToken(await withAssertion(instances.list[1] as Instance, used), 'before the wipe');

      await redis.wipe();
      await redis.start();

      // Until the fence lifts, nothing that could be a replay gets a token, on either instance.
      // Each round tries the used assertion on both, and a fresh one to see when service resumes.
      const deadline = Date.now() + recoveryTimeoutMs + 30_000;
      let fencedSeen = false;
      let mtlsChecked = false;
      for (;;) {
        for (const instance of instances.list) {
          const replay = await withAssertion(instance, used);
          expect(
            replay.ok,
            `${instance.name} replay after data loss: ${JSON.stringify(replay)}`,
          ).toBe(false);
        }
        const fresh = await withAssertion(instances.list[0] as Instance, await assertion());
        if (fresh.ok) break;
        expectUnavailable(fresh, 'fresh assertion while fenced');
        // Reconnected and fenced (not merely disconnected): Retry-After counts down the fence.
        if ((fresh.retryAfterSeconds ?? 0) > 1) fencedSeen = true;
        if (fencedSeen && !mtlsChecked) {
          for (const instance of instances.list) {
            expectToken(await withCertificate(instance), `${instance.name} mTLS, fenced`);
          }
          await expectNotReady();
          mtlsChecked = true;
        }
        if (Date.now() > deadline) throw new Error('the instances did not leave the fence');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(fencedSeen).toBe(true);
      expect(mtlsChecked).toBe(true);
      await waitRecovered();
      for (const instance of instances.list) {
        expectToken(
          await withAssertion(instance, await assertion()),
          `${instance.name} after fence`,
        );
        // By now the used assertion has expired: refused, whatever Redis remembers.
        expect((await withAssertion(instance, used)).ok).toBe(false);
      }
      // The fence lasts the longest claim lifetime: (5 s + 10 s tolerance + 10 s iat allowance).
    },
    processTestTimeoutMs,
  );

  /** Polls (bounded) until neither instance reports ready. */
  async function waitNotReady(): Promise<void> {
    const deadline = Date.now() + recoveryTimeoutMs;
    for (const instance of instances.list) {
      while (((await instance.readyz()).body as { status?: string }).status !== 'degraded') {
        if (Date.now() > deadline) throw new Error(`${instance.name} still reports ready`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
});
