/**
 * The Redis rate-limit store against a real redis-server: the shared contract, then its key
 * layout, counts shared by instances, and throwing (never hanging) when Redis is down.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimitStore } from '../../src/rate-limit/index.js';
import { createRedisClient, type RedisConnection } from '../../src/replay/index.js';
import { isStuck } from '../../src/replay/redis.js';
import { redisAvailable, redisForTests, startRedis, type TestRedis } from '../helpers/redis.js';
import { rateLimitStoreContract } from './contract.js';

const enabled = redisAvailable({ needBinary: false });

describe.skipIf(!enabled)('RedisRateLimitStore', () => {
  let redis: TestRedis;
  let client: RedisConnection;

  beforeAll(async () => {
    redis = await redisForTests();
    client = createRedisClient({ url: redis.url, connectTimeoutMs: 500, commandTimeoutMs: 2_000 });
    await waitReady(client);
  });
  afterAll(async () => {
    client?.disconnect();
    await redis?.dispose();
  });

  const open = (clock: () => number, keyPrefix = `rl-test:${randomUUID()}:`) =>
    new RedisRateLimitStore({ client, keyPrefix, clock });

  rateLimitStoreContract('redis', async (clock) => open(clock));

  it('keys counters <prefix>rl:<windowMs>:<windowStart>:<key>, expiring after their window', async () => {
    const keyPrefix = `rl-layout:${randomUUID()}:`;
    const now = Date.now();
    const store = open(() => now, keyPrefix);
    await store.hit('client:a', 5, 60_000);
    const start = now - (now % 60_000);
    const key = `${keyPrefix}rl:60000:${start}:client:a`;
    expect(await client.get(key)).toBe('1');
    const pttl = await client.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    // What is left of the window plus a one-second margin for clock skew between instances.
    expect(pttl).toBeLessThanOrEqual(start + 60_000 - now + 1_000);
  });

  it('hashes long keys and keys that look hashed, so a chosen client_id stays small', async () => {
    const keyPrefix = `rl-hash:${randomUUID()}:`;
    const store = open(() => Date.UTC(2030, 0, 1), keyPrefix);
    await store.hit('x'.repeat(10_000), 5, 60_000);
    await store.hit('#short', 5, 60_000);
    const keys = await client.keys(`${keyPrefix}*`);
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key).toMatch(/:#[A-Za-z0-9_-]{43}$/);
  });

  it('a stall of this process past the command timeout does not mark a Redis that answered as stuck', async () => {
    const quick = createRedisClient({
      url: redis.url,
      connectTimeoutMs: 500,
      commandTimeoutMs: 200,
    });
    try {
      await waitReady(quick);
      // A fixed clock: on wall-clock time the 1 s block below could carry the second hit into
      // the next 60 s window (counting 1 again) whenever the test ran across a minute boundary.
      const store = new RedisRateLimitStore({
        client: quick,
        keyPrefix: `rl-stall:${randomUUID()}:`,
        clock: () => Date.UTC(2030, 0, 1),
      });
      const hit = store.hit('addr:127.0.0.1', 10, 60_000).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      // The hit is on the wire one turn later (auto-pipelining); then this process blocks far
      // past the timeout while redis-server answers at once, so the hit itself times out.
      await new Promise((resolve) => setImmediate(resolve));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_000);
      expect(String(await hit)).toMatch(/Command timed out/);
      // Redis answered: the next hit goes to Redis (a stuck client would refuse it unsent).
      expect(isStuck(quick)).toBe(false);
      expect((await store.hit('addr:127.0.0.1', 10, 60_000)).count).toBe(2);
    } finally {
      quick.disconnect();
    }
  });

  it('shares counts between instances with their own connections', async () => {
    const keyPrefix = `rl-shared:${randomUUID()}:`;
    const other = createRedisClient({
      url: redis.url,
      connectTimeoutMs: 500,
      commandTimeoutMs: 2_000,
    });
    try {
      await waitReady(other);
      const now = Date.UTC(2030, 0, 1);
      const a = open(() => now, keyPrefix);
      const b = new RedisRateLimitStore({ client: other, keyPrefix, clock: () => now });
      const decisions = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 === 0 ? a : b).hit('addr:127.0.0.1', 10, 60_000),
        ),
      );
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
      expect(Math.max(...decisions.map((d) => d.count))).toBe(20);
    } finally {
      other.disconnect();
    }
  });
});

describe.skipIf(!redisAvailable({ needBinary: true }))(
  'RedisRateLimitStore when Redis is down',
  () => {
    it('throws at once, so callers can fail open without waiting', async () => {
      const redis = await startRedis();
      const client = createRedisClient({
        url: redis.url,
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      });
      try {
        await waitReady(client);
        const store = new RedisRateLimitStore({ client, keyPrefix: 'rl-down:' });
        expect((await store.hit('k', 1, 1_000)).allowed).toBe(true);
        await redis.stop();
        // At once: refused without being sent or queued (told by the error, not a stopwatch,
        // which a busy machine would fool). A queued command would end in a command timeout.
        const error = await store.hit('k', 1, 1_000).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).not.toMatch(/timed out/i);
      } finally {
        client.disconnect();
        await redis.dispose();
      }
    });
  },
);

describe.skipIf(!redisAvailable({ needBinary: true }))(
  'RedisRateLimitStore when Redis freezes',
  () => {
    it('waits one command timeout, then fails at once while Redis is stuck', async () => {
      const redis = await startRedis();
      const client = createRedisClient({
        url: redis.url,
        connectTimeoutMs: 500,
        commandTimeoutMs: 300,
      });
      try {
        await waitReady(client);
        const store = new RedisRateLimitStore({ client, keyPrefix: 'rl-frozen:' });
        redis.freeze();
        const first = performance.now();
        await expect(store.hit('k', 1, 1_000)).rejects.toThrow(/timed out/);
        expect(performance.now() - first).toBeGreaterThanOrEqual(250);
        // The next fails at once, without a timeout of its own: told by its error.
        await expect(store.hit('k', 1, 1_000)).rejects.toThrow(/not answering/);
      } finally {
        redis.thaw();
        client.disconnect();
        await redis.dispose();
      }
    });
  },
);

/** Bounded wait for a client's first connection. */
async function waitReady(client: RedisConnection): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (client.status !== 'ready') {
    if (Date.now() > deadline) throw new Error(`Redis client not ready: ${client.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
