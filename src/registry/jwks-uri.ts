/**
 * The key set of a client registered with `jwks_uri` (private_key_jwt): fetched over https,
 * bounded in time and size, cached within bounds, refetched once (rate-limited) for an unknown
 * `kid`, and served stale for a bounded time while the client's server is failing.
 *
 * Fetch policy, all enforced here whatever `fetch` is injected:
 * - https only (checked at construction); no credentials in the URL;
 * - no redirects at all (`redirect: 'manual'`, any 3xx is a failure): DESIGN.md §3 forbids
 *   redirects to private addresses, and following none is the simplest rule that cannot be
 *   talked around (DNS rebinding, open redirectors on the client's host);
 * - a timeout over the whole exchange, headers and body (`AbortSignal.timeout`, 3 s);
 * - a size cap enforced while the body streams in (64 KiB): a hostile server cannot make us
 *   buffer more than the cap;
 * - `Content-Type` `application/json` or `application/jwk-set+json` (parameters ignored);
 * - a strict `{"keys": [...]}` shape with at most `maxKeys` objects, then the registry's own
 *   `importKeys` decides whether the keys are acceptable (the cache stores what it returns).
 *
 * The default transport is {@link createHttpsFetch}, built on `node:https` with the system trust
 * store; tests use the same function with a test CA, so the production path is the tested path.
 * Any WHATWG `fetch` (e.g. `globalThis.fetch`) can be injected instead.
 *
 * @see RFC 7591 §2 (`jwks_uri`), RFC 7517 §5, RFC 7523 §3, DESIGN.md §3
 */
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';

/** The subset of WHATWG `fetch` the cache uses; `globalThis.fetch` fits. */
export type JwksFetch = (url: string, init: JwksFetchInit) => Promise<Response>;

export interface JwksFetchInit {
  readonly method: 'GET';
  readonly headers: Record<string, string>;
  readonly redirect: 'manual';
  readonly signal: AbortSignal;
}

/**
 * Why a fetch failed: a closed list, for logs and metrics.
 * - `timeout`: no complete response within `timeoutMs`;
 * - `network`: connection, TLS or protocol failure;
 * - `redirect`: a 3xx answer (redirects are never followed);
 * - `http_status`: any other status than 200;
 * - `content_type`: not `application/json` nor `application/jwk-set+json`;
 * - `too_large`: the body (declared or streamed) exceeds `maxBytes`;
 * - `malformed_json`: not UTF-8 JSON;
 * - `invalid_jwks`: not `{"keys": [objects...]}`, or no keys;
 * - `too_many_keys`: more than `maxKeys` keys;
 * - `invalid_keys`: `importKeys` refused the set.
 */
export type JwksFetchFailure =
  | 'timeout'
  | 'network'
  | 'redirect'
  | 'http_status'
  | 'content_type'
  | 'too_large'
  | 'malformed_json'
  | 'invalid_jwks'
  | 'too_many_keys'
  | 'invalid_keys';

/**
 * A failed `jwks_uri` fetch. The message is safe to log: it never contains the response body,
 * key material or the URL (which may carry a token in its query). `cause`, when set, is the
 * underlying error, for the server's own logs.
 */
export class JwksFetchError extends Error {
  readonly reason: JwksFetchFailure;
  /** The HTTP status, for `redirect` and `http_status`. */
  readonly status: number | undefined;

