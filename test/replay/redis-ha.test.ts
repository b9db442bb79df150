/**
 * The Redis replay store past a single Redis: a Sentinel-managed primary and a Redis Cluster,
 * each with a real failover (the primary is SIGKILLed mid-traffic and Redis promotes its
 * replica). What must hold: no jti that was ever claimed is claimed again (every claim answered
 * `true` reached a replica first, `replicaAcks: 1`), claims fail closed while the failover runs,
 * and they succeed again on their own once it is over.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createRedisClient,
  type RedisConnection,
  RedisReplayStore,
  ReplayStoreError,
} from '../../src/replay/index.js';
import type { TestRedis } from '../helpers/redis.js';
import {
  type ClusterSetup,
  redisHaAvailable,
  type SentinelSetup,
  startCluster,
  startSentinelSetup,
} from '../helpers/redis-ha.js';

const enabled = redisHaAvailable();

interface TrafficResult {
  readonly claimed: string[];
  readonly failedClosed: number;
  readonly recovered: boolean;
  readonly replaysAccepted: number;
  /** The last refusal's message (for the failure message of a test that does not recover). */
  readonly lastError: string;
}

/**
 * Claims fresh jtis in a loop and, between them, replays one already claimed; kills `victim`
 * after `killAfter` successes; stops once `afterKill` more claims have succeeded or the bound
 * passes. Bounded in time (60 s: a failover on a busy machine is slow) and count.
 */
async function trafficThroughFailover(
  store: RedisReplayStore,
  victim: TestRedis,
  options: { killAfter: number; afterKill: number },
): Promise<TrafficResult> {
  const claimed: string[] = [];
  let failedClosed = 0;
  let replaysAccepted = 0;
  let killed = false;
  let successesAfterKill = 0;
  let lastError = '';
  const deadline = Date.now() + 60_000;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    if (!killed && claimed.length >= options.killAfter) {
      await victim.kill();
      killed = true;
    }
    const jti = randomUUID();
    try {
      if (await store.claim('svc', jti, Date.now() + 120_000)) {
        claimed.push(jti);
        if (killed) successesAfterKill++;
      }
    } catch (error) {
      if (!(error instanceof ReplayStoreError)) throw error;
      failedClosed++;
      lastError = error.message;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const earlier = claimed[Math.floor(Math.random() * claimed.length)];
    if (earlier !== undefined) {
      try {
        if (await store.claim('svc', earlier, Date.now() + 120_000)) replaysAccepted++;
      } catch (error) {
        if (!(error instanceof ReplayStoreError)) throw error;
      }
    }
    if (killed && successesAfterKill >= options.afterKill) break;
  }
  return {
    claimed,
    failedClosed,
    recovered: successesAfterKill >= options.afterKill,
    replaysAccepted,
    lastError,
  };
}

/**
 * After the failover: every jti ever claimed is still refused. A claim that cannot be decided
 * (the client reconnects once more as the sentinels settle) is retried until it is: the test is
 * that no replay is ever answered true, and fail-closed answers are allowed meanwhile. Bounded.
 */
