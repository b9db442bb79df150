/**
 * Metrics across the workers of `tollgate serve --workers N` (the worker's side; the primary's is
 * in src/cli/workers.ts). A scrape can land on any worker, since the workers share the listener:
 * that worker asks the primary, which collects every worker's registry and answers with the
 * aggregate, so one scrape sees the whole server. Counters and histograms are summed; gauges
 * follow prom-client's per-metric aggregator (sum unless the metric says otherwise).
 */
import type { Registry } from 'prom-client';

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
  return {
    text: async () => {
      if (channel.connected === false || channel.send === undefined) return registry.metrics();
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
    },
    stop: () => channel.off('message', onMessage),
  };
}
