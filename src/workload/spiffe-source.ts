/**
 * A `spiffe` trust source: one trust domain and its bundle, from a SPIFFE bundle endpoint
 * (`https_web` profile: the endpoint's server certificate is checked against the Web PKI or the
 * configured CA, never the bundle itself) or from a bundle file.
 *
 * Endpoint: fetched with the client `jwks_uri` machinery (RemoteJwksCache: https only, no
 * redirects, timeout, 64 KiB cap, single flight), fresh for `spiffe_refresh_hint` seconds (the
 * configured default when absent, clamped to 1 min..1 h). A failed poll keeps the last good
 * bundle; so does a bundle whose `spiffe_sequence` is lower than the one in force (a rollback).
 * Past `maxStalenessSeconds` beyond its freshness, the last bundle is no longer used and every
 * SVID of the domain fails closed (`temporarily_unavailable`) until a poll succeeds.
 *
 * @see SPIFFE Federation §5 (bundle endpoint, https_web), SPIFFE Trust Domain and Bundle §4,
 *   draft-ietf-oauth-spiffe-client-auth §6 (key distribution)
 */
import { readFileSync } from 'node:fs';
import type { TrustStoreOptions } from '../pki/index.js';
import { createHttpsFetch, type JwksFetch, RemoteJwksCache } from '../registry/jwks-uri.js';
import { BundleError, maxBundleKeys, parseSpiffeBundle, type SpiffeBundle } from './bundle.js';
import { WorkloadSourceUnavailable } from './errors.js';
import { WatchedFile } from './file-watch.js';
import type { WorkloadTokenPolicy } from './policy.js';

export interface SpiffeSourceOptions {
  readonly name: string;
  readonly trustDomain: string;
  readonly policy: WorkloadTokenPolicy;
  /** Exactly one of `bundleEndpointUrl` and `bundleFile`. */
  readonly bundleEndpointUrl?: string | undefined;
  readonly bundleFile?: string | undefined;
  /** PEM CA(s) for the endpoint's server certificate; the system store when absent. */
  readonly caPem?: string | undefined;
  readonly defaultRefreshHintSeconds: number;
  readonly maxStalenessSeconds: number;
  /** Whole-exchange timeout of an endpoint fetch (`remoteJwks.timeoutMs`); 3 s when absent. */
  readonly timeoutMs?: number | undefined;
  readonly trustStoreOptions?: TrustStoreOptions;
  readonly clock?: () => number;
  /** Transport for the endpoint (default: node:https with `caPem` or the system store). */
  readonly fetch?: JwksFetch;
  /** How often a bundle file is checked for changes. */
  readonly fileCheckIntervalMs?: number;
  /** Keep the bundle warm with a background poll (default true; unref'd). */
  readonly poll?: boolean;
  readonly onError?: (error: unknown) => void;
}

/** Health of one source, for metrics. */
export interface SpiffeSourceStatus {
  readonly state: 'empty' | 'fresh' | 'stale' | 'expired';
  readonly sequence: number | undefined;
  readonly lastSuccessAtMs: number | undefined;
  readonly jwtKeys: number;
  readonly x509Authorities: number;
}

/**
 * The bundle of one trust domain.
 *
 * @see draft-ietf-oauth-spiffe-client-auth §6: bundles keyed by trust domain, configured out of band
 */
export class SpiffeTrustSource {
  readonly kind = 'spiffe' as const;
  readonly name: string;
  readonly trustDomain: string;
  readonly policy: WorkloadTokenPolicy;
  readonly #remote: RemoteJwksCache<SpiffeBundle> | undefined;
  readonly #file: WatchedFile<SpiffeBundle> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  #last: SpiffeBundle | undefined;

