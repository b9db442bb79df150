/**
 * The Redis replay store's data-loss fence follows registry reloads: a client whose
 * `max_assertion_lifetime` a reload raised may hold claims that long, so a Redis that loses its
 * data afterwards must fence assertions that long too (before this change the fence stayed at
 * what the registry allowed at start: 340 s by default).
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { signAssertion } from '../helpers/assertions.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import {
  form,
  formHeaders,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

const enabled = redisAvailable({ needBinary: true });

describe.skipIf(!enabled)('the Redis data-loss fence follows registry reloads', () => {
  let redis: TestRedis | undefined;
  let tg: TestTollgate | undefined;
  afterAll(async () => {
    await tg?.dispose();
    await redis?.dispose();
  });

  it('a reload raising max_assertion_lifetime lengthens the fence a later loss imposes', async () => {
    redis = await startRedis();
    const client = await makeJwtClient('svc-long-lived');
    const registryFile = join(
      (await import('node:os')).tmpdir(),
      `tollgate-fence-${randomUUID()}.json`,
    );
    const writeRegistry = (extra: Record<string, unknown>) =>
      writeFile(registryFile, JSON.stringify({ clients: [{ ...client.metadata, ...extra }] }));
    await writeRegistry({});
    tg = await makeTollgate({
      clients: [],
      registryFile,
      config: {
        replay: { store: 'redis' },
        redis: { url: redis.url, keyPrefix: `fence:${randomUUID()}:` },
      },
    });
    const app = tg.app;
    const token = async () =>
      app.inject({
        method: 'POST',
        url: '/token',
        headers: formHeaders,
        payload: form({
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: await signAssertion(client.key.privateJwk, client.clientId, testIssuer),
        }),
      });
    // Bounded: the store connects and verifies its epoch first.
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await token()).statusCode;
      if (status !== 200) await sleep(50);
    }
    expect(status).toBe(200);

    await writeRegistry({ max_assertion_lifetime: 3600 });
    const outcomes = await tg.reload(true);
    expect(outcomes).toContainEqual({ part: 'registry', outcome: 'reloaded' });

    const admin = new Redis(redis.url);
    try {
      await admin.flushall();
    } finally {
      admin.disconnect();
    }
    // The next claims notice the loss and fence: Retry-After counts down the longest lifetime
    // now allowed (3600 s) plus tolerance (30 s) and the iat allowance (10 s).
    let retryAfter = 0;
    for (let i = 0; i < 100 && retryAfter <= 1; i++) {
      const response = await token();
      expect(response.statusCode).toBe(503);
      retryAfter = Number(response.headers['retry-after']);
      if (retryAfter <= 1) await sleep(50);
    }
    expect(retryAfter).toBeGreaterThan(3_600);
    expect(retryAfter).toBeLessThanOrEqual(3_640);
  });
});
