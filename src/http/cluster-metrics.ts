/**
 * Metrics across the workers of `tollgate serve --workers N`, both sides. A scrape can land on
 * any worker, since the workers share the listener: that worker asks the primary, which collects
 * every worker's registry and answers with the aggregate, so one scrape sees the whole server.
 * Counters and histograms are summed; gauges follow prom-client's per-metric aggregator (sum
 * unless the metric says otherwise). A worker that does not answer in time is left out, and
 * `tollgate_cluster_workers{reporting}` says so.
 *
 * Scrapes that arrive while a collection is running share it, on both sides: a worker asks the
 * primary once however many scrapes it holds, and the primary collects once however many
 * workers ask. So N scrapers (several Prometheus replicas, an operator's curl) cost one round of
 * N-worker messages per collection time, not N rounds: the work is bounded by the worker count
 * and the collection timeouts, not by how many scrapes the admin listener lets in.
 */
import { AggregatorRegistry, Gauge, type Registry } from 'prom-client';
import type { IpcChannel } from '../replay/ipc.js';

/** A scrape that gets no aggregate within this answers from this worker alone. */
const answerTimeoutMs = 3_000;

interface WorkerChannel {
  send?: ((message: unknown) => boolean) | undefined;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  readonly connected?: boolean;
}

let nextRequest = 1;

/**
 * Makes this worker answer the primary's collection requests from `registry`, and returns the
 * function a scrape calls to get the cluster's metrics in the Prometheus text format (or this
 * worker's alone, when the primary does not answer in time). Call `stop` on close.
 */
export function clusterMetrics(
  registry: Registry,
  channel: WorkerChannel = process as unknown as WorkerChannel,
): { text: () => Promise<string>; stop: () => void } {
  const pending = new Map<number, (text: string | null) => void>();
  const onMessage = (message: unknown) => {
    if (typeof message !== 'object' || message === null) return;
    const { type, id } = message as { type?: unknown; id?: unknown };
    if (type === 'tollgate:metrics-collect') {
      registry.getMetricsAsJSON().then((metrics) => {
        if (channel.connected !== false)
          channel.send?.({ type: 'tollgate:metrics-part', id, metrics });
      });
      return;
    }
    if (type === 'tollgate:metrics-answer' && typeof id === 'number') {
      const text = (message as { text?: unknown }).text;
      pending.get(id)?.(typeof text === 'string' ? text : null);
    }
  };
  channel.on('message', onMessage);
  const askPrimary = shared(async () => {
    const id = nextRequest++;
    const aggregate = await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => done(null), answerTimeoutMs);
      const done = (text: string | null) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(text);
      };
      pending.set(id, done);
      channel.send?.({ type: 'tollgate:metrics-request', id });
    });
    return aggregate ?? registry.metrics();
  });
  return {
    text: async () => {
      if (channel.connected === false || channel.send === undefined) return registry.metrics();
      return askPrimary();
    },
    stop: () => channel.off('message', onMessage),
  };
}

/** How long the primary waits for each worker's part of a metrics scrape. */
const collectTimeoutMs = 2_000;

let nextCollection = 1;

/**
 * The primary's collector: every call while a collection is running gets that collection's
 * result, so one is made at a time whoever asks. Make one per primary and give it to every
 * `serveClusterMetrics`.
 */
export function clusterCollector(workers: () => readonly IpcChannel[]): () => Promise<string> {
  return shared(() => collectClusterMetrics(workers()));
}

/**
 * The primary's side: answers the metrics requests that arrive from `requester` with what
 * `collect` (a {@link clusterCollector}) returns. Returns the function that stops listening.
 */
export function serveClusterMetrics(
  requester: IpcChannel,
  collect: () => Promise<string>,
): () => void {
  const onMessage = (message: unknown) => {
    if (!isRecord(message) || message.type !== 'tollgate:metrics-request') return;
    const id = message.id;
    if (!Number.isSafeInteger(id)) return;
    const answer = (text: string | null) => {
      if (requester.isOpen()) requester.send({ type: 'tollgate:metrics-answer', id, text });
    };
    collect().then(answer, () => answer(null));
  };
  requester.on('message', onMessage);
  return () => requester.off('message', onMessage);
}

/** Every worker's registry, aggregated, in the Prometheus text format. */
export async function collectClusterMetrics(workers: readonly IpcChannel[]): Promise<string> {
  const id = nextCollection++;
  const parts = await Promise.all(
    workers.map(
      (worker) =>
        new Promise<object | undefined>((resolve) => {
          const timer = setTimeout(() => done(undefined), collectTimeoutMs);
          const onMessage = (message: unknown) => {
            if (isRecord(message) && message.type === 'tollgate:metrics-part' && message.id === id)
              done(Array.isArray(message.metrics) ? message.metrics : undefined);
          };
          const done = (value: object | undefined) => {
            clearTimeout(timer);
            worker.off('message', onMessage);
            resolve(value);
          };
          worker.on('message', onMessage);
          worker.send({ type: 'tollgate:metrics-collect', id });
        }),
    ),
  );
  const present = parts.filter((part): part is object => part !== undefined);
  const registry = AggregatorRegistry.aggregate(present);
  const gauge = new Gauge({
    name: 'tollgate_cluster_workers',
    help: 'Workers of this server (serve --workers), by whether their metrics are in this scrape.',
    labelNames: ['reporting'],
    registers: [registry],
  });
  gauge.set({ reporting: 'true' }, present.length);
  gauge.set({ reporting: 'false' }, parts.length - present.length);
  return registry.metrics();
}

/** `run`, with the calls made while one is in flight sharing its promise. */
function shared<T>(run: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    inFlight ??= run().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