  constructor(
    reason: JwksFetchFailure,
    message: string,
    options: { readonly status?: number; readonly cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'JwksFetchError';
    this.reason = reason;
    this.status = options.status;
  }
}

/** The documented defaults of {@link RemoteJwksCacheOptions}. */
export const remoteJwksDefaults = Object.freeze({
  /** Whole-exchange timeout. */
  timeoutMs: 3_000,
  /** Largest accepted body. */
  maxBytes: 64 * 1024,
  /** Most keys in one set. */
  maxKeys: 20,
  /** Freshness when the response has no `Cache-Control: max-age`. */
  defaultCacheMs: 5 * 60_000,
  /** Lower clamp of `max-age` (also applies to `no-cache`/`no-store`): at most one fetch a minute. */
  minCacheMs: 60_000,
  /** Upper clamp of `max-age`: a rotated-out key is dropped within the hour. */
  maxCacheMs: 60 * 60_000,
  /** Least time between the last fetch attempt and a refetch for an unknown `kid`. */
  minRefetchIntervalMs: 30_000,
  /** After a failed fetch, no new attempt for this long (the error or the stale set is served). */
  errorBackoffMs: 5_000,
  /** How long past its freshness the last good set is still served while refreshes fail. */
  maxStaleMs: 60 * 60_000,
});

export interface RemoteJwksCacheOptions<T> {
  /** The client's `jwks_uri`; must be https. */
  readonly url: string | URL;
  /**
   * The registry's key validation: turns the parsed set (`{keys: object[]}`, shape already
   * checked) into what the cache stores, or throws if the set is not acceptable.
   */
  readonly importKeys: (jwks: unknown) => T | Promise<T>;
  /** Transport; {@link createHttpsFetch}`()` (node:https, system trust store) by default. */
  readonly fetch?: JwksFetch;
  /** Epoch milliseconds; `Date.now` by default. Timeouts use real timers. */
  readonly clock?: () => number;
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
  readonly maxKeys?: number;
  readonly defaultCacheMs?: number;
  readonly minCacheMs?: number;
  readonly maxCacheMs?: number;
  readonly minRefetchIntervalMs?: number;
  readonly errorBackoffMs?: number;
  readonly maxStaleMs?: number;
  /**
   * What the body must be: `jwks` (default, `{"keys": [1..maxKeys objects]}`) or `object` (any
   * JSON object, e.g. an OpenID discovery document; `importKeys` checks the members).
   */
  readonly document?: 'jwks' | 'object';
  /** Accept `{"keys": []}` (a SPIFFE bundle with no keys revokes every SVID of its domain). */
  readonly allowEmptyKeys?: boolean;
  /**
   * Freshness from the imported value (e.g. a SPIFFE bundle's `spiffe_refresh_hint`), clamped to
   * [minCacheMs, maxCacheMs]; `undefined` falls back to `Cache-Control`.
   */
  readonly cacheMsOf?: (value: T) => number | undefined;
}

/** A snapshot for health checks and metrics; times are epoch milliseconds. */
export interface RemoteJwksStatus {
  /**
   * `empty`: never fetched successfully; `fresh`: within its cache lifetime; `stale`: past it
   * but still served (refresh pending or failing); `expired`: past the stale window, not served.
   */
  readonly state: 'empty' | 'fresh' | 'stale' | 'expired';
  readonly fetching: boolean;
  /** Fetch attempts started since construction. */
  readonly fetches: number;
  readonly lastAttemptAtMs: number | undefined;
  readonly lastSuccessAtMs: number | undefined;
  readonly freshUntilMs: number | undefined;
  readonly staleUntilMs: number | undefined;
  /** The most recent failure, kept after later successes (compare the times). */
  readonly lastError:
    | { readonly reason: JwksFetchFailure; readonly atMs: number; readonly status?: number }
    | undefined;
}

interface Entry<T> {
  readonly value: T;
  readonly fetchedAtMs: number;
  readonly freshUntilMs: number;
}

const acceptedMediaTypes = new Set(['application/json', 'application/jwk-set+json']);

/**
 * A cached, bounded view of one client's remote JWKS.
 *
 * `get()` serves the cached set while fresh; otherwise it fetches (one fetch in flight at a time,
 * shared by all callers). If that fetch fails, the last good set is served until `maxStaleMs`
 * past its freshness, and no new attempt is made for `errorBackoffMs`, so a failing client server
 * costs one timeout per backoff period, not one per request.
 *
 * @see RFC 7523 §3, draft-ietf-oauth-rfc7523bis
 */
export class RemoteJwksCache<T> {
  readonly #url: string;
  readonly #importKeys: (jwks: unknown) => T | Promise<T>;
  readonly #fetch: JwksFetch;
  readonly #clock: () => number;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #maxKeys: number;
  readonly #defaultCacheMs: number;
  readonly #minCacheMs: number;
  readonly #maxCacheMs: number;
  readonly #minRefetchIntervalMs: number;
  readonly #errorBackoffMs: number;
  readonly #maxStaleMs: number;
  readonly #document: 'jwks' | 'object';
  readonly #allowEmptyKeys: boolean;
  readonly #cacheMsOf: ((value: T) => number | undefined) | undefined;

  #entry: Entry<T> | undefined;
  #inflight: Promise<Entry<T>> | undefined;
  #fetches = 0;
  #lastAttemptAtMs: number | undefined;
  #lastError: { readonly error: JwksFetchError; readonly atMs: number } | undefined;
  #retryNotBeforeMs: number | undefined;

