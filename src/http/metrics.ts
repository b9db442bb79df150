/**
 * Prometheus metrics (prom-client), one registry per Tollgate instance. Names follow Prometheus
 * conventions (`_total` counters, `_seconds` units). Labels are bounded: routes, methods, reason
 * codes (a closed list) and registered client_ids, never values a caller chooses freely.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ReplayStore } from '../replay/index.js';
import { clusterMetrics } from './cluster-metrics.js';

/** A per-client fact the certificate-expiry gauge reads at scrape time. */
export interface CertificateExpirySource {
  /** client_id -> notAfter (epoch ms) of every registered or last-seen client certificate. */
  certificateExpiries(): Iterable<{
    clientId: string;
    source: 'registered' | 'presented';
    notAfterMs: number;
  }>;
  /** client_id -> state of its jwks_uri cache. */
  remoteJwksStatus(): Iterable<{
    clientId: string;
    state: string;
    lastSuccessAtMs: number | undefined;
  }>;
  /** Configured SPIFFE trust sources: bundle state and sequence. */
  workloadBundles?(): Iterable<{ source: string; state: string; sequence: number | undefined }>;
}

export class TollgateMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly clientAuth: Counter<'endpoint' | 'method' | 'outcome' | 'reason'>;
  readonly tokenIssuance: Histogram<'method'>;
  readonly replayClaims: Histogram<'outcome'>;
  readonly replayErrors: Counter<'failure'>;
  readonly reloads: Counter<'part' | 'outcome'>;
  readonly untrustedProxyHeaders: Counter<never>;
  readonly rateLimited: Counter<'limit'>;
  readonly rateLimitStoreErrors: Counter<never>;
  readonly legacyAudience: Counter<'client_id'>;
  readonly overloaded: Counter<never>;
  /** Workload authentications by trust source and (registered) client_id. */
  readonly workloadAuthentications: Counter<'source' | 'client_id'>;
  readonly dependencyStateChanges: Counter<'dependency' | 'state'>;
  readonly connectionsRefused: Counter<never>;
  readonly connectionsEvicted: Counter<never>;
  /**
   * The Prometheus text a scrape answers: this registry, or (a worker of `serve --workers N`,
   * after {@link aggregateAcrossWorkers}) every worker's, aggregated by the primary.
   */
  exposition: () => Promise<string> = () => this.registry.metrics();
  /** Last-seen presented certificates: client_id -> notAfter epoch ms. */
  readonly #presented = new Map<string, number>();

  constructor(options: {
    source: () => CertificateExpirySource;
    now?: () => number;
    processMetrics?: boolean;
  }) {
    const registers = [this.registry];
    const now = options.now ?? Date.now;
    // prom-client's standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds...),
    // unprefixed, so the usual Node.js dashboards and alerts match; `tollgate_` is for our own.
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new Counter({
      name: 'tollgate_http_requests_total',
      help: 'HTTP requests by route, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
      collect: () => this.#requestCounts.flush(),
    });
    this.clientAuth = new Counter({
      name: 'tollgate_client_authentications_total',
      help: 'Client authentication outcomes by endpoint, method and reason code.',
      labelNames: ['endpoint', 'method', 'outcome', 'reason'],
      registers,
      collect: () => this.#authCounts.flush(),
    });
    this.#requestCounts = new CounterBatches(this.httpRequests);
    this.#authCounts = new CounterBatches(this.clientAuth);
    this.tokenIssuance = new Histogram({
      name: 'tollgate_token_issuance_seconds',
      help: 'Time to handle a successful token request, by client authentication method.',
      labelNames: ['method'],
      buckets: issuanceBuckets,
      registers,
      collect: () => this.#issuanceObservations.flush(),
    });
    this.replayClaims = new Histogram({
      name: 'tollgate_replay_store_claim_seconds',
      help: 'Replay store claim latency, by outcome (claimed, replayed, error).',
      labelNames: ['outcome'],
      buckets: claimBuckets,
      registers,
      collect: () => this.#claimObservations.flush(),
    });
    this.#issuanceObservations = new HistogramBatches(this.tokenIssuance, issuanceBuckets);
    this.#claimObservations = new HistogramBatches(this.replayClaims, claimBuckets);
    this.replayErrors = new Counter({
      name: 'tollgate_replay_store_errors_total',
      help: 'Replay store claims that could not be decided (assertions failed closed).',
      labelNames: ['failure'],
      registers,
    });
    this.reloads = new Counter({
      name: 'tollgate_reloads_total',
      help: 'Reloads of the registry, trust store, signing keys and server certificate that changed something (reloaded) or failed; checks that found nothing new are not counted.',
      labelNames: ['part', 'outcome'],
      registers,
    });
    this.untrustedProxyHeaders = new Counter({
      name: 'tollgate_untrusted_certificate_headers_total',
      help: 'Client-certificate headers sent by peers that are not trusted proxies (ignored).',
      registers,
    });
    this.rateLimited = new Counter({
      name: 'tollgate_rate_limited_total',
      help: 'Requests refused with 429, by limit.',
      labelNames: ['limit'],
      registers,
    });
    this.rateLimitStoreErrors = new Counter({
      name: 'tollgate_rate_limit_store_errors_total',
      help: 'Rate-limit decisions the store could not make (the request was let through).',
      registers,
    });
    this.legacyAudience = new Counter({
      name: 'tollgate_legacy_audience_accepted_total',
      help: 'Assertions accepted only through a client legacy_audience opt-in.',
      labelNames: ['client_id'],
      registers,
    });
    this.overloaded = new Counter({
      name: 'tollgate_overloaded_total',
      help: 'Requests shed with 503 because the event loop was overloaded.',
      registers,
    });
    this.workloadAuthentications = new Counter({
      name: 'tollgate_workload_authentications_total',
      help: 'Clients authenticated by a workload identity (SPIFFE SVID, federated token), by trust source and client_id.',
      labelNames: ['source', 'client_id'],
      registers,
    });
    new Gauge({
      name: 'tollgate_workload_bundle_up',
      help: "1 when a SPIFFE trust domain's bundle is fresh or stale-but-usable, 0 past its staleness limit (SVIDs fail closed).",
      labelNames: ['source', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { source, state } of options.source().workloadBundles?.() ?? []) {
          this.set({ source, state }, state === 'fresh' || state === 'stale' ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'tollgate_workload_bundle_sequence',
      help: 'spiffe_sequence of the bundle in force, per SPIFFE trust source.',
      labelNames: ['source'],
      registers,
      collect() {
        this.reset();
        for (const { source, sequence } of options.source().workloadBundles?.() ?? []) {
          if (sequence !== undefined) this.set({ source }, sequence);
        }
      },
    });
    this.dependencyStateChanges = new Counter({
      name: 'tollgate_dependency_state_changes_total',
      help: 'Changes of a dependency state (redis down or up); each is also logged once.',
      labelNames: ['dependency', 'state'],
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'tollgate_connections_refused_total',
      help: 'Connections closed at once because their peer address held limits.connectionsPerAddress (or every connection of a full listener had a request in its handler).',
      registers,
    });
    this.connectionsEvicted = new Counter({
      name: 'tollgate_connections_evicted_total',
      help: 'Quiet connections (no request in a handler) closed to take in a new one because the listener held limits.maxConnections.',
      registers,
    });
    const presented = this.#presented;
    new Gauge({
      name: 'tollgate_client_certificate_expiry_seconds',
      help: 'Seconds until a client certificate expires (registered self-signed ones, and the last one each client presented).',
      labelNames: ['client_id', 'source'],
      registers,
      collect() {
        this.reset();
        const at = now();
        for (const { clientId, source, notAfterMs } of options.source().certificateExpiries()) {
          this.set({ client_id: clientId, source }, Math.round((notAfterMs - at) / 1000));
        }
        for (const [clientId, notAfterMs] of presented) {
          this.set(
            { client_id: clientId, source: 'presented' },
            Math.round((notAfterMs - at) / 1000),
          );
        }
      },
    });
    new Gauge({
      name: 'tollgate_jwks_uri_up',
      help: "1 when a client's jwks_uri key set is fresh or stale-but-usable, 0 when it cannot be used.",
      labelNames: ['client_id', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { clientId, state } of options.source().remoteJwksStatus()) {
          this.set({ client_id: clientId, state }, state === 'fresh' || state === 'stale' ? 1 : 0);
        }
      },
    });
  }

  // Hot-path recorders (four per token): counted in plain numbers per label combination (all
  // label values come from closed sets), added to the prom-client metrics when they are read.
  readonly #requestCounts: CounterBatches;
  readonly #authCounts: CounterBatches;
  readonly #issuanceObservations: HistogramBatches;
  readonly #claimObservations: HistogramBatches;

  countRequest(route: string, method: string, status: number): void {
    this.#requestCounts.add(`${route}\0${method}\0${status}`, () => ({
      route,
      method,
      status: String(status),
    }));
  }

  countAuthentication(endpoint: string, method: string, outcome: string, reason: string): void {
    this.#authCounts.add(`${endpoint}\0${method}\0${outcome}\0${reason}`, () => ({
      endpoint,
      method,
      outcome,
      reason,
    }));
  }

  observeIssuance(method: string, seconds: number): void {
    this.#issuanceObservations.observe(method, () => ({ method }), seconds);
  }

  /**
   * Scrapes answer with the metrics of every worker of this server (aggregated by the primary
   * process); returns the function that stops answering the primary's collection requests.
   */
  aggregateAcrossWorkers(): () => void {
    const cluster = clusterMetrics(this.registry);
    this.exposition = cluster.text;
    return cluster.stop;
  }

  observeClaim(outcome: 'claimed' | 'replayed' | 'error', seconds: number): void {
    this.#claimObservations.observe(outcome, () => ({ outcome }), seconds);
  }

  /** Remembers the certificate a client authenticated with, for the expiry gauge. */
  certificatePresented(clientId: string, notAfter: Date): void {
    this.#presented.set(clientId, notAfter.getTime());
  }

  /** Forgets clients that are no longer registered (after a registry reload). */
  retainClients(isRegistered: (clientId: string) => boolean): void {
    for (const clientId of this.#presented.keys())
      if (!isRegistered(clientId)) this.#presented.delete(clientId);
  }
}

const issuanceBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const claimBuckets = [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5];

type LabelValues = Record<string, string>;

/**
 * Increments of a labelled counter, held per label combination and added to it (`inc`, once per
 * combination) when it is read: prom-client's own `inc` validates and hashes the labels on every
 * call (about a microsecond, measured in one process).
 */
class CounterBatches {
  readonly #counter: Counter;
  readonly #batches = new Map<string, { readonly labels: LabelValues; pending: number }>();

  constructor(counter: Counter) {
    this.#counter = counter;
  }

  add(key: string, labels: () => LabelValues): void {
    const batch = this.#batches.get(key);
    if (batch !== undefined) batch.pending++;
    else this.#batches.set(key, { labels: labels(), pending: 1 });
  }

  flush(): void {
    for (const batch of this.#batches.values()) {
      if (batch.pending === 0) continue;
      this.#counter.inc(batch.labels, batch.pending);
      batch.pending = 0;
    }
  }
}

/** prom-client's record of one label combination of a histogram (buckets not cumulative). */
interface HistogramEntry {
  readonly labels: LabelValues;
  readonly bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/**
 * Observations of a labelled histogram, held per label combination as bucket counts, sum and
 * count, and added to prom-client's record of that combination when the histogram is read.
 * prom-client has no call that adds several observations at once, so this writes its record
 * (`hashMap`: one entry per combination, `bucketValues` keyed by upper bound), which
 * test/http/metrics.test.ts checks against prom-client's own `observe` text for text.
 */
class HistogramBatches {
  readonly #histogram: Histogram;
  readonly #bounds: readonly number[];
  readonly #batches = new Map<
    string,
    { readonly labels: LabelValues; readonly buckets: number[]; sum: number; count: number }
  >();

