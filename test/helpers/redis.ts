/**
 * A real `redis-server` for tests: started on a free 127.0.0.1 port with a temporary folder
 * (no persistence by default), stoppable and restartable on the same port to test outages.
 *
 * `REDIS_URL` set: tests that only need a Redis use it ({@link redisForTests}); tests that stop
 * and restart Redis always start their own ({@link startRedis}). Without the binary the suites
 * skip with a notice, except in CI (`CI` set), where a missing Redis is a failure: `.ci/run`
 * installs it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net.js';

/** The redis-server binary, or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
  for (const candidate of [
    'redis-server',
    '/usr/bin/redis-server',
    '/usr/local/bin/redis-server',
  ]) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  return undefined;
}

/**
 * Whether suites needing a Redis can run here. Throws in CI when redis-server is missing, so a
 * broken CI image fails instead of silently skipping the multi-instance tests.
 */
export function redisAvailable(options: { needBinary: boolean }): boolean {
  if (!options.needBinary && process.env.REDIS_URL) return true;
  if (findRedisServer() !== undefined) return true;
  if (process.env.CI) {
    throw new Error('redis-server is not installed (CI): .ci/run should have installed it');
  }
  console.warn('redis-server not found: skipping the Redis suites (apt-get install redis-server)');
  return false;
}

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** Whether this helper runs the server (false for an external `REDIS_URL`). */
  readonly managed: boolean;
  /** Starts the server again on the same port (after `stop`, `kill` or a crash). */
  start(): Promise<void>;
  /** Stops the server gracefully (SIGTERM: AOF is flushed when enabled; no RDB is written). */
  stop(): Promise<void>;
  /** Kills the server (SIGKILL): a crash, nothing flushed beyond what the config already wrote. */
  kill(): Promise<void>;
  /** Kills the server and deletes its data files: the next `start` finds an empty Redis. */
  wipe(): Promise<void>;
  /** Freezes (SIGSTOP) and thaws (SIGCONT) the server: sockets stay open, nothing answers. */
  freeze(): void;
  thaw(): void;
  /** Stops the server for good and removes its folder. */
  dispose(): Promise<void>;
}

export interface StartRedisOptions {
  /**
   * `none` (default): `--save '' --appendonly no`, so a restart loses everything.
   * `aof`: append-only file fsynced on every write, so even SIGKILL loses no claim; the setup
   * docs/deployment.md recommends for the replay store.
   */
  readonly persistence?: 'none' | 'aof';
  /** More redis-server arguments (replication, cluster mode). */
  readonly extraArgs?: readonly string[];
}

const startTimeoutMs = 5_000;
const stopTimeoutMs = 5_000;

/** Starts a managed redis-server on a free port (never the `REDIS_URL` one). */
export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error('redis-server is not installed');
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    '--maxmemory-policy',
    'noeviction',
    ...(options.persistence === 'aof'
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  let stderr = '';

  const exited = (): Promise<void> =>
    new Promise((resolve) => {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });

  async function start(): Promise<void> {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      throw new Error('redis-server is already running');
    }
    stderr = '';
    const current = spawn(binary as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = current;
    current.stdout?.on('data', (chunk) => {
      stderr += chunk;
    });
    current.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    try {
      await waitForPing(port, startTimeoutMs, () => current.exitCode !== null);
    } catch (error) {
      current.kill('SIGKILL');
      throw new Error(`redis-server did not start: ${(error as Error).message}\n${stderr}`);
    }
  }

  async function signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    // A frozen server ignores SIGTERM until thawed.
    current.kill('SIGCONT');
    const done = exited();
    current.kill(signal);
    const timer = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), stopTimeoutMs).unref(),
    );
    if ((await Promise.race([done, timer])) === 'timeout') {
      current.kill('SIGKILL');
      await exited();
    }
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    managed: true,
    start,
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    async wipe() {
      await signalAndWait('SIGKILL');
      for (const entry of await readdir(dir)) {
        await rm(join(dir, entry), { recursive: true, force: true });
      }
    },
    freeze: () => {
      child?.kill('SIGSTOP');
    },
    thaw: () => {
      child?.kill('SIGCONT');
    },
    async dispose() {
      await signalAndWait('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Redis for tests that only need one: `REDIS_URL` when set (left running), else a managed
 * server. The caller checks {@link redisAvailable} first.
 */
export async function redisForTests(): Promise<TestRedis> {
  const external = process.env.REDIS_URL;
  if (!external) return startRedis();
  const unsupported = async (): Promise<void> => {
    throw new Error('an external REDIS_URL cannot be stopped or restarted by tests');
  };
  return {
    url: external,
    port: Number(new URL(external).port || 6379),
    managed: false,
    start: unsupported,
    stop: unsupported,
    kill: unsupported,
    wipe: unsupported,
    freeze: () => {
      throw new Error('an external REDIS_URL cannot be frozen by tests');
    },
    thaw: () => {},
    dispose: async () => {},
  };
}

/** Resolves once Redis answers PING on 127.0.0.1:port (bounded in time). */
async function waitForPing(port: number, timeoutMs: number, failed: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (failed()) throw new Error('the process exited');
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server did not answer PING on ${port} within ${timeoutMs} ms`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
