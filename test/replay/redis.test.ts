/**
 * The Redis replay store against a real redis-server: the shared contract (bounded and not),
 * then what only this adapter promises: its key layout, several instances on one Redis, failing
 * closed and fast when Redis is down or frozen, recovering without a restart, and refusing
 * claims after a restart that lost data.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createRedisClient,
  RedisReplayStore,
  type RedisReplayStoreOptions,
  ReplayStoreError,
} from '../../src/replay/index.js';
import { isStuck } from '../../src/replay/redis.js';
import { redisAvailable, redisForTests, startRedis, type TestRedis } from '../helpers/redis.js';
import { replayStoreContract } from './contract.js';

const enabled = redisAvailable({ needBinary: false });
const canManage = redisAvailable({ needBinary: true });

/** Bounded waits: a store becomes ready within this after Redis answers. */
const readyTimeoutMs = 5_000;

function storeOptions(
  url: string,
  extra: Partial<RedisReplayStoreOptions> = {},
): RedisReplayStoreOptions {
  return {
    url,
    keyPrefix: `test:${randomUUID()}:`,
    connectTimeoutMs: 500,
    commandTimeoutMs: 300,
    ...extra,
  };
}

/** What a claim refused without being sent says (src/replay/redis.ts). */
const notAvailable = 'Redis is not available for replay claims.';

