/**
 * `tollgate serve --workers N`: N worker processes on the same listeners (node:cluster), so one
 * machine's cores all issue tokens. The primary process serves no request itself; it
 * - holds the one memory replay store and answers every worker's claims (src/replay/ipc.ts), so
 *   a `jti` is claimed exactly once across workers (with Redis configured, workers use Redis);
 * - aggregates metrics: a scrape that reaches any worker is answered with the sum over all
 *   workers (prom-client's AggregatorRegistry), so /metrics means the same with 1 or N workers;
 * - forwards SIGHUP (reload) and SIGTERM/SIGINT (drain) to every worker, and exits 0 only when
 *   every worker drained cleanly;
 * - replaces a worker that dies unexpectedly (after a second), and gives up, stopping the
 *   others, when a worker dies before it ever listened at start-up (a configuration that cannot
 *   start). A replacement that cannot start (a file broken since start-up, which the running
 *   workers refused on reload and serve without) leaves the running workers serving and is
 *   retried, backing off to {@link maxRestartDelayMs}; only when no worker is left serving does
 *   the primary stop (exit 1).
 *
 * Connections are distributed by node:cluster's default round-robin (the primary accepts and
 * hands each connection to the next worker): even spread, at a small per-connection cost in the
 * primary. `NODE_CLUSTER_SCHED_POLICY=none` lets the kernel distribute instead.
 *
 * Limits and caches that live in process memory (rate limits, per-address connection caps, the
 * jwks_uri cache, the chain cache) are per worker: N workers allow N times a per-address memory
 * limit. Use the Redis rate-limit store where that matters (docs/deployment.md).
 */
import cluster, { type Worker } from 'node:cluster';
import { clusterCollector, serveClusterMetrics } from '../http/cluster-metrics.js';
import type { ReplayStore } from '../replay/index.js';
import { type IpcChannel, serveReplayClaims } from '../replay/ipc.js';
import type { Io } from './io.js';
import { exitCodes } from './io.js';

export interface PrimaryOptions {
  /** Number of workers (at least 1). */
  readonly workers: number;
  /** The shared memory replay store, or undefined when workers use Redis. */
  readonly replayStore: ReplayStore | undefined;
  /** The longest a worker may take to drain after SIGTERM, in seconds (the config's). */
  readonly shutdownTimeoutSeconds: number;
  readonly log: (level: 'info' | 'warn' | 'error', fields: object, message: string) => void;
  readonly io: Io;
}

/**
 * Tells a worker since when the primary's memory replay store remembers claims (the restart
 * fence of private_key_jwt). Internal: deliberately outside the `TOLLGATE_` configuration
 * namespace, so no configuration mapping ever reads it.
 */
export const replaySinceVariable = 'TG_WORKER_REPLAY_SINCE_MS';

/** A worker that dies unexpectedly is replaced after this. */
const restartDelayMs = 1_000;

/** The longest wait between tries of a replacement that keeps failing to start. */
const maxRestartDelayMs = 30_000;

/** What a worker sends the primary once all its listeners are up. */
export const workerReadyMessage = 'tollgate:worker-ready';

/** The IPC channel to one worker, as the replay IPC module sees it. */
function channelOf(worker: Worker): IpcChannel {
  return {
    send: (message) => worker.send(message as never),
    on: (event, listener) => worker.on(event, listener),
    off: (event, listener) => worker.off(event, listener),
    isOpen: () => worker.isConnected(),
  };
}

/** Runs the primary until every worker has exited after a signal; resolves to the exit code. */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { workers: count, replayStore, log } = options;
  const listening = new Set<number>();
  const stops = new Map<number, () => void>();
  let closing = false;
  let failed = false;
  // Start-up is over once every first worker has listened; until then any failure stops all.
  let started = false;
  // Replacements in a row that died before listening: the backoff's exponent.
  let failedStarts = 0;

  const collectMetrics = clusterCollector(() =>
    Object.values(cluster.workers ?? {})
      .filter((one): one is Worker => one?.isConnected() === true)
      .map(channelOf),
  );

  return new Promise((resolve) => {
    const fork = () => {
      const since = replayStore?.rememberedSinceMs?.();
      const worker = cluster.fork(
        since === undefined ? {} : { [replaySinceVariable]: String(since) },
      );
      const channel = channelOf(worker);
      const stopClaims =
        replayStore === undefined ? () => {} : serveReplayClaims(replayStore, channel);
      const stopMetrics = serveClusterMetrics(channel, collectMetrics);
      stops.set(worker.id, () => {
        stopClaims();
        stopMetrics();
      });
      // Started means every listener is up, not only the first one ('listening' fires per
      // server): a worker that fails on a later listener is a failed start, never restarted.
      worker.on('message', (message: unknown) => {
        if ((message as { type?: unknown } | null)?.type === workerReadyMessage) {
          listening.add(worker.id);
          if (listening.size === count) started = true;
          log('info', { pid: worker.process.pid }, 'worker ready');
          failedStarts = 0;
        }
      });
    };

    cluster.on('exit', (worker, code, signal) => {
      stops.get(worker.id)?.();
      stops.delete(worker.id);
      const wasListening = listening.delete(worker.id);
      const clean = code === 0 && signal === null;
      if (!clean) failed = true;
      if (!closing) {
        const replace = (delayMs: number) => {
          failed = false;
          setTimeout(() => {
            if (!closing) fork();
          }, delayMs).unref();
        };
        if (!wasListening) {
          if (!started || listening.size === 0) {
            log(
              'error',
              { pid: worker.process.pid, code, signal },
              'worker failed to start: stopping',
            );
            stopAll('worker failed to start');
            return;
          }
          // The others still serve the state they loaded: stopping them would turn one broken
          // file and one crash into an outage. Retry, backing off, until the file is fixed.
          const delayMs = Math.min(restartDelayMs * 2 ** ++failedStarts, maxRestartDelayMs);
          log(
            'error',
            { pid: worker.process.pid, code, signal, retryInMs: delayMs, serving: listening.size },
            'replacement worker failed to start: the other workers keep serving; retrying',
          );
          replace(delayMs);
          return;
        }
        log('error', { pid: worker.process.pid, code, signal }, 'worker died: replacing it');
        replace(restartDelayMs);
        return;
      }
      if (Object.keys(cluster.workers ?? {}).length === 0) finish();
    });

    let bound: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      if (bound !== undefined) clearTimeout(bound);
      void replayStore?.close();
      resolve(failed ? exitCodes.failed : exitCodes.ok);
    };
    const stopAll = (reason: string) => {
      if (closing) return;
      closing = true;
      log('info', { reason }, 'stopping every worker: draining in-flight requests');
      const alive = Object.values(cluster.workers ?? {}).filter((one) => one !== undefined);
      if (alive.length === 0) {
        finish();
        return;
      }
      for (const worker of alive) worker.process.kill('SIGTERM');
      // A worker bounds its own drain; this only catches a worker that never exits.
      bound = setTimeout(
        () => {
          failed = true;
          for (const worker of Object.values(cluster.workers ?? {}))
            worker?.process.kill('SIGKILL');
        },
        (options.shutdownTimeoutSeconds + 5) * 1000,
      );
      bound.unref();
    };

    process.once('SIGTERM', () => stopAll('SIGTERM'));
    process.once('SIGINT', () => stopAll('SIGINT'));
    process.on('SIGHUP', () => {
      log('info', { workers: count }, 'SIGHUP: every worker reloads');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
    });

    for (let i = 0; i < count; i++) fork();
  });
}
