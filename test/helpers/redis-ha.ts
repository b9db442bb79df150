/**
 * Highly available Redis for tests, from real processes on 127.0.0.1: a primary with a replica
 * watched by one redis-sentinel, and a six-node Redis Cluster (three primaries, one replica
 * each). Failover is real: the tests kill a primary and Redis itself promotes the replica.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './net.js';
import { startRedis, type TestRedis } from './redis.js';

const run = promisify(execFile);

/** Whether redis-sentinel and redis-cli exist (CI installs them; elsewhere the suites skip). */
export function redisHaAvailable(): boolean {
  const ok = ['redis-sentinel', 'redis-cli'].every(
    (binary) => spawnSync(binary, ['--version']).status === 0,
  );
  if (!ok && process.env.CI) {
    throw new Error('redis-sentinel / redis-cli are not installed (CI): .ci/run installs them');
  }
  if (!ok) console.warn('redis-sentinel or redis-cli not found: skipping the Redis HA suites');
  return ok;
}

/** A short-lived helper connection: its errors are the caller's to see through `await`. */
function quiet(client: Redis): Redis {
  client.on('error', () => {});
  return client;
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} not reached within ${timeoutMs} ms`);
}

async function info(port: number, section: string): Promise<string> {
  const client = quiet(
    new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 }),
  );
  try {
    await client.connect();
    return await client.info(section);
  } finally {
    client.disconnect();
  }
}

export interface SentinelSetup {
  readonly primary: TestRedis;
  /** Two replicas: after one failover a replica is left to acknowledge claims (`replicaAcks`). */
  readonly replicas: readonly TestRedis[];
  readonly sentinelPort: number;
  readonly name: string;
  /** Waits until the sentinel names `port` as the primary. */
  waitForPrimary(port: number, timeoutMs: number): Promise<void>;
  dispose(): Promise<void>;
}

/** A primary, two replicas (in sync), and one sentinel (quorum 1, 500 ms down-after). */
export async function startSentinelSetup(): Promise<SentinelSetup> {
  const name = 'tollgate-test';
  const primary = await startRedis();
  const replicas: TestRedis[] = [];
  for (let i = 0; i < 2; i++) {
    const replica = await startRedis({
      extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)],
    });
    replicas.push(replica);
    await until(
      async () => /master_link_status:up/.test(await info(replica.port, 'replication')),
      10_000,
      'replica in sync',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-sentinel-'));
  const sentinelPort = await freePort();
  const conf = join(dir, 'sentinel.conf');
  await writeFile(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 500`,
      `sentinel failover-timeout ${name} 3000`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const sentinel: ChildProcess = spawn('redis-sentinel', [conf], { stdio: 'ignore' });
  const sentinelAsk = async () => {
    const client = quiet(new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true }));
    try {
      await client.connect();
      return (await client.call('SENTINEL', 'get-master-addr-by-name', name)) as string[] | null;
    } finally {
      client.disconnect();
    }
  };
  const waitForPrimary = (port: number, timeoutMs: number) =>
    until(async () => (await sentinelAsk())?.[1] === String(port), timeoutMs, `primary ${port}`);
  await waitForPrimary(primary.port, 10_000);
  // The sentinel must know the replica before a failover can promote it.
  await until(
    async () => {
      const client = quiet(new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true }));
      try {
        await client.connect();
        return ((await client.call('SENTINEL', 'replicas', name)) as unknown[]).length === 2;
      } finally {
        client.disconnect();
      }
    },
    15_000,
    'sentinel sees the replica',
  );
  return {
    primary,
    replicas,
    sentinelPort,
    name,
    waitForPrimary,
    async dispose() {
      sentinel.kill('SIGKILL');
      await Promise.all([primary, ...replicas].map((node) => node.dispose()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterSetup {
  readonly nodes: readonly TestRedis[];
  /** The node now serving `slot` as a primary. */
  primaryOf(slot: number): Promise<TestRedis>;
  dispose(): Promise<void>;
}

/**
 * Nine cluster-mode nodes joined by `redis-cli --cluster create --cluster-replicas 2`: three
 * shards of a primary and two replicas, so a shard keeps a replica after one failover.
 */
export async function startCluster(): Promise<ClusterSetup> {
  const nodes: TestRedis[] = [];
  try {
    for (let i = 0; i < 9; i++) {
      // The cluster bus listens on a second port, by default the node's port + 10000: a port
      // nobody claimed (another test's server, an outgoing connection's local port: 30000-42000
      // reaches into the ephemeral range) and seen taken in a full run. Claim it as any port.
      const busPort = await freePort();
      nodes.push(
        await startRedis({
          extraArgs: [
            '--cluster-port',
            String(busPort),
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
          ],
        }),
      );
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '2',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    await until(
      async () => {
        for (const node of nodes) {
          if (!/cluster_state:ok/.test(await clusterInfo(node.port))) return false;
        }
        return true;
      },
      20_000,
      'cluster_state:ok on every node',
    );
  } catch (error) {
    await Promise.all(nodes.map((node) => node.dispose()));
    throw error;
  }
  return {
    nodes,
    async primaryOf(slot) {
      for (const node of nodes) {
        const client = quiet(
          new Redis({
            port: node.port,
            host: '127.0.0.1',
            lazyConnect: true,
            maxRetriesPerRequest: 0,
          }),
        );
        try {
          await client.connect();
          const slots = (await client.call('CLUSTER', 'SLOTS')) as [
            number,
            number,
            [string, number],
          ][];
          const owner = slots.find(([from, to]) => slot >= from && slot <= to);
          if (owner !== undefined) {
            const port = owner[2][1];
            const found = nodes.find((one) => one.port === port);
            if (found !== undefined) return found;
          }
        } catch {
          // A dead node: ask the next.
        } finally {
          client.disconnect();
        }
      }
      throw new Error(`no node serves slot ${slot}`);
    },
    async dispose() {
      await Promise.all(nodes.map((node) => node.dispose()));
    },
  };
}

async function clusterInfo(port: number): Promise<string> {
  const client = quiet(
    new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 }),
  );
  try {
    await client.connect();
    return (await client.call('CLUSTER', 'INFO')) as string;
  } finally {
    client.disconnect();
  }
}
