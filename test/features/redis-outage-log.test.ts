/**
 * Issue 12, attack 9: a Redis outage used to write a warning for every request (and every
 * reconnect attempt). Now a real `tollgate serve` writes one line when Redis becomes unreachable
 * and one when it is back, and counts each change, however many requests arrive meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { clusterIssuer, type Instances, startInstances } from '../helpers/instances.js';
import { processTestTimeoutMs } from '../helpers/process.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const enabled = redisAvailable({ needBinary: true });

/** The log lines of a process output whose `msg` matches. */
function lines(output: string, msg: RegExp): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => typeof entry.msg === 'string' && msg.test(entry.msg));
}

describe.skipIf(!enabled)('a Redis outage in the log (issue 12, attack 9)', () => {
  let redis: TestRedis;
  let ca: DevCa;
  let instances: Instances;
  let jwtClient: JwtClient;
  let mtlsCert: IssuedClientCertificate;

  beforeAll(async () => {
    // Persistent, so the restart loses nothing (a data loss is its own, separate log line).
    redis = await startRedis({ persistence: 'aof' });
    ca = await createDevCa();
    jwtClient = await makeJwtClient('svc-jwt');
    mtlsCert = await ca.issueClient({ clientId: 'svc-mtls' });
    instances = await startInstances({
      ca,
      count: 1,
      clients: [
        jwtClient.metadata,
        {
          client_id: 'svc-mtls',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: mtlsCert.subject,
        },
      ],
      config: {
        replay: { store: 'redis' },
        rateLimits: { store: 'redis' },
        redis: {
          url: redis.url,
          keyPrefix: `tollgate-log-${randomUUID()}:`,
          // Generous: a stopped Redis refuses connections at once (commands fail without waiting),
          // so these only decide when a live but slow Redis counts as down. 500 ms did on a busy
          // machine: a command outlived it, Redis "went" before the outage and came back, and the
          // test saw two "unreachable" lines (a timer that fires after a stall of the server's own
          // event loop counts the stall as Redis's).
          connectTimeoutMs: 10_000,
          commandTimeoutMs: 10_000,
        },
        log: { level: 'info' },
      },
    });
  }, processTestTimeoutMs);
  afterAll(async () => {
    await instances?.dispose();
    await redis?.dispose();
  });

  it(
    'logs one line when Redis goes, one when it is back, and counts both',
    async () => {
      const [instance] = instances.list;
      if (instance === undefined) throw new Error('no instance');
      const identity = { cert: mtlsCert.chainPem, key: mtlsCert.keyPem };
      expect(
        (
          await instance.token(
            { grant_type: 'client_credentials', client_id: 'svc-mtls' },
            identity,
          )
        ).ok,
      ).toBe(true);

      await redis.stop();
      // 40 requests during the outage: mTLS still gets tokens, assertions fail closed.
      for (let i = 0; i < 20; i++) {
        const mtls = await instance.token(
          { grant_type: 'client_credentials', client_id: 'svc-mtls' },
          identity,
        );
        expect(mtls.ok, JSON.stringify(mtls)).toBe(true);
        const jwt = await instance.token({
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: await signAssertion(
            jwtClient.key.privateJwk,
            jwtClient.clientId,
            clusterIssuer,
          ),
        });
        expect(jwt.ok).toBe(false);
        if (!jwt.ok) expect(jwt.status).toBe(503);
      }
      // Log lines are buffered and flushed every second: the line may still be on its way.
      await instance.waitForOutput(/redis unreachable/);
      expect(lines(instance.output(), /redis unreachable/), instance.output()).toHaveLength(1);

      await redis.start();
      await instance.waitForOutput(/redis is reachable again/);
      const output = instance.output();
      expect(lines(output, /redis unreachable/)).toHaveLength(1);
      expect(lines(output, /redis is reachable again/)).toHaveLength(1);
      // Nothing else about Redis, whatever the number of requests and reconnect attempts.
      const redisLines = lines(output, /redis|rate-limit store/i);
      expect(
        redisLines.map((line) => line.msg),
        JSON.stringify(redisLines),
      ).toHaveLength(2);

      // The counter, on the admin listener.
      const listening = lines(output, /tollgate listening/)[0] as { addresses: string[] };
      const admin = listening.addresses.at(-1) as string;
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      expect(metrics).toMatch(
        /tollgate_dependency_state_changes_total\{dependency="redis",state="down"\} 1/,
      );
      expect(metrics).toMatch(
        /tollgate_dependency_state_changes_total\{dependency="redis",state="up"\} 1/,
      );
    },
    processTestTimeoutMs,
  );
});