  constructor(options: SpiffeSourceOptions) {
    this.name = options.name;
    this.trustDomain = options.trustDomain;
    this.policy = options.policy;
    const clock = options.clock ?? Date.now;
    const storeOptions = options.trustStoreOptions ?? {};
    if ((options.bundleEndpointUrl === undefined) === (options.bundleFile === undefined)) {
      throw new TypeError(`${options.name}: configure exactly one of a bundle endpoint or file`);
    }
    const parse = (document: unknown): SpiffeBundle => {
      const bundle = parseSpiffeBundle(document, this.trustDomain, storeOptions);
      const current = this.#last?.sequence;
      if (current !== undefined && bundle.sequence !== undefined && bundle.sequence < current) {
        throw new BundleError(
          `spiffe_sequence went back from ${current} to ${bundle.sequence}: keeping the newer bundle`,
        );
      }
      this.#last = bundle;
      return bundle;
    };
    if (options.bundleFile !== undefined) {
      const file = options.bundleFile;
      this.#file = new WatchedFile({
        path: file,
        parse: (text) => parse(JSON.parse(text) as unknown),
        clock,
        intervalMs: options.fileCheckIntervalMs ?? 1000,
        ...(options.onError === undefined ? {} : { onError: options.onError }),
      });
      return;
    }
    const hintMs = options.defaultRefreshHintSeconds * 1000;
    const minCacheMs = 60_000;
    const maxCacheMs = 3_600_000;
    this.#remote = new RemoteJwksCache<SpiffeBundle>({
      url: options.bundleEndpointUrl as string,
      importKeys: parse,
      fetch:
        options.fetch ?? createHttpsFetch(options.caPem === undefined ? {} : { ca: options.caPem }),
      clock,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      allowEmptyKeys: true,
      maxKeys: maxBundleKeys,
      minCacheMs,
      maxCacheMs,
      defaultCacheMs: Math.min(maxCacheMs, Math.max(minCacheMs, hintMs)),
      cacheMsOf: (bundle) =>
        bundle.refreshHintSeconds === undefined ? hintMs : bundle.refreshHintSeconds * 1000,
      maxStaleMs: options.maxStalenessSeconds * 1000,
      // A refetch for an unknown kid is one more poll: bounded like client jwks_uri refetches.
      minRefetchIntervalMs: 30_000,
    });
    if (options.poll !== false) {
      const remote = this.#remote;
      const every = Math.min(60_000, Math.max(5_000, hintMs / 2));
      this.#timer = setInterval(() => {
        remote.get().catch((error: unknown) => options.onError?.(error));
      }, every);
      this.#timer.unref();
      remote.get().catch((error: unknown) => options.onError?.(error));
    }
  }

  /**
   * The bundle in force.
   *
   * @throws WorkloadSourceUnavailable when the endpoint has not answered within the staleness
   *   limit (or never has).
   */
  async bundle(): Promise<SpiffeBundle> {
    if (this.#file !== undefined) return this.#file.get();
    try {
      return await (this.#remote as RemoteJwksCache<SpiffeBundle>).get();
    } catch (error) {
      throw new WorkloadSourceUnavailable(
        this.name,
        `no usable bundle for trust domain ${this.trustDomain}`,
        { cause: error },
      );
    }
  }

  /** One extra poll for a JWT-SVID whose `kid` the bundle lacks (rate-limited; file: no-op). */
  async refreshForUnknownKid(): Promise<SpiffeBundle | undefined> {
    if (this.#remote === undefined) return undefined;
    try {
      return await this.#remote.refreshForUnknownKid();
    } catch {
      return undefined;
    }
  }

  status(): SpiffeSourceStatus {
    const remote = this.#remote?.status();
    const bundle = this.#file !== undefined ? this.#file.get() : this.#last;
    return {
      state: remote?.state ?? 'fresh',
      sequence: bundle?.sequence,
      lastSuccessAtMs: remote?.lastSuccessAtMs,
      jwtKeys: bundle?.jwtKeys.length ?? 0,
      x509Authorities: bundle?.x509Authorities?.anchors.length ?? 0,
    };
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
  }
}

/** Reads a PEM file named in the configuration (the CA of a private endpoint). */
export function readCaFile(path: string | null): string | undefined {
  return path === null ? undefined : readFileSync(path, 'utf8');
}
