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
    });
    this.clientAuth = new Counter({
      name: 'tollgate_client_authentications_total',
      help: 'Client authentication outcomes by endpoint, method and reason code.',
      labelNames: ['endpoint', 'method', 'outcome', 'reason'],
      registers,
    });
    this.tokenIssuance = new Histogram({
      name: 'tollgate_token_issuance_seconds',
      help: 'Time to handle a successful token request, by client authentication method.',
      labelNames: ['method'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.replayClaims = new Histogram({
      name: 'tollgate_replay_store_claim_seconds',
      help: 'Replay store claim latency, by outcome (claimed, replayed, error).',
      labelNames: ['outcome'],
      buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers,
    });
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

  // Hot-path recorders: labelled children are looked up once per label combination (all label
  // values come from closed sets), not hashed on every request.
  readonly #requestChildren = new Map<string, { inc(): void }>();
  readonly #authChildren = new Map<string, { inc(): void }>();
  readonly #issuanceChildren = new Map<string, { observe(value: number): void }>();
  readonly #claimChildren = new Map<string, { observe(value: number): void }>();

  countRequest(route: string, method: string, status: number): void {
    const key = `${route}\0${method}\0${status}`;
    let child = this.#requestChildren.get(key);
    if (child === undefined) {
      child = this.httpRequests.labels(route, method, String(status));
      this.#requestChildren.set(key, child);
    }
    child.inc();
  }

  countAuthentication(endpoint: string, method: string, outcome: string, reason: string): void {
    const key = `${endpoint}\0${method}\0${outcome}\0${reason}`;
    let child = this.#authChildren.get(key);
    if (child === undefined) {
      child = this.clientAuth.labels(endpoint, method, outcome, reason);
      this.#authChildren.set(key, child);
    }
    child.inc();
  }

  observeIssuance(method: string, seconds: number): void {
    let child = this.#issuanceChildren.get(method);
    if (child === undefined) {
      child = this.tokenIssuance.labels(method);
      this.#issuanceChildren.set(method, child);
    }
    child.observe(seconds);
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
    let child = this.#claimChildren.get(outcome);
    if (child === undefined) {
      child = this.replayClaims.labels(outcome);
      this.#claimChildren.set(outcome, child);
    }
    child.observe(seconds);
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