  constructor(histogram: Histogram, bounds: readonly number[]) {
    this.#histogram = histogram;
    this.#bounds = bounds;
  }

  observe(key: string, labels: () => LabelValues, value: number): void {
    if (!Number.isFinite(value)) return;
    let batch = this.#batches.get(key);
    if (batch === undefined) {
      batch = { labels: labels(), buckets: this.#bounds.map(() => 0), sum: 0, count: 0 };
      this.#batches.set(key, batch);
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (batch.buckets[i] as number)++;
        break;
      }
    }
    batch.sum += value;
    batch.count++;
  }

  flush(): void {
    const histogram = this.#histogram as unknown as { hashMap: Record<string, HistogramEntry> };
    for (const batch of this.#batches.values()) {
      if (batch.count === 0) continue;
      let entry = entryOf(histogram.hashMap, batch.labels);
      if (entry === undefined) {
        this.#histogram.zero(batch.labels);
        entry = entryOf(histogram.hashMap, batch.labels);
        if (entry === undefined) throw new TypeError('prom-client histogram record not found');
      }
      for (let i = 0; i < this.#bounds.length; i++) {
        const bound = String(this.#bounds[i]);
        entry.bucketValues[bound] = (entry.bucketValues[bound] ?? 0) + (batch.buckets[i] as number);
        batch.buckets[i] = 0;
      }
      entry.sum += batch.sum;
      entry.count += batch.count;
      batch.sum = 0;
      batch.count = 0;
    }
  }
}

function entryOf(
  hashMap: Record<string, HistogramEntry>,
  labels: LabelValues,
): HistogramEntry | undefined {
  const names = Object.keys(labels);
  return Object.values(hashMap).find(
    (entry) =>
      Object.keys(entry.labels).length === names.length &&
      names.every((name) => entry.labels[name] === labels[name]),
  );
}

/** Wraps a replay store to time its claims and count its failures. */
export function instrumentReplayStore(store: ReplayStore, metrics: TollgateMetrics): ReplayStore {
  return {
    async claim(clientId, jti, expiresAtMs) {
      const started = process.hrtime.bigint();
      const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
      try {
        const claimed = await store.claim(clientId, jti, expiresAtMs);
        metrics.observeClaim(claimed ? 'claimed' : 'replayed', seconds());
        return claimed;
      } catch (error) {
        metrics.observeClaim('error', seconds());
        metrics.replayErrors.inc({ failure: (error as { failure?: string }).failure ?? 'unknown' });
        throw error;
      }
    },
    ready: () => store.ready(),
    close: () => store.close(),
    ...(store.rememberedSinceMs === undefined
      ? {}
      : { rememberedSinceMs: () => store.rememberedSinceMs?.() }),
  };
}