async function replaysOfAll(store: RedisReplayStore, claimed: readonly string[]): Promise<number> {
  let accepted = 0;
  const deadline = Date.now() + 30_000;
  for (const jti of claimed) {
    for (;;) {
      try {
        if (await store.claim('svc', jti, Date.now() + 120_000)) accepted++;
        break;
      } catch (error) {
        if (!(error instanceof ReplayStoreError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  return accepted;
}

describe.skipIf(!enabled)('RedisReplayStore with Redis Sentinel', () => {
  let setup: SentinelSetup | undefined;
  let client: RedisConnection | undefined;
  afterAll(async () => {
    client?.disconnect();
    await setup?.dispose();
  });

  it('survives a primary failover: claims fail closed meanwhile, recover alone, and no replay passes', async () => {
    setup = await startSentinelSetup();
    client = createRedisClient({
      url: 'redis://127.0.0.1',
      sentinels: [`127.0.0.1:${setup.sentinelPort}`],
      sentinelName: setup.name,
      connectTimeoutMs: 500,
      commandTimeoutMs: 1_000,
    });
    const store = new RedisReplayStore({
      url: 'redis://unused',
      connectTimeoutMs: 500,
      commandTimeoutMs: 1_000,
      client,
      keyPrefix: `ha:${randomUUID()}:`,
      replicaAcks: 1,
      replicaAckTimeoutMs: 500,
      healthCheckIntervalMs: 250,
    });
    expect(await store.whenReady(10_000)).toBe(true);

    const result = await trafficThroughFailover(store, setup.primary, {
      killAfter: 50,
      afterKill: 100,
    });
    expect(result.recovered, result.lastError).toBe(true);
    expect(result.failedClosed).toBeGreaterThan(0);
    expect(result.replaysAccepted).toBe(0);
    // One of the replicas is the primary now, named by the sentinel.
    const promoted = await Promise.any(
      setup.replicas.map((replica) => setup?.waitForPrimary(replica.port, 10_000)),
    );
    expect(promoted).toBeUndefined();
    expect(await replaysOfAll(store, result.claimed)).toBe(0);
    await store.close();
  }, 120_000);
});

describe.skipIf(!enabled)('RedisReplayStore on a Redis Cluster', () => {
  let cluster: ClusterSetup | undefined;
  let client: RedisConnection | undefined;
  afterAll(async () => {
    client?.disconnect();
    await cluster?.dispose();
  });

  it('spreads claims over slices on every shard, survives a shard failover, and no replay passes', async () => {
    cluster = await startCluster();
    client = createRedisClient({
      url: 'redis://127.0.0.1',
      clusterNodes: cluster.nodes.map((node) => `127.0.0.1:${node.port}`),
      connectTimeoutMs: 500,
      commandTimeoutMs: 1_000,
    });
    const keyPrefix = `ha:${randomUUID()}:`;
    const store = new RedisReplayStore({
      url: 'redis://unused',
      connectTimeoutMs: 500,
      commandTimeoutMs: 1_000,
      client,
      keyPrefix,
      replicaAcks: 1,
      replicaAckTimeoutMs: 500,
      healthCheckIntervalMs: 250,
    });
    expect(await store.whenReady(15_000)).toBe(true);

    // The primary of slot 0..5460 (redis-cli gives the first node the first third).
    const victim = await cluster.primaryOf(0);
    const result = await trafficThroughFailover(store, victim, { killAfter: 50, afterKill: 50 });
    expect(result.recovered, result.lastError).toBe(true);
    expect(result.replaysAccepted).toBe(0);
    expect(await replaysOfAll(store, result.claimed)).toBe(0);

    // Claims were spread over several primaries: each holds keys of this store.
    const holders = new Set<number>();
    for (const node of cluster.nodes) {
      if (node === victim) continue;
      const raw = await readyClient(node, 1_000);
      try {
        const role = (await raw.call('ROLE')) as [string];
        const keys = (await raw.call('KEYS', `${keyPrefix}*jti:*`)) as string[];
        if (role[0] === 'master' && keys.length > 0) holders.add(node.port);
      } finally {
        raw.disconnect();
      }
    }
    expect(holders.size).toBeGreaterThanOrEqual(2);
    await store.close();
  }, 150_000);

  it('recovers every slice after a shard moves under batched claims (manual failover)', async () => {
    const moved = await startCluster();
    const movedClient = createRedisClient({
      url: 'redis://127.0.0.1',
      clusterNodes: moved.nodes.map((node) => `127.0.0.1:${node.port}`),
      connectTimeoutMs: 500,
      commandTimeoutMs: 1_000,
    });
    try {
      const store = new RedisReplayStore({
        url: 'redis://unused',
        connectTimeoutMs: 500,
        commandTimeoutMs: 1_000,
        client: movedClient,
        keyPrefix: `ha:${randomUUID()}:`,
        replicaAcks: 1,
        replicaAckTimeoutMs: 500,
        healthCheckIntervalMs: 250,
      });
      expect(await store.whenReady(15_000)).toBe(true);
      // 32 claims acknowledged by a replica (the replicas of a new cluster may still be syncing:
      // a claim refused for that is left behind, fail closed, and a fresh jti is tried).
      const before: string[] = [];
      for (let tries = 0; before.length < 32 && tries < 1_000; tries++) {
        const jti = randomUUID();
        try {
          if (await store.claim('svc', jti, Date.now() + 120_000)) before.push(jti);
        } catch (error) {
          if (!(error instanceof ReplayStoreError)) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      expect(before).toHaveLength(32);

      // CLUSTER FAILOVER on a replica of slot 0's shard: the shard moves to another node while the
      // client's slot map still names the old one. Batches of claims (and the store's own health
      // checks) then reach the old primary as one pipeline with a different MOVED per slot, which
      // ioredis neither follows nor learns from.
      const primary = await moved.primaryOf(0);
      const replica = await replicaOf(moved, primary);
      await replica.client.call('CLUSTER', 'FAILOVER');
      await waitFor(async () => (await moved.primaryOf(0)) === replica.node, 20_000);

      // Every slice answers again on its own, within a bound: rounds of 64 concurrent claims.
      let recovered = false;
      const deadline = Date.now() + 20_000;
      while (!recovered && Date.now() < deadline) {
        const round = await Promise.allSettled(
          Array.from({ length: 64 }, () => store.claim('svc', randomUUID(), Date.now() + 120_000)),
        );
        recovered = round.every((one) => one.status === 'fulfilled' && one.value === true);
        if (!recovered) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(recovered).toBe(true);
      // And nothing claimed before the move is claimable again.
      expect(await replaysOfAll(store, before)).toBe(0);
      replica.client.disconnect();
      await store.close();
    } finally {
      movedClient.disconnect();
      await moved.dispose();
    }
  }, 150_000);
});

/** A replica of `primary` (ROLE names its primary's port), with a connection to it. */
async function replicaOf(
  setup: ClusterSetup,
  primary: TestRedis,
): Promise<{ node: TestRedis; client: RedisConnection }> {
  for (const node of setup.nodes) {
    if (node === primary) continue;
    const client = await readyClient(node, 5_000);
    const role = (await client.call('ROLE')) as [string, string, number];
    if (role[0] === 'slave' && Number(role[2]) === primary.port) return { node, client };
    client.disconnect();
  }
  throw new Error(`no replica of 127.0.0.1:${primary.port}`);
}

/** A plain connection to one node, once it is ready. */
async function readyClient(node: TestRedis, commandTimeoutMs: number): Promise<RedisConnection> {
  const client = createRedisClient({
    url: `redis://127.0.0.1:${node.port}`,
    connectTimeoutMs: 500,
    commandTimeoutMs,
  });
  await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