  constructor(options: RemoteJwksCacheOptions<T>) {
    this.#url = parseJwksUri(options.url);
    if (typeof options.importKeys !== 'function') {
      throw new TypeError('RemoteJwksCache: importKeys must be a function');
    }
    this.#importKeys = options.importKeys;
    this.#fetch = options.fetch ?? createHttpsFetch();
    this.#clock = options.clock ?? Date.now;
    const d = remoteJwksDefaults;
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs ?? d.timeoutMs);
    this.#maxBytes = positiveInteger('maxBytes', options.maxBytes ?? d.maxBytes);
    this.#maxKeys = positiveInteger('maxKeys', options.maxKeys ?? d.maxKeys);
    this.#minCacheMs = positive('minCacheMs', options.minCacheMs ?? d.minCacheMs);
    this.#maxCacheMs = positive('maxCacheMs', options.maxCacheMs ?? d.maxCacheMs);
    this.#defaultCacheMs = positive('defaultCacheMs', options.defaultCacheMs ?? d.defaultCacheMs);
    if (this.#minCacheMs > this.#defaultCacheMs || this.#defaultCacheMs > this.#maxCacheMs) {
      throw new TypeError('RemoteJwksCache: need minCacheMs <= defaultCacheMs <= maxCacheMs');
    }
    this.#minRefetchIntervalMs = nonNegative(
      'minRefetchIntervalMs',
      options.minRefetchIntervalMs ?? d.minRefetchIntervalMs,
    );
    this.#errorBackoffMs = nonNegative(
      'errorBackoffMs',
      options.errorBackoffMs ?? d.errorBackoffMs,
    );
    this.#maxStaleMs = nonNegative('maxStaleMs', options.maxStaleMs ?? d.maxStaleMs);
    this.#document = options.document ?? 'jwks';
    this.#allowEmptyKeys = options.allowEmptyKeys === true;
    this.#cacheMsOf = options.cacheMsOf;
  }

  /**
   * The client's keys: the cached set while fresh, else a fetch (shared with concurrent callers);
   * the stale set if that fetch fails within the stale window.
   *
   * @throws {JwksFetchError} when there is no set to serve.
   */
  async get(): Promise<T> {
    const now = this.#clock();
    const entry = this.#entry;
    if (entry !== undefined && now < entry.freshUntilMs) return entry.value;
    if (this.#inflight === undefined && this.#inBackoff(now)) {
      if (entry !== undefined && this.#servable(entry, now)) return entry.value;
      throw (this.#lastError as { error: JwksFetchError }).error;
    }
    try {
      return (await this.#refresh()).value;
    } catch (error) {
      // Stale-on-error: a set that was good a short while ago beats failing every client request.
      const last = this.#entry;
      if (last !== undefined && this.#servable(last, this.#clock())) return last.value;
      throw error;
    }
  }

  /**
   * One refetch after an assertion named a `kid` the cached set does not have (key rotation on
   * the client's side). Returns the new set, or `undefined` when a fetch was attempted less than
   * `minRefetchIntervalMs` ago (the caller then answers with the set it has). A fetch already in
   * flight is shared rather than counted against the limit.
   *
   * @throws {JwksFetchError} if the refetch fails; the cached set is kept.
   */
  async refreshForUnknownKid(): Promise<T | undefined> {
    if (this.#inflight !== undefined) return (await this.#inflight).value;
    const now = this.#clock();
    if (
      this.#lastAttemptAtMs !== undefined &&
      now - this.#lastAttemptAtMs < this.#minRefetchIntervalMs
    ) {
      return undefined;
    }
    return (await this.#refresh()).value;
  }

  /** A snapshot for `/readyz` and metrics. */
  status(): RemoteJwksStatus {
    const now = this.#clock();
    const entry = this.#entry;
    let state: RemoteJwksStatus['state'] = 'empty';
    if (entry !== undefined) {
      if (now < entry.freshUntilMs) state = 'fresh';
      else state = this.#servable(entry, now) ? 'stale' : 'expired';
    }
    const lastError = this.#lastError;
    return {
      state,
      fetching: this.#inflight !== undefined,
      fetches: this.#fetches,
      lastAttemptAtMs: this.#lastAttemptAtMs,
      lastSuccessAtMs: entry?.fetchedAtMs,
      freshUntilMs: entry?.freshUntilMs,
      staleUntilMs: entry === undefined ? undefined : entry.freshUntilMs + this.#maxStaleMs,
      lastError:
        lastError === undefined
          ? undefined
          : {
              reason: lastError.error.reason,
              atMs: lastError.atMs,
              ...(lastError.error.status === undefined ? {} : { status: lastError.error.status }),
            },
    };
  }

  #servable(entry: Entry<T>, now: number): boolean {
    return now < entry.freshUntilMs + this.#maxStaleMs;
  }

  #inBackoff(now: number): boolean {
    return this.#retryNotBeforeMs !== undefined && now < this.#retryNotBeforeMs;
  }

  /** Single flight: every caller during a fetch shares it. */
  #refresh(): Promise<Entry<T>> {
    if (this.#inflight !== undefined) return this.#inflight;
    this.#lastAttemptAtMs = this.#clock();
    this.#fetches++;
    const flight = this.#load().then(
      ({ value, cacheMs }) => {
        const at = this.#clock();
        const entry: Entry<T> = { value, fetchedAtMs: at, freshUntilMs: at + cacheMs };
        this.#entry = entry;
        this.#retryNotBeforeMs = undefined;
        return entry;
      },
      (cause: unknown) => {
        const error =
          cause instanceof JwksFetchError
            ? cause
            : new JwksFetchError('network', 'The JWKS fetch failed.', { cause });
        const at = this.#clock();
        this.#lastError = { error, atMs: at };
        this.#retryNotBeforeMs = at + this.#errorBackoffMs;
        throw error;
      },
    );
    const settled = flight.finally(() => {
      this.#inflight = undefined;
    });
    this.#inflight = settled;
    return settled;
  }

  async #load(): Promise<{ value: T; cacheMs: number }> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    try {
      response = await this.#fetch(this.#url, {
        method: 'GET',
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'manual',
        signal,
      });
    } catch (cause) {
      throw transportError(signal, cause);
    }

    let bodyUsed = false;
    try {
      const status = response.status;
      if (response.type === 'opaqueredirect' || (status >= 300 && status < 400)) {
        throw new JwksFetchError(
          'redirect',
          `The JWKS server answered a redirect (${status}); redirects are not followed.`,
          { status },
        );
      }
      if (status !== 200) {
        throw new JwksFetchError('http_status', `The JWKS server answered HTTP ${status}.`, {
          status,
        });
      }
      const mediaType = (response.headers.get('content-type') ?? '')
        .split(';')[0]
        ?.trim()
        .toLowerCase();
      if (mediaType === undefined || !acceptedMediaTypes.has(mediaType)) {
        throw new JwksFetchError(
          'content_type',
          'The JWKS response is not application/json or application/jwk-set+json.',
        );
      }
      const declaredLength = response.headers.get('content-length');
      if (
        declaredLength !== null &&
        /^\d+$/.test(declaredLength.trim()) &&
        Number(declaredLength) > this.#maxBytes
      ) {
        throw tooLarge(this.#maxBytes);
      }
      bodyUsed = true;
      const bytes = await readCapped(response, this.#maxBytes, signal);
      const jwks =
        this.#document === 'object'
          ? parseJsonObject(bytes)
          : parseJwks(bytes, this.#maxKeys, this.#allowEmptyKeys);
      let value: T;
      try {
        value = await this.#importKeys(jwks);
      } catch (cause) {
        throw new JwksFetchError(
          'invalid_keys',
          'The JWKS contains a key that is not acceptable.',
          { cause },
        );
      }
      const hintMs = this.#cacheMsOf?.(value);
      return {
        value,
        cacheMs:
          hintMs !== undefined && Number.isFinite(hintMs)
            ? Math.min(this.#maxCacheMs, Math.max(this.#minCacheMs, hintMs))
            : cacheLifetimeMs(response.headers.get('cache-control'), {
                defaultMs: this.#defaultCacheMs,
                minMs: this.#minCacheMs,
                maxMs: this.#maxCacheMs,
              }),
      };
    } finally {
      // Free the connection when we did not read the body (redirect, bad status, bad type).
      if (!bodyUsed && response.body !== null && !response.bodyUsed) {
        response.body.cancel().catch(() => {});
      }
    }
  }
}

/**
 * A {@link JwksFetch} on `node:https`: no redirects (node:https never follows them), the system
 * trust store unless `ca` is given. The default transport of {@link RemoteJwksCache}.
 */
export function createHttpsFetch(
  options: { readonly ca?: string | Buffer | readonly (string | Buffer)[] } = {},
): JwksFetch {
  const ca =
    options.ca === undefined
      ? undefined
      : typeof options.ca === 'string' || Buffer.isBuffer(options.ca)
        ? options.ca
        : [...options.ca];
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new TypeError('createHttpsFetch: only https URLs are fetched'));
        return;
      }
      const req = httpsRequest(
        target,
        {
          method: init.method,
          headers: init.headers,
          signal: init.signal,
          ...(ca === undefined ? {} : { ca }),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) {
            res.destroy();
            reject(new Error(`unexpected HTTP status ${status}`));
            return;
          }
          const headers = new Headers();
          const raw = res.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) {
            try {
              headers.append(raw[i] as string, raw[i + 1] as string);
            } catch {
              // A header the Fetch spec refuses is dropped, as a browser would.
            }
          }
          const nullBody = status === 204 || status === 205 || status === 304;
          if (nullBody) res.resume();
          const body = nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
          resolve(
            new Response(body as ConstructorParameters<typeof Response>[0], { status, headers }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
}

/** Checks a `jwks_uri` and returns it without fragment. Misconfiguration is a `TypeError`. */
function parseJwksUri(input: string | URL): string {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new TypeError('RemoteJwksCache: jwks_uri is not a valid absolute URL');
  }
  if (url.protocol !== 'https:') {
    throw new TypeError('RemoteJwksCache: jwks_uri must use https');
  }
  if (url.username !== '' || url.password !== '') {
    throw new TypeError('RemoteJwksCache: jwks_uri must not contain credentials');
  }
  url.hash = '';
  return url.href;
}

/** Reads the body, failing as soon as it passes `maxBytes` (never buffers more than the cap). */
async function readCapped(
  response: Response,
  maxBytes: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  // Some transports stop honouring the signal once headers are in; cancel the read ourselves.
  const onAbort = (): void => {
    reader.cancel().catch(() => {});
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        reader.cancel().catch(() => {});
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  } catch (cause) {
    if (cause instanceof JwksFetchError) throw cause;
    throw transportError(signal, cause);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  // A cancelled read ends like a complete one: only the signal tells a cut-off body apart.
  if (signal.aborted) throw transportError(signal, signal.reason);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Any JSON object (a discovery document); its members are `importKeys`'s job. */
function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new JwksFetchError('malformed_json', 'The JWKS response is not valid UTF-8 JSON.', {
      cause,
    });
  }
  if (!isObject(parsed)) {
    throw new JwksFetchError('invalid_jwks', 'The JWKS is not a JSON object.');
  }
  return parsed;
}

/**
 * Strict shape: `{"keys": [object, ...]}`, 1 to `maxKeys` keys (0 allowed with `allowEmpty`).
 * Key contents are `importKeys`'s job.
 */
function parseJwks(bytes: Uint8Array, maxKeys: number, allowEmpty: boolean): unknown {
  const parsed = parseJsonObject(bytes);
  const keys: unknown = parsed.keys;
  if (!Array.isArray(keys)) {
    throw new JwksFetchError('invalid_jwks', 'The JWKS has no "keys" array.');
  }
  if (keys.length === 0 && !allowEmpty) {
    throw new JwksFetchError('invalid_jwks', 'The JWKS "keys" array is empty.');
  }
  if (keys.length > maxKeys) {
    throw new JwksFetchError('too_many_keys', `The JWKS has more than ${maxKeys} keys.`);
  }
  if (!keys.every(isObject)) {
    throw new JwksFetchError('invalid_jwks', 'A JWKS "keys" entry is not a JSON object.');
  }
  return parsed;
}

/**
 * Freshness from `Cache-Control`: `max-age` (the smallest if repeated), `no-cache`/`no-store` as
 * zero, clamped to [minMs, maxMs]; `defaultMs` without either.
 */
export function cacheLifetimeMs(
  cacheControl: string | null,
  bounds: { readonly defaultMs: number; readonly minMs: number; readonly maxMs: number },
): number {
  let maxAgeSeconds: number | undefined;
  for (const part of (cacheControl ?? '').split(',')) {
    const directive = part.trim().toLowerCase();
    let seconds: number | undefined;
    if (directive === 'no-cache' || directive === 'no-store') seconds = 0;
    else {
      const match = /^max-age\s*=\s*"?(\d{1,10})"?$/.exec(directive);
      if (match !== null) seconds = Number(match[1]);
    }
    if (seconds !== undefined) maxAgeSeconds = Math.min(maxAgeSeconds ?? seconds, seconds);
  }
  if (maxAgeSeconds === undefined) return bounds.defaultMs;
  return Math.min(bounds.maxMs, Math.max(bounds.minMs, maxAgeSeconds * 1_000));
}

function transportError(signal: AbortSignal, cause: unknown): JwksFetchError {
  if (signal.aborted) {
    return new JwksFetchError('timeout', 'The JWKS fetch timed out.', { cause });
  }
  return new JwksFetchError('network', 'The JWKS could not be fetched.', { cause });
}

function tooLarge(maxBytes: number): JwksFetchError {
  return new JwksFetchError('too_large', `The JWKS response exceeds ${maxBytes} bytes.`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`RemoteJwksCache: ${name} must be a positive number`);
  }
  return value;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`RemoteJwksCache: ${name} must be a positive integer`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`RemoteJwksCache: ${name} must be a non-negative number`);
  }
  return value;
}
