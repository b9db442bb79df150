/**
 * Past one machine (DESIGN.md §4): two real Tollgate processes behind one issuer share a Redis
 * for replay claims. One client assertion sent to both, many times at once, yields exactly one
 * token; every other copy is refused as replayed, whichever instance it reached.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { clusterIssuer, type Instances, startInstances } from '../helpers/instances.js';
import { redisAvailable, redisForTests, type TestRedis } from '../helpers/redis.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const enabled = redisAvailable({ needBinary: false });

describe.skipIf(!enabled)('two Tollgate processes sharing one Redis', () => {
  let redis: TestRedis;
  let ca: DevCa;
  let instances: Instances;
  let jwtClient: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  const mtlsDn = 'CN=svc-mtls,O=Acme Corp,C=US';

  beforeAll(async () => {
    redis = await redisForTests();
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
          keyPrefix: `tollgate-multi-${randomUUID()}:`,
          connectTimeoutMs: 1_000,
          commandTimeoutMs: 1_000,
        },
        // Replays are failed authentications; keep their limits out of this test's way.
        rateLimits: { failedAuthPerAddress: 100_000, failedAuthPerClient: 100_000 },
      },
    });
  }, 90_000);
  afterAll(async () => {
    await instances?.dispose();
    await redis?.dispose();
  });

  const assertionGrant = (assertion: string) => ({
    grant_type: 'client_credentials',
    client_assertion_type: jwtBearerAssertionType,
    client_assertion: assertion,
  });

  function describeResults(results: TokenResult[]): string {
    return JSON.stringify(
      results.map((r) => (r.ok ? 'ok' : `${r.status} ${r.error} ${r.errorDescription}`)),
    );
  }

  it('reports ready on both instances, with the Redis replay store connected', async () => {
    for (const instance of instances.list) {
      const { status, body } = await instance.readyz();
      expect(status, instance.output()).toBe(200);
      expect(body).toMatchObject({ checks: { replayStore: true } });
    }
  });

  it('issues tokens on both instances, signed with the one shared key', async () => {
    const [a, b] = instances.list;
    for (const instance of [a, b]) {
      const assertion = await signAssertion(
        jwtClient.key.privateJwk,
        jwtClient.clientId,
        clusterIssuer,
      );
      const result = await instance?.token(assertionGrant(assertion));
      expect(result?.ok, `${instance?.name}: ${JSON.stringify(result)}`).toBe(true);
    }
  });

  // Several rounds: one lucky interleaving must not be what makes this pass.
  for (const round of [1, 2, 3]) {
    it(`round ${round}: one assertion sent 20 times to both at once yields exactly one token`, async () => {
      const assertion = await signAssertion(
        jwtClient.key.privateJwk,
        jwtClient.clientId,
        clusterIssuer,
      );
      // 10 each, interleaved: a, b, a, b, ... all in flight together.
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          instances.list[i % 2]?.token(assertionGrant(assertion)),
        ),
      ).then((all) => all.filter((r): r is TokenResult => r !== undefined));
      expect(results).toHaveLength(20);
      const issued = results.filter((r) => r.ok);
      expect(issued, describeResults(results)).toHaveLength(1);
      for (const refused of results.filter((r) => !r.ok)) {
        if (refused.ok) continue;
        expect(refused.status, describeResults(results)).toBe(401);
        expect(refused.error).toBe('invalid_client');
        expect(refused.errorDescription).toMatch(/replayed/);
      }
    });
  }

  it('refuses a replay on the other instance after a token was issued', async () => {
    const [a, b] = instances.list;
    const assertion = await signAssertion(
      jwtClient.key.privateJwk,
      jwtClient.clientId,
      clusterIssuer,
    );
    expect((await a?.token(assertionGrant(assertion)))?.ok).toBe(true);
    const replay = await b?.token(assertionGrant(assertion));
    expect(replay).toMatchObject({ ok: false, status: 401, error: 'invalid_client' });
  });

  it('serves mutual TLS clients on both instances', async () => {
    for (const instance of instances.list) {
      const result = await instance.token(
        { grant_type: 'client_credentials', client_id: 'svc-mtls' },
        { cert: mtlsCert.chainPem, key: mtlsCert.keyPem },
      );
      expect(result.ok, `${instance.name}: ${JSON.stringify(result)}`).toBe(true);
    }
  });
});