/** Blocks this thread (the event loop with it) for `ms`, as a long synchronous task would. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
}

describe.skipIf(!enabled)('RedisReplayStore on a shared redis-server', () => {
  let redis: TestRedis;
  const opened: RedisReplayStore[] = [];

  beforeAll(async () => {
    redis = await redisForTests();
  });
  afterAll(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await redis?.dispose();
  });

  async function open(extra: Partial<RedisReplayStoreOptions> = {}): Promise<RedisReplayStore> {
    const store = new RedisReplayStore(storeOptions(redis.url, extra));
    opened.push(store);
    expect(await store.whenReady(readyTimeoutMs)).toBe(true);
    return store;
  }

  // A fresh key prefix per store: a fresh bound, and no flushing between tests.
  replayStoreContract('redis (bounded)', async ({ maxEntries }) => ({
    store: await open({ maxEntries, commandTimeoutMs: 2_000 }),
    timeSource: 'real',
  }));

  describe('unbounded (one SET NX PX per claim)', () => {
    it('answers true, then false for a replay, per (client, jti)', async () => {
      const store = await open();
      const exp = Date.now() + 60_000;
      expect(await store.claim('a', 'jti', exp)).toBe(true);
      expect(await store.claim('a', 'jti', exp)).toBe(false);
      expect(await store.claim('b', 'jti', exp)).toBe(true);
      expect(await store.claim('a:b', 'c', exp)).toBe(true);
      expect(await store.claim('a', 'b:c', exp)).toBe(true);
    });

    it('gives exactly one true to 100 concurrent claims of one jti', async () => {
      const store = await open();
      const exp = Date.now() + 60_000;
      const results = await Promise.all(
        Array.from({ length: 100 }, () => store.claim('c', 'contested', exp)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('lets exactly one of concurrent claims of an already-expired jti through', async () => {
      const store = await open();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.claim('c', 'late', Date.now() - 5_000)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('forgets a claim once it has expired', async () => {
      const store = await open();
      expect(await store.claim('c', 'short', Date.now() + 1_000)).toBe(true);
      expect(await store.claim('c', 'short', Date.now() + 1_000)).toBe(false);
      await sleep(1_250);
      expect(await store.claim('c', 'short', Date.now() + 1_000)).toBe(true);
    });

    it('rejects misuse with a TypeError', async () => {
      const store = await open();
      await expect(store.claim('', 'jti', Date.now())).rejects.toBeInstanceOf(TypeError);
      await expect(store.claim('c', '', Date.now())).rejects.toBeInstanceOf(TypeError);
      await expect(store.claim('c', 'jti', Number.NaN)).rejects.toBeInstanceOf(TypeError);
    });
  });

  describe('key layout', () => {
    it('writes one fixed-size key per claim under the prefix, expiring with the claim', async () => {
      const keyPrefix = `layout:${randomUUID()}:`;
      const store = await open({ keyPrefix });
      const raw = new Redis(redis.url);
      try {
        const exp = Date.now() + 30_000;
        expect(await store.claim('client', 'j'.repeat(4_000), exp)).toBe(true);
        const keys = (await raw.keys(`${keyPrefix}jti:*`)).sort();
        expect(keys).toHaveLength(1);
        // 43 characters: base64url of a SHA-256, however long the jti.
        expect(keys[0]).toMatch(new RegExp(`^${keyPrefix}jti:[A-Za-z0-9_-]{43}$`));
        // The derivation is fixed (instances of different versions share the keys): SHA-256
        // over `<length of client_id>:<client_id><jti>` in UTF-16 code units.
        const expected = createHash('sha256')
          .update(`6:client${'j'.repeat(4_000)}`, 'utf16le')
          .digest('base64url');
        expect(keys[0]).toBe(`${keyPrefix}jti:${expected}`);
        const pttl = await raw.pttl(keys[0] as string);
        expect(pttl).toBeGreaterThan(28_000);
        expect(pttl).toBeLessThanOrEqual(30_000);
        // The epoch key never expires: it is how a restart that lost data is noticed.
        expect(await raw.pttl(`${keyPrefix}replay-epoch`)).toBe(-1);
      } finally {
        raw.disconnect();
      }
    });

    it('holds a claim whose expiry is already past for the one-second minimum', async () => {
      const keyPrefix = `late:${randomUUID()}:`;
      const store = await open({ keyPrefix });
      const raw = new Redis(redis.url);
      try {
        expect(await store.claim('client', 'late', Date.now() - 60_000)).toBe(true);
        const [key] = await raw.keys(`${keyPrefix}jti:*`);
        const pttl = await raw.pttl(key as string);
        expect(pttl).toBeGreaterThan(0);
        expect(pttl).toBeLessThanOrEqual(1_000);
      } finally {
        raw.disconnect();
      }
    });
  });

  describe('several instances on one Redis', () => {
    it('gives exactly one true across stores with their own connections', async () => {
      const keyPrefix = `instances:${randomUUID()}:`;
      const stores = await Promise.all(Array.from({ length: 4 }, () => open({ keyPrefix })));
      const exp = Date.now() + 60_000;
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (stores[i % stores.length] as RedisReplayStore).claim('c', 'shared', exp),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('shares one bound across stores', async () => {
      const keyPrefix = `bound:${randomUUID()}:`;
      const [a, b] = await Promise.all([
        open({ keyPrefix, maxEntries: 2 }),
        open({ keyPrefix, maxEntries: 2 }),
      ]);
      const exp = Date.now() + 60_000;
      expect(await a?.claim('c', 'one', exp)).toBe(true);
      expect(await b?.claim('c', 'two', exp)).toBe(true);
      await expect(a?.claim('c', 'three', exp)).rejects.toMatchObject({ failure: 'full' });
      expect(await b?.claim('c', 'one', exp)).toBe(false);
    });
  });

  describe('a client shared with other adapters', () => {
    it('uses an injected client and leaves it open on close', async () => {
      const client = createRedisClient({
        url: redis.url,
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      });
      try {
        const states: boolean[] = [];
        const store = new RedisReplayStore({
          ...storeOptions(redis.url),
          client,
          onStateChange: (ready) => states.push(ready),
        });
        expect(await store.whenReady(readyTimeoutMs)).toBe(true);
        expect(await store.claim('c', 'jti', Date.now() + 10_000)).toBe(true);
        await store.close();
        expect(store.ready()).toBe(false);
        expect(states).toEqual([true, false]);
        expect(await client.ping()).toBe('PONG');
      } finally {
        client.disconnect();
      }
    });
  });

  it('a stall of this process past the command timeout is not blamed on Redis: the claim fails closed, Redis stays up', async () => {
    const client = createRedisClient({
      url: redis.url,
      connectTimeoutMs: 500,
      commandTimeoutMs: 200,
    });
    const states: boolean[] = [];
    const store = new RedisReplayStore(
      storeOptions(redis.url, { client, onStateChange: (ready) => states.push(ready) }),
    );
    try {
      expect(await store.whenReady(readyTimeoutMs)).toBe(true);
      const claim = errorOf(store.claim('c', 'stalled', Date.now() + 60_000));
      // ioredis writes the claim in a setImmediate of its own (auto-pipelining): one turn later
      // it is on the wire and its timeout runs. Then this process blocks, far past the timeout,
      // while redis-server (another process) answers at once; after the block the timer fires
      // before the reply is read, so the claim itself times out.
      await new Promise((resolve) => setImmediate(resolve));
      blockEventLoop(1_000);
      const error = await claim;
      expect(error).toBeInstanceOf(ReplayStoreError);
      expect((error as ReplayStoreError).message).toMatch(/Command timed out/);
      // Redis answered: it is neither marked down (no state change: what the server logs as an
      // outage) nor skipped by the next claim or by the rate limits sharing the client.
      expect(store.ready()).toBe(true);
      expect(isStuck(client)).toBe(false);
      expect(await store.claim('c', 'after-stall', Date.now() + 60_000)).toBe(true);
      expect(states).toEqual([true]);
    } finally {
      await store.close();
      client.disconnect();
    }
  });

  it('rejects bad options with a TypeError', () => {
    const base = storeOptions('redis://127.0.0.1:1');
    const client = new Redis({ lazyConnect: true });
    try {
      for (const maxEntries of [0, -1, 1.5]) {
        expect(() => new RedisReplayStore({ ...base, client, maxEntries })).toThrow(TypeError);
      }
      expect(() => new RedisReplayStore({ ...base, client, dataLossFenceMs: -1 })).toThrow(
        TypeError,
      );
      expect(() => createRedisClient({ ...base, url: 'http://127.0.0.1:6379' })).toThrow(TypeError);
      expect(() => createRedisClient({ ...base, commandTimeoutMs: 0 })).toThrow(TypeError);
    } finally {
      client.disconnect();
    }
  });
});

describe.skipIf(!canManage)('RedisReplayStore when Redis fails', () => {
  const opened: RedisReplayStore[] = [];
  const servers: TestRedis[] = [];

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await Promise.all(servers.splice(0).map((server) => server.dispose()));
  });

  async function setup(
    persistence: 'none' | 'aof' = 'none',
    extra: Partial<RedisReplayStoreOptions> = {},
  ): Promise<{ redis: TestRedis; store: RedisReplayStore; states: boolean[] }> {
    const redis = await startRedis({ persistence });
    servers.push(redis);
    const states: boolean[] = [];
    const store = new RedisReplayStore(
      storeOptions(redis.url, { onStateChange: (ready) => states.push(ready), ...extra }),
    );
    opened.push(store);
    expect(await store.whenReady(readyTimeoutMs)).toBe(true);
    return { redis, store, states };
  }

  /** Polls (bounded) until `check` holds. */
  async function eventually(check: () => boolean, timeoutMs = readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  it('fails closed at once while Redis is down, and recovers on its own', async () => {
    // Persistent: an empty Redis after the restart would (rightly) fence the store; see below.
    const { redis, store, states } = await setup('aof');
    expect(await store.claim('c', 'before', Date.now() + 60_000)).toBe(true);
    await redis.stop();
    await eventually(() => !store.ready());

    for (let i = 0; i < 5; i++) {
      const error = await errorOf(store.claim('c', `down-${i}`, Date.now() + 60_000));
      // Fail fast: nothing is sent, queued or retried while disconnected. Told by the refusal
      // itself, not by a stopwatch (a busy machine makes "at once" take any time): a claim that
      // was sent or queued would end in a command timeout, "could not record the claim".
      expect(error).toBeInstanceOf(ReplayStoreError);
      expect((error as ReplayStoreError).message).toBe(notAvailable);
      expect((error as ReplayStoreError).failure).toBe('unavailable');
      expect((error as ReplayStoreError).retryAfterSeconds).toBe(1);
    }

    await redis.start();
    await eventually(() => store.ready());
    expect(await store.claim('c', 'after', Date.now() + 60_000)).toBe(true);
    expect(states).toEqual([true, false, true]);
  });

  it('fails closed within the command timeout when Redis freezes, then fast until it answers', async () => {
    const { redis, store } = await setup('none', { commandTimeoutMs: 300 });
    redis.freeze();
    try {
      // The first claim fails closed (the test's own timeout bounds a claim that would hang)...
      const first = await errorOf(store.claim('c', 'frozen-1', Date.now() + 60_000));
      expect(first).toBeInstanceOf(ReplayStoreError);
      expect(store.ready()).toBe(false);
      // ...the next is refused without being sent: no second timeout (told by the refusal, not a
      // stopwatch: see above).
      const again = await errorOf(store.claim('c', 'frozen-2', Date.now() + 60_000));
      expect(again).toBeInstanceOf(ReplayStoreError);
      expect((again as ReplayStoreError).message).toBe(notAvailable);
    } finally {
      redis.thaw();
    }
    await eventually(() => store.ready());
    expect(await store.claim('c', 'thawed', Date.now() + 60_000)).toBe(true);
    // The frozen claims were refused, and a replay of one may still find it recorded: never true
    // twice.
    expect(await store.claim('c', 'thawed', Date.now() + 60_000)).toBe(false);
  });

  it('keeps claims across a crash when Redis persists every write (AOF, fsync always)', async () => {
    const { redis, store } = await setup('aof');
    const exp = Date.now() + 60_000;
    expect(await store.claim('c', 'durable', exp)).toBe(true);
    await redis.kill();
    await eventually(() => !store.ready());
    await expect(store.claim('c', 'durable', exp)).rejects.toBeInstanceOf(ReplayStoreError);
    await redis.start();
    await eventually(() => store.ready());
    expect(await store.claim('c', 'durable', exp)).toBe(false);
    expect(await store.claim('c', 'fresh', exp)).toBe(true);
  });

  it('refuses every claim after a restart that lost data, until the lost claims expire', async () => {
    const losses: number[] = [];
    const { redis, store } = await setup('none', {
      dataLossFenceMs: 0,
      onDataLoss: (ms) => losses.push(ms),
    });
    // No floor here: the latest claim this store made (expiring in ~1.5 s) bounds the fence.
    const exp = Date.now() + 1_500;
    expect(await store.claim('c', 'lost', exp)).toBe(true);
    await redis.kill();
    await eventually(() => !store.ready());
    await redis.start();

    // Reconnected to an empty Redis: the replay is refused, never accepted.
    await eventually(() => losses.length === 1);
    expect(store.ready()).toBe(false);
    const replay = await errorOf(store.claim('c', 'lost', exp));
    expect(replay).toBeInstanceOf(ReplayStoreError);
    expect((replay as ReplayStoreError).failure).toBe('unavailable');
    expect((replay as ReplayStoreError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((replay as ReplayStoreError).retryAfterSeconds).toBeLessThanOrEqual(2);
    await expect(store.claim('c', 'fresh', Date.now() + 60_000)).rejects.toBeInstanceOf(
      ReplayStoreError,
    );

    // Once every claim that could have been lost has expired, the store is ready again.
    await eventually(() => store.ready(), 5_000);
    expect(await store.claim('c', 'fresh', Date.now() + 60_000)).toBe(true);
  });

  it('fences an instance that starts after the loss, from the fence another one recorded', async () => {
    const { redis } = await setup();
    const keyPrefix = `shared:${randomUUID()}:`;
    const losses: number[] = [];
    const survivor = new RedisReplayStore(
      storeOptions(redis.url, {
        keyPrefix,
        dataLossFenceMs: 3_000,
        onDataLoss: (ms) => losses.push(ms),
      }),
    );
    opened.push(survivor);
    expect(await survivor.whenReady(readyTimeoutMs)).toBe(true);
    await redis.kill();
    await eventually(() => !survivor.ready());
    await redis.start();
    // The survivor saw the old epoch, notices it is gone, and records a fence in Redis.
    await eventually(() => losses.length === 1);
    expect(losses[0]).toBe(3_000);

    const newcomer = new RedisReplayStore(storeOptions(redis.url, { keyPrefix }));
    opened.push(newcomer);
    expect(await newcomer.whenReady(500)).toBe(false);
    const error = await errorOf(newcomer.claim('c', 'jti', Date.now() + 60_000));
    expect(error).toBeInstanceOf(ReplayStoreError);
    expect((error as ReplayStoreError).retryAfterSeconds).toBeGreaterThanOrEqual(2);
    await eventually(() => newcomer.ready() && survivor.ready(), 5_000);
    expect(await newcomer.claim('c', 'jti', Date.now() + 60_000)).toBe(true);
  });

  it('notices a Redis emptied under a live connection on the next claim, and fences', async () => {
    const losses: number[] = [];
    const { redis, store } = await setup('none', {
      dataLossFenceMs: 1_000,
      onDataLoss: (ms) => losses.push(ms),
      // No periodic check in this test: the claim itself must notice.
      healthCheckIntervalMs: 60_000,
    });
    const exp = Date.now() + 500;
    expect(await store.claim('c', 'flushed', exp)).toBe(true);
    const admin = new Redis(redis.url);
    try {
      await admin.flushall();
    } finally {
      admin.disconnect();
    }
    await expect(store.claim('c', 'flushed', exp)).rejects.toMatchObject({
      failure: 'unavailable',
    });
    await eventually(() => losses.length === 1);
    await expect(store.claim('c', 'flushed', exp)).rejects.toBeInstanceOf(ReplayStoreError);
    await eventually(() => store.ready(), 5_000);
    expect(await store.claim('c', 'after-flush', Date.now() + 60_000)).toBe(true);
  });

  it('follows a registry reload that raises a lifetime: the fence after a loss covers the longer claims', async () => {
    // Three stores on one Redis, as after a reload on three instances: one whose fence was never
    // raised (the control), one raised to 60 s, one raised and lowered again (claims made under
    // the raised value may still be alive, so the fence must still cover them).
    const { redis } = await setup();
    const losses = new Map<string, number>();
    const keyPrefix = `reload:${randomUUID()}:`;
    const make = (name: string) => {
      const store = new RedisReplayStore(
        storeOptions(redis.url, {
          keyPrefix,
          dataLossFenceMs: 1_000,
          onDataLoss: (ms) => losses.set(name, ms),
          healthCheckIntervalMs: 60_000,
        }),
      );
      opened.push(store);
      return store;
    };
    const control = make('control');
    const raised = make('raised');
    const lowered = make('lowered');
    for (const store of [control, raised, lowered]) {
      expect(await store.whenReady(readyTimeoutMs)).toBe(true);
    }
    raised.setDataLossFenceMs(60_000);
    lowered.setDataLossFenceMs(60_000);
    lowered.setDataLossFenceMs(1_000);
    expect(() => raised.setDataLossFenceMs(-1)).toThrow(TypeError);

    const exp = Date.now() + 500;
    for (const [i, store] of [control, raised, lowered].entries()) {
      expect(await store.claim('c', `before-loss-${i}`, exp)).toBe(true);
    }
    const admin = new Redis(redis.url);
    try {
      await admin.flushall();
    } finally {
      admin.disconnect();
    }
    // The next claim on each notices the emptied Redis and fences.
    for (const [i, store] of [control, raised, lowered].entries()) {
      await expect(store.claim('c', `before-loss-${i}`, exp)).rejects.toBeInstanceOf(
        ReplayStoreError,
      );
    }
    await eventually(() => losses.size === 3);
    expect(losses.get('control')).toBeLessThanOrEqual(2_000);
    expect(losses.get('raised')).toBe(60_000);
    expect(losses.get('lowered')).toBeGreaterThan(50_000);
    // The fence is shared through Redis: once its own short fence has passed, even the control
    // instance learns the longest one (bounded poll; it never gets to claim meanwhile).
    let retryAfter = 0;
    await eventually(() => {
      void errorOf(control.claim('c', 'after-loss', Date.now() + 60_000)).then((error) => {
        expect(error).toBeInstanceOf(ReplayStoreError);
        retryAfter = (error as ReplayStoreError).retryAfterSeconds;
      });
      return retryAfter > 50;
    });
  });

  it('answers "full" when Redis is out of memory', async () => {
    const { redis, store } = await setup();
    const admin = new Redis(redis.url);
    try {
      await admin.config('SET', 'maxmemory', '1');
      const error = await errorOf(store.claim('c', 'oom', Date.now() + 60_000));
      expect(error).toBeInstanceOf(ReplayStoreError);
      expect((error as ReplayStoreError).failure).toBe('full');
    } finally {
      await admin.config('SET', 'maxmemory', '0');
      admin.disconnect();
    }
    expect(await store.claim('c', 'oom', Date.now() + 60_000)).toBe(true);
  });
});
