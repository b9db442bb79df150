/**
 * TokenClient: access tokens for a machine client, with private_key_jwt or mutual TLS, cached per
 * (scope, resource), renewed ahead of expiry, one request for any number of concurrent callers,
 * retried only when retrying can help, and used over the same TLS identity the token is bound to.
 *
 * @see RFC 6749 §4.4 (client credentials), RFC 7523 §2.2 and draft-ietf-oauth-rfc7523bis
 *      (assertions), RFC 8705 (mutual TLS, bound tokens), RFC 8414 (discovery), RFC 8707
 *      (resource indicators), RFC 6750 §2.1 (Bearer)
 */
import { createPrivateKey, KeyObject, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Headers, type RequestInit, type Response, fetch as undiciFetch } from 'undici';
import { DpopSigner } from '../dpop/index.js';
import { generateKeyPairFor } from '../jws/keygen.js';
import { createClientAssertion, jwtBearerAssertionType } from './assertion.js';
import { parseChallenges } from './challenges.js';
import {
  type SigningKeyInput,
  SigningKeySource,
  type TlsMaterial,
  TlsMaterialSource,
  TokenFileSource,
} from './credentials.js';
import {
  type AuthorizationServerMetadata,
  assertHttpsUrl,
  discover,
  type HeldMetadata,
} from './discovery.js';
import { TokenClientError } from './errors.js';
import { ResponseTooLargeError } from './http.js';
import {
  type AttemptFailure,
  isReplayRejection,
  isRetryable,
  type RetryPolicy,
  resolveRetryPolicy,
  retryDelayMs,
} from './retry.js';
import { nonceOf, sendTokenRequest, type TokenResult, type TokenSuccess } from './token-request.js';

/**
 * DPoP (RFC 9449): sender-constrained tokens without a client certificate. The key is the path of
 * a private JWK file, a private JWK, or a KeyObject; `true` generates a P-256 key in memory for
 * this client's lifetime (tokens bound to it die with the process, which is often what you want).
 */
export type DpopKeyInput = string | Readonly<Record<string, unknown>> | KeyObject | true;

export interface DpopClientOptions {
  readonly key: DpopKeyInput;
  /** Proof algorithm; default ES256 for P-256 (ES384/ES512 for larger curves), EdDSA, PS256. */
  readonly alg?: string;
  /**
   * Accept a `token_type: Bearer` answer to a DPoP token request (a server that does not
   * DPoP-bind, RFC 9449 §5) and use that token as a Bearer token. Default false: such an answer
   * is refused with `invalid_response`, since a client that configured DPoP deems its protection
   * important, and RFC 9449 §5 says the client MUST then discard the response.
   */
  readonly allowBearer?: boolean;
}

/** private_key_jwt; with `certFile`/`keyFile` the TLS connection also presents a certificate, which binds the token (RFC 8705 §3). */
export interface PrivateKeyJwtAuth {
  readonly method: 'private_key_jwt';
  readonly clientId: string;
  /** Private JWK, imported key, or the path of a private JWK file (re-read when it changes). */
  readonly key: SigningKeyInput;
  /** JWS algorithm; default the JWK's `alg` (required for imported keys). */
  readonly alg?: string;
  /** `kid` header; default the JWK's `kid`. */
  readonly kid?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/**
 * RFC 8705 §2.1 (PKI) or §2.2 (self-signed) mutual-TLS client authentication, or an X.509-SVID
 * (`spiffe_x509`, draft-ietf-oauth-spiffe-client-auth §3.2): the SVID and its key as the files.
 */
export interface MtlsAuth {
  readonly method: 'tls_client_auth' | 'self_signed_tls_client_auth' | 'spiffe_x509';
  readonly clientId: string;
  /** PEM client certificate, optionally followed by intermediates; re-read when it changes. */
  readonly certFile: string;
  /** PEM private key of the certificate; re-read when it changes. */
  readonly keyFile: string;
}

/**
 * A workload token from a file, re-read whenever it changes: a JWT-SVID (`spiffe_jwt`, sent as a
 * `jwt-spiffe` assertion) or a Kubernetes service-account token (`federated_jwt`, sent as a
 * `jwt-bearer` assertion). Its `aud` must be the issuer. With `certFile`/`keyFile` the TLS
 * connection also presents a certificate, which binds the token.
 *
 * @see draft-ietf-oauth-spiffe-client-auth §3.1, RFC 7523 §2.2
 */
export interface WorkloadTokenAuth {
  readonly method: 'spiffe_jwt' | 'federated_jwt';
  readonly clientId: string;
  readonly tokenFile: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export type ClientAuthentication = PrivateKeyJwtAuth | MtlsAuth | WorkloadTokenAuth;

/** @see draft-ietf-oauth-spiffe-client-auth §3.1 */
export const jwtSpiffeAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';

/** When a cached token is renewed. */
export interface RefreshPolicy {
  /** Renew once this fraction of the lifetime has passed (before jitter). Default 0.8. */
  readonly ratio: number;
  /** Renew up to this fraction of the lifetime earlier, at random, per token. Default 0.1. */
  readonly jitterRatio: number;
  /** Never hand out a token with less than this left; wait for a new one. Default 5 s. */
  readonly minValiditySeconds: number;
}

export interface TokenClientOptions {
  /**
   * The issuer identifier. Without `tokenEndpoint`, the endpoint is discovered from its RFC 8414
   * metadata (whose `issuer` must be identical). Always the `aud` of client assertions.
   */
  readonly issuer?: string;
  /** An explicit token endpoint: no discovery. private_key_jwt still needs `issuer` (for `aud`). */
  readonly tokenEndpoint?: string;
  readonly auth: ClientAuthentication;
  /**
   * Ask for DPoP-bound tokens (RFC 9449): every token request and every `fetch` carries a proof
   * signed with this key, and tokens are cached per key. One retry on `use_dpop_nonce`.
   */
  readonly dpop?: DpopClientOptions;
  /** Extra trust anchors (PEM) for server certificates, beside Node's defaults. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** A PEM file of extra trust anchors; re-read when it changes. */
  readonly caFile?: string;
  /** Default `scope` of getToken() (space-separated or a list). */
  readonly scope?: string | readonly string[];
  /** Default RFC 8707 `resource` values of getToken(). */
  readonly resource?: string | readonly string[];
  readonly refresh?: Partial<RefreshPolicy>;
  readonly retry?: Partial<RetryPolicy>;
  /** Assertion lifetime, 1 to 60 s (rfc7523bis asks for short-lived assertions). Default 60. */
  readonly assertionLifetimeSeconds?: number;
  /**
   * The lifetime assumed for a token whose response has no `expires_in` (or one that is not a
   * non-negative number), 1 to 86400 s. Default 60. RFC 6749 §5.1 makes `expires_in`
   * RECOMMENDED and asks a server that omits it to document its default: set that here. The
   * token itself is never read for an `exp` (RFC 9068 §6: it is opaque to the client). A short
   * default errs towards an extra token request rather than a token the API refuses; `fetch()`
   * renews once on `invalid_token` either way. Tollgate always sends `expires_in`.
   *
   * @see RFC 6749 §5.1
   */
  readonly defaultTokenLifetimeSeconds?: number;
  /**
   * Per HTTP request of the SDK (metadata, token), from connecting to the last byte of the
   * answer; also the connect timeout of API calls through fetch(). Default 10 s.
   */
  readonly timeoutMs?: number;
  /** Certificate and CA files are checked at every token request and at most this often otherwise. Default 5 s. */
  readonly fileCheckIntervalMs?: number;
  /**
   * Metadata is revalidated after this long, with `If-None-Match` when it came with an `ETag`
   * (a 304 keeps it for another period). Default 1 hour. @see RFC 9110 §13.1.2
   */
  readonly discoveryTtlSeconds?: number;
  /** Token sets kept at most (one per scope and resource combination). Default 100. */
  readonly maxCacheEntries?: number;
  /** Largest response accepted from the server. Default 1 MiB. */
  readonly maxResponseBytes?: number;
  /** Wall clock in epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Waits between retries. Default a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1), for jitter. Default Math.random. */
  readonly random?: () => number;
  /** Assertion `jti` values. Default random UUIDs. */
  readonly randomId?: () => string;
  /** Credentials that changed but could not be loaded (the previous ones stay in use), and similar. */
  readonly onWarning?: (message: string, error: unknown) => void;
}

export interface GetTokenOptions {
  /** Overrides the client's default scope. */
  readonly scope?: string | readonly string[];
  /** Overrides the client's default resources. */
  readonly resource?: string | readonly string[];
  /** Ignore a cached token (still joins a request already in flight). */
  readonly forceRefresh?: boolean;
}

/**
 * The longest lifetime the client believes (`expires_in` beyond it is cut to it): one year, far
 * past any access token's, and a finite expiry, so a token is always renewed at some point.
 */
export const maxExpiresInSeconds = 365 * 86_400;

/** An access token, as the SDK holds it. */
export interface AccessToken {
  readonly accessToken: string;
  /** `DPoP` for a DPoP-bound token (sent with a proof), `Bearer` otherwise. */
  readonly tokenType: 'Bearer' | 'DPoP';
  /** RFC 7638 thumbprint of the DPoP key the token is bound to (`cnf.jkt`). */
  readonly dpopJkt: string | undefined;
  /** Local epoch ms at which the token expires (`expires_in` from when the request was sent). */
  readonly expiresAtMs: number;
  /** The `scope` granted, when the server said. */
  readonly scope: string | undefined;
  /** `x5t#S256` of the certificate presented when the token was issued: what it is bound to. */
  readonly certificateThumbprint: string | undefined;
  /** The token response, as parsed JSON. */
  readonly response: Readonly<Record<string, unknown>>;
}

interface CacheEntry {
  readonly token: AccessToken;
  readonly material: TlsMaterial;
  /** Pushed back after a failed renewal, so callers do not hammer a failing server. */
  refreshAtMs: number;
  readonly usableUntilMs: number;
}

interface Failure extends AttemptFailure {
  readonly description: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly cause?: unknown;
}

interface TokenParams {
  readonly key: string;
  readonly scope: string | undefined;
  readonly resources: readonly string[];
}

const defaultRefresh: RefreshPolicy = { ratio: 0.8, jitterRatio: 0.1, minValiditySeconds: 5 };
// The Date header counts whole seconds: a smaller apparent offset is that rounding plus latency.
const clockOffsetNoiseMs = 1_000;
// After a failed renewal, the next one waits this long (or half the remaining validity).
const renewalPauseMs = 30_000;

/**
 * Gets, caches and renews access tokens with the client credentials grant.
 *
 * @see RFC 6749 §4.4, RFC 7523 §2.2, RFC 8705, RFC 8414, RFC 8707
 */
export class TokenClient {
  readonly #issuer: string | undefined;
  readonly #tokenEndpoint: string | undefined;
  readonly #auth: ClientAuthentication;
  readonly #tls: TlsMaterialSource;
  readonly #signingKey: SigningKeySource | undefined;
  readonly #tokenFile: TokenFileSource | undefined;
  readonly #defaults: { scope: string | undefined; resources: readonly string[] };
  readonly #refresh: RefreshPolicy;
  readonly #retry: RetryPolicy;
  readonly #assertionLifetimeSeconds: number;
  readonly #defaultTokenLifetimeSeconds: number;
  #warnedNoExpiresIn = false;
  readonly #timeoutMs: number;
  readonly #discoveryTtlMs: number;
  readonly #maxCacheEntries: number;
  readonly #maxResponseBytes: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #randomId: () => string;
  readonly #onWarning: (message: string, error: unknown) => void;
  readonly #dpop: DpopSigner | undefined;
  readonly #dpopAllowsBearer: boolean;
  /**
   * The last `DPoP-Nonce` of each server, keyed by role and origin (see {@link nonceServer});
   * bounded like the token cache. @see RFC 9449 §8, §9
   */
  readonly #dpopNonces = new Map<string, string>();

  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<CacheEntry>>();
  /** When fetch() last renewed a token because the API said invalid_token, per cache key. */
  readonly #rejectedAtMs = new Map<string, number>();
  /** The validated metadata, its ETag (for If-None-Match), and when it was last fetched or revalidated. */
  #metadata: (HeldMetadata & { fetchedAtMs: number }) | undefined;
  #discovering: Promise<AuthorizationServerMetadata> | undefined;
  #clockOffsetMs = 0;
  #requests = 0;

  constructor(options: TokenClientOptions) {
    const { issuer, tokenEndpoint, auth } = options;
    if (issuer === undefined && tokenEndpoint === undefined)
      throw new TypeError('TokenClient: give issuer (for discovery) or tokenEndpoint');
    if (issuer !== undefined) assertHttpsUrl(issuer, 'issuer');
    if (tokenEndpoint !== undefined) assertHttpsUrl(tokenEndpoint, 'tokenEndpoint');
    if (typeof auth?.clientId !== 'string' || auth.clientId === '')
      throw new TypeError('TokenClient: auth.clientId is required');
    if (auth.method === 'private_key_jwt') {
      // rfc7523bis: the audience is the issuer identifier, never the endpoint URL.
      if (issuer === undefined)
        throw new TypeError('TokenClient: private_key_jwt needs issuer, the assertion audience');
    } else if (auth.method === 'spiffe_jwt' || auth.method === 'federated_jwt') {
      if (typeof auth.tokenFile !== 'string' || auth.tokenFile === '')
        throw new TypeError(`TokenClient: ${auth.method} needs tokenFile`);
    } else if (
      auth.method !== 'tls_client_auth' &&
      auth.method !== 'self_signed_tls_client_auth' &&
      auth.method !== 'spiffe_x509'
    ) {
      throw new TypeError(
        `TokenClient: unsupported auth.method ${String((auth as { method: unknown }).method)}`,
      );
    }
    this.#issuer = issuer;
    this.#tokenEndpoint = tokenEndpoint;
    this.#auth = auth;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#randomId = options.randomId ?? randomUUID;
    this.#onWarning = options.onWarning ?? (() => undefined);
    this.#timeoutMs = positive(options.timeoutMs ?? 10_000, 'timeoutMs');
    this.#discoveryTtlMs =
      positive(options.discoveryTtlSeconds ?? 3600, 'discoveryTtlSeconds') * 1000;
    this.#maxCacheEntries = positive(options.maxCacheEntries ?? 100, 'maxCacheEntries');
    this.#maxResponseBytes = positive(options.maxResponseBytes ?? 1024 * 1024, 'maxResponseBytes');
    const lifetime = options.assertionLifetimeSeconds ?? 60;
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 60)
      throw new TypeError('TokenClient: assertionLifetimeSeconds must be an integer from 1 to 60');
    this.#assertionLifetimeSeconds = lifetime;
    const assumed = options.defaultTokenLifetimeSeconds ?? 60;
    if (!Number.isInteger(assumed) || assumed < 1 || assumed > 86_400)
      throw new TypeError(
        'TokenClient: defaultTokenLifetimeSeconds must be an integer from 1 to 86400',
      );
    this.#defaultTokenLifetimeSeconds = assumed;
    this.#refresh = { ...defaultRefresh, ...options.refresh };
    const { ratio, jitterRatio, minValiditySeconds } = this.#refresh;
    if (
      !(ratio > 0 && ratio <= 1) ||
      !(jitterRatio >= 0 && jitterRatio < ratio) ||
      !(minValiditySeconds >= 0)
    )
      throw new TypeError(
        'TokenClient: refresh needs 0 < ratio <= 1, 0 <= jitterRatio < ratio, minValiditySeconds >= 0',
      );
    this.#retry = resolveRetryPolicy(options.retry);
    this.#defaults = {
      scope: normalizeScope(options.scope),
      resources: normalizeResources(options.resource),
    };
    const warn = (error: unknown) =>
      this.#onWarning(
        'changed credential files could not be loaded; keeping the previous ones',
        error,
      );
    this.#tls = new TlsMaterialSource({
      certFile: auth.certFile,
      keyFile: auth.keyFile,
      caFile: options.caFile,
      ca: options.ca,
      now: this.#now,
      checkIntervalMs: options.fileCheckIntervalMs ?? 5_000,
      connectTimeoutMs: this.#timeoutMs,
      onReloadError: warn,
    });
    const assertionMethod =
      auth.method === 'private_key_jwt' ||
      auth.method === 'spiffe_jwt' ||
      auth.method === 'federated_jwt';
    if (!assertionMethod && !this.#tls.hasCertificate)
      throw new TypeError(`TokenClient: ${auth.method} needs certFile and keyFile`);
    this.#signingKey =
      auth.method === 'private_key_jwt' ? new SigningKeySource(auth.key, warn) : undefined;
    this.#dpop =
      options.dpop === undefined
        ? undefined
        : new DpopSigner(dpopKeyOf(options.dpop.key), options.dpop.alg);
    this.#dpopAllowsBearer = options.dpop?.allowBearer === true;
    this.#tokenFile =
      auth.method === 'spiffe_jwt' || auth.method === 'federated_jwt'
        ? new TokenFileSource(auth.tokenFile, warn)
        : undefined;
  }

  /** The thumbprint (`cnf.jkt`) of this client's DPoP key, when it uses DPoP. */
  get dpopJkt(): string | undefined {
    return this.#dpop?.jkt;
  }

  /** How many token requests this client has sent (retries included). */
  get requestCount(): number {
    return this.#requests;
  }

  /** The clock offset learned from the server's `Date` header, ms (server minus local). */
  get clockOffsetMs(): number {
    return this.#clockOffsetMs;
  }

  /**
   * An access token for the scope and resources: from the cache while it is fresh, otherwise from
   * one token request shared by every concurrent caller. A renewal that fails while the cached
   * token is still usable hands out the cached token.
   *
   * @throws {TokenClientError} when no usable token can be had
   */
  async getToken(options: GetTokenOptions = {}): Promise<AccessToken> {
    return (await this.#entry(options)).token;
  }

  /**
   * Calls an API with a token: `Authorization: Bearer`, sent over an undici Agent with the same
   * client certificate the token was issued for, so a certificate-bound token verifies at the
   * API (RFC 8705 §3). A 401 `invalid_token` (RFC 6750 §3.1) is retried once with a new token
   * when the body can be sent again, at most once per 30 s per scope and resource set.
   * `init.dispatcher` is replaced.
   */
  async fetch(
    input: string | URL,
    init: RequestInit = {},
    options: GetTokenOptions = {},
  ): Promise<Response> {
    const url = new URL(input.toString());
    if (url.protocol !== 'https:')
      throw new TypeError('TokenClient.fetch: bearer tokens go over https only');
    let entry = await this.#entry(options);
    let response = await this.#send(url, init, entry);
    // RFC 9449 §9: an API that wants a (new) nonce says so once; the same request is sent again
    // with it, if its body can be sent again.
    if (
      response.status === 401 &&
      entry.token.tokenType === 'DPoP' &&
      isUseDpopNonce(response) &&
      nonceOf(response.headers.get('dpop-nonce')) !== undefined &&
      isReplayableBody(init.body)
    ) {
      await response.body?.cancel();
      response = await this.#send(url, init, entry);
    }
    const key = this.#params(options).key;
    const lastMs = this.#rejectedAtMs.get(key);
    // An API that refuses every token (wrong audience, say) must not turn each call into a token
    // request: one forced renewal per key per pause.
    const mayRenew = lastMs === undefined || this.#now() - lastMs >= renewalPauseMs;
    if (
      response.status === 401 &&
      mayRenew &&
      isInvalidToken(response) &&
      isReplayableBody(init.body)
    ) {
      this.#rejectedAtMs.set(key, this.#now());
      await response.body?.cancel();
      entry = await this.#entry({ ...options, forceRefresh: true });
      response = await this.#send(url, init, entry);
    }
    return response;
  }

  /** Drops cached tokens (all, or those of one scope and resource set). */
  invalidate(options?: Pick<GetTokenOptions, 'scope' | 'resource'>): void {
    if (options === undefined) this.#cache.clear();
    else this.#cache.delete(this.#params(options).key);
  }

  /** Closes the connections; later calls fail. */
  async close(): Promise<void> {
    this.#cache.clear();
    this.#rejectedAtMs.clear();
    await this.#tls.close();
  }

  async #send(url: URL, init: RequestInit, entry: CacheEntry): Promise<Response> {
    const headers = new Headers(init.headers);
    const { token } = entry;
    if (token.tokenType === 'DPoP') {
      const dpop = this.#dpop as DpopSigner;
      headers.set('authorization', `DPoP ${token.accessToken}`);
      headers.set(
        'dpop',
        dpop.proof({
          method: fetchMethod(init.method),
          url,
          nowSeconds: this.#proofTime(),
          nonce: this.#dpopNonces.get(nonceServer('resource', url)),
          accessToken: token.accessToken,
        }),
      );
    } else {
      headers.set('authorization', `Bearer ${token.accessToken}`);
    }
    const response = await undiciFetch(url, {
      ...init,
      headers,
      dispatcher: entry.material.dispatcher,
    });
    this.#rememberNonce(nonceServer('resource', url), nonceOf(response.headers.get('dpop-nonce')));
    return response;
  }

  /** `iat` of a proof: the server's clock as learned from its `Date` header. */
  #proofTime(): number {
    return Math.floor((this.#now() + this.#clockOffsetMs) / 1000);
  }

  #rememberNonce(server: string, nonce: string | undefined): void {
    if (nonce === undefined) return;
    this.#dpopNonces.delete(server);
    this.#dpopNonces.set(server, nonce);
    // A handful of origins in practice; forgetting one costs one use_dpop_nonce round trip.
    if (this.#dpopNonces.size > this.#maxCacheEntries) {
      const oldest = this.#dpopNonces.keys().next().value;
      if (oldest !== undefined) this.#dpopNonces.delete(oldest);
    }
  }

  async #entry(options: GetTokenOptions): Promise<CacheEntry> {
    const params = this.#params(options);
    // Also how a rotated certificate is noticed between token requests: tokens bound to the old
    // one are not handed out with connections that present the new one.
    const material = await this.#tls.current(false);
    const cached = this.#cache.get(params.key);
    if (cached !== undefined && cached.material.generation !== material.generation) {
      this.#cache.delete(params.key);
    } else if (cached !== undefined && options.forceRefresh !== true) {
      const now = this.#now();
      if (now < cached.refreshAtMs) return cached;
      if (now < cached.usableUntilMs) {
        try {
          return await this.#obtain(params);
        } catch (error) {
          this.#onWarning('token renewal failed; using the cached token until it expires', error);
          cached.refreshAtMs = now + Math.min(renewalPauseMs, (cached.usableUntilMs - now) / 2);
          return cached;
        }
      }
    }
    return this.#obtain(params);
  }

  #obtain(params: TokenParams): Promise<CacheEntry> {
    let flight = this.#inflight.get(params.key);
    if (flight === undefined) {
      flight = this.#request(params).finally(() => this.#inflight.delete(params.key));
      this.#inflight.set(params.key, flight);
    }
    return flight;
  }

  async #request(params: TokenParams): Promise<CacheEntry> {
    const startedMs = this.#now();
    let replayRetried = false;
    let nonceRetried = false;
    let retries = 0;
    // Bounded: each pass returns, throws, or uses up one of maxAttempts (plus the one replay retry).
    for (let attempt = 1; attempt <= this.#retry.maxAttempts + 1; attempt++) {
      const outcome = await this.#attempt(params);
      if (!('failure' in outcome)) return outcome;
      const { failure } = outcome;
      const giveUp = () =>
        new TokenClientError({
          error: failure.error,
          errorDescription: failure.description,
          status: failure.status,
          attempts: attempt,
          cause: failure.cause,
        });
      // RFC 9449 §8: the server wants a (new) nonce; #attempt has remembered it. Once.
      if (failure.error === 'use_dpop_nonce' && this.#dpop !== undefined && !nonceRetried) {
        nonceRetried = true;
        continue;
      }
      if (isReplayRejection(failure.error, failure.description)) {
        if (replayRetried) throw giveUp();
        replayRetried = true;
        continue;
      }
      if (!isRetryable(failure) || retries + 1 >= this.#retry.maxAttempts) throw giveUp();
      retries++;
      const delayMs = retryDelayMs(retries, this.#retry, this.#random, failure.retryAfterSeconds);
      if (this.#now() + delayMs - startedMs > this.#retry.maxTotalMs) throw giveUp();
      await this.#sleep(delayMs);
    }
    throw new TokenClientError({ error: 'network_error', errorDescription: 'no attempt left' });
  }

  /**
   * One token request. Local problems (unreadable files, a key that cannot sign) throw as they
   * are: retrying cannot fix them. Whatever the network or the server did comes back as a
   * failure for the retry policy to judge.
   */
  async #attempt(params: TokenParams): Promise<CacheEntry | { failure: Failure }> {
    const material = await this.#tls.current(true);
    let endpoint: string;
    try {
      endpoint = await this.#endpointFor(material);
    } catch (error) {
      if (error instanceof TokenClientError) {
        // A 5xx from the metadata endpoint is transient; a wrong document is not.
        if (error.status !== undefined && error.status >= 500) {
          return {
            failure: {
              network: false,
              status: error.status,
              error: error.error,
              description: error.errorDescription,
              retryAfterSeconds: undefined,
              cause: error,
            },
          };
        }
        throw error;
      }
      return { failure: networkFailure(error) };
    }
    const form = await this.#form(params);
    const server = nonceServer('token', new URL(endpoint));
    const proof = this.#dpop?.proof({
      method: 'POST',
      url: endpoint,
      nowSeconds: this.#proofTime(),
      nonce: this.#dpopNonces.get(server),
    });
    const sentAtMs = this.#now();
    this.#requests++;
    let result: TokenResult;
    try {
      result = await sendTokenRequest({
        tokenEndpoint: endpoint,
        params: form,
        dispatcher: material.dispatcher,
        timeoutMs: this.#timeoutMs,
        maxResponseBytes: this.#maxResponseBytes,
        ...(proof === undefined ? {} : { headers: { dpop: proof } }),
      });
    } catch (error) {
      return { failure: networkFailure(error) };
    }
    this.#learnClock(result.serverDateMs);
    this.#rememberNonce(server, result.dpopNonce);
    if (result.ok) return this.#store(params, result, material, sentAtMs);
    return {
      failure: {
        network: false,
        status: result.status,
        error: result.error,
        description: result.errorDescription,
        retryAfterSeconds: result.retryAfterSeconds,
      },
    };
  }

  #store(
    params: TokenParams,
    result: TokenSuccess,
    material: TlsMaterial,
    sentAtMs: number,
  ): CacheEntry {
    // RFC 6749 §5.1: token_type is case-insensitive.
    const type = result.tokenType.toLowerCase();
    // A DPoP token only when this client asked for one (RFC 9449 §5).
    if (type !== 'bearer' && !(type === 'dpop' && this.#dpop !== undefined)) {
      throw new TokenClientError({
        error: 'invalid_response',
        errorDescription: `token_type ${result.tokenType} is not supported (${this.#dpop === undefined ? 'Bearer' : 'Bearer or DPoP'} only)`,
        status: result.status,
      });
    }
    // RFC 9449 §5: a server that did not DPoP-bind answers Bearer; a client that needs the
    // protection MUST discard that response, and one that configured DPoP is taken to need it.
    if (type === 'bearer' && this.#dpop !== undefined && !this.#dpopAllowsBearer) {
      throw new TokenClientError({
        error: 'invalid_response',
        errorDescription:
          'the server answered a DPoP token request with token_type Bearer: the token is not DPoP-bound (set dpop.allowBearer to accept it)',
        status: result.status,
      });
    }
    // Counted from when the request left: the server started the lifetime no earlier than that.
    // Capped: an `expires_in` of 1e308 made the expiry Infinity, and the token was never renewed.
    const lifetimeMs =
      Math.min(result.expiresIn ?? this.#assumedLifetimeSeconds(), maxExpiresInSeconds) * 1000;
    const expiresAtMs = sentAtMs + lifetimeMs;
    const { ratio, jitterRatio, minValiditySeconds } = this.#refresh;
    const entry: CacheEntry = {
      token: {
        accessToken: result.accessToken,
        tokenType: type === 'dpop' ? 'DPoP' : 'Bearer',
        dpopJkt: type === 'dpop' ? this.#dpop?.jkt : undefined,
        expiresAtMs,
        scope: result.scope,
        certificateThumbprint: material.certificateThumbprint,
        response: result.body,
      },
      material,
      refreshAtMs: sentAtMs + lifetimeMs * (ratio - jitterRatio * this.#random()),
      usableUntilMs: expiresAtMs - minValiditySeconds * 1000,
    };
    this.#cache.delete(params.key);
    this.#cache.set(params.key, entry);
    this.#evict();
    return entry;
  }

  /** The lifetime of a token that came without `expires_in` (said once per client). */
  #assumedLifetimeSeconds(): number {
    if (!this.#warnedNoExpiresIn) {
      this.#warnedNoExpiresIn = true;
      this.#onWarning(
        `token response without a usable expires_in (RFC 6749 §5.1); assuming ${this.#defaultTokenLifetimeSeconds} s (defaultTokenLifetimeSeconds)`,
        undefined,
      );
    }
    return this.#defaultTokenLifetimeSeconds;
  }

  #evict(): void {
    // Only a rate limit's memory: forgetting it early costs at most one extra token request.
    if (this.#rejectedAtMs.size > this.#maxCacheEntries) this.#rejectedAtMs.clear();
    if (this.#cache.size <= this.#maxCacheEntries) return;
    const now = this.#now();
    for (const [key, entry] of this.#cache) {
      if (entry.usableUntilMs <= now) this.#cache.delete(key);
    }
    // Then the least recently stored, in Map (insertion) order.
    for (const key of this.#cache.keys()) {
      if (this.#cache.size <= this.#maxCacheEntries) break;
      this.#cache.delete(key);
    }
  }

  async #endpointFor(material: TlsMaterial): Promise<string> {
    if (this.#tokenEndpoint !== undefined) return this.#tokenEndpoint;
    const metadata = await this.#discover(material);
    // RFC 8705 §5: a client that presents a certificate uses the mTLS alias when there is one.
    return material.certificateThumbprint !== undefined && metadata.mtlsTokenEndpoint !== undefined
      ? metadata.mtlsTokenEndpoint
      : metadata.tokenEndpoint;
  }

  async #discover(material: TlsMaterial): Promise<AuthorizationServerMetadata> {
    const cached = this.#metadata;
    if (cached !== undefined && this.#now() - cached.fetchedAtMs < this.#discoveryTtlMs)
      return cached.metadata;
    // RFC 9110 §13.1.2: revalidate what is held; a 304 keeps it and counts as a fresh fetch.
    this.#discovering ??= discover({
      issuer: this.#issuer as string,
      dispatcher: material.dispatcher,
      timeoutMs: this.#timeoutMs,
      maxResponseBytes: this.#maxResponseBytes,
      held: cached,
    })
      .then(({ metadata, etag, serverDateMs }) => {
        this.#learnClock(serverDateMs);
        this.#metadata = { metadata, etag, fetchedAtMs: this.#now() };
        return metadata;
      })
      .finally(() => {
        this.#discovering = undefined;
      });
    try {
      return await this.#discovering;
    } catch (error) {
      // Stale metadata beats none: endpoints rarely move, and the token request will tell.
      if (cached !== undefined) {
        this.#onWarning('metadata refresh failed; using the previous metadata', error);
        return cached.metadata;
      }
      throw error;
    }
  }

  async #form(
    params: TokenParams,
  ): Promise<Record<string, string | readonly string[] | undefined>> {
    const auth = this.#auth;
    const common = {
      grant_type: 'client_credentials',
      scope: params.scope,
      resource: params.resources.length === 0 ? undefined : params.resources,
    };
    if (auth.method === 'spiffe_jwt' || auth.method === 'federated_jwt') {
      // The token's sub is the workload, not the client: client_id says which client it is.
      return {
        ...common,
        client_id: auth.clientId,
        client_assertion_type:
          auth.method === 'spiffe_jwt' ? jwtSpiffeAssertionType : jwtBearerAssertionType,
        client_assertion: await (this.#tokenFile as TokenFileSource).current(),
      };
    }
    if (auth.method !== 'private_key_jwt') {
      // RFC 8705 §2: client_id is required with mutual-TLS client authentication.
      return { ...common, client_id: auth.clientId };
    }
    const signingKey = await (this.#signingKey as SigningKeySource).current();
    const assertion = await createClientAssertion({
      clientId: auth.clientId,
      audience: this.#issuer as string,
      key: signingKey.key,
      ...(auth.alg === undefined ? {} : { alg: auth.alg }),
      ...(auth.kid === undefined ? {} : { kid: auth.kid }),
      lifetimeSeconds: this.#assertionLifetimeSeconds,
      nowSeconds: Math.floor((this.#now() + this.#clockOffsetMs) / 1000),
      jti: this.#randomId(),
    });
    return {
      ...common,
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: assertion,
    };
  }

  #learnClock(serverDateMs: number | undefined): void {
    if (serverDateMs === undefined) return;
    // The header truncates to the second: the server's clock was somewhere in the next 1000 ms.
    const offset = serverDateMs + 500 - this.#now();
    this.#clockOffsetMs = Math.abs(offset) < clockOffsetNoiseMs ? 0 : offset;
  }

  #params(options: Pick<GetTokenOptions, 'scope' | 'resource'>): TokenParams {
    const scope =
      options.scope === undefined ? this.#defaults.scope : normalizeScope(options.scope);
    const resources =
      options.resource === undefined
        ? this.#defaults.resources
        : normalizeResources(options.resource);
    // Per DPoP key too: a token bound to one key is useless with another.
    return {
      key: JSON.stringify([scope ?? null, resources, this.#dpop?.jkt ?? null]),
      scope,
      resources,
    };
  }
}

/** Scope tokens sorted and deduplicated (RFC 6749 §3.3: order does not matter), or undefined. */
export function normalizeScope(scope: string | readonly string[] | undefined): string | undefined {
  if (scope === undefined) return undefined;
  const tokens = (
    typeof scope === 'string' ? scope.split(' ') : scope.flatMap((one) => one.split(' '))
  )
    .map((one) => one.trim())
    .filter((one) => one !== '');
  return tokens.length === 0 ? undefined : [...new Set(tokens)].sort().join(' ');
}

/** RFC 8707 resources, absolute URIs without fragment, sorted and deduplicated. */
export function normalizeResources(
  resource: string | readonly string[] | undefined,
): readonly string[] {
  if (resource === undefined) return [];
  const list = typeof resource === 'string' ? [resource] : resource;
  for (const one of list) {
    let url: URL;
    try {
      url = new URL(one);
    } catch {
      throw new TypeError(`resource must be an absolute URI: ${one}`);
    }
    if (url.hash !== '') throw new TypeError(`resource must not have a fragment: ${one}`);
  }
  return [...new Set(list)].sort();
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`TokenClient: ${name} must be positive`);
  return value;
}

// OpenSSL's verdicts on the server certificate: the same certificate fails again on retry.
const certificateErrorCodes =
  /^(?:CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)/;

/**
 * No HTTP answer: connection, TLS, timeout. Retryable, except a server certificate verdict. An
 * answer past `maxResponseBytes` did arrive: `invalid_response`, retried only if its status is.
 */
function networkFailure(error: unknown): Failure {
  if (error instanceof ResponseTooLargeError) {
    return {
      network: false,
      status: error.status,
      error: 'invalid_response',
      description: error.message,
      retryAfterSeconds: undefined,
      cause: error,
    };
  }
  const code = errorCode(error);
  const certificate = code !== undefined && certificateErrorCodes.test(code);
  const message = error instanceof Error ? error.message : String(error);
  return {
    network: !certificate,
    status: undefined,
    error: 'network_error',
    description: code === undefined ? message : `${code}: ${message}`,
    retryAfterSeconds: undefined,
    cause: error,
  };
}

function errorCode(error: unknown): string | undefined {
  for (let current = error, depth = 0; depth < 3 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

function isInvalidToken(response: Response): boolean {
  return /error\s*=\s*"?invalid_token/i.test(response.headers.get('www-authenticate') ?? '');
}

/**
 * Which server a `DPoP-Nonce` belongs to: the token endpoint's or an API's, at an origin. RFC
 * 9449 §9: "the nonces provided by an authorization server and a resource server are different
 * and should not be confused with one another since nonces will be only accepted by the server
 * that issued them". An authorization server and an API behind one gateway share an origin but
 * not their nonces, so the role is part of the key.
 */
function nonceServer(role: 'token' | 'resource', url: URL): string {
  return `${role} ${url.origin}`;
}

/**
 * Whether a 401 carries a DPoP challenge with `error="use_dpop_nonce"` (RFC 9449 §9), wherever
 * that challenge stands among the others (RFC 9449 §7.2 lets an API send Bearer and DPoP
 * challenges together, in one header or several, which `Headers.get` joins with commas).
 */
function isUseDpopNonce(response: Response): boolean {
  return parseChallenges(response.headers.get('www-authenticate') ?? '').some(
    (challenge) =>
      challenge.scheme === 'dpop' && challenge.params.get('error') === 'use_dpop_nonce',
  );
}

/**
 * The method as fetch sends it (WHATWG Fetch "normalize a method": only DELETE, GET, HEAD,
 * OPTIONS, POST and PUT are upper-cased), so a proof's `htm` is the method on the wire (RFC 9449
 * §4.2; methods are case-sensitive, RFC 9110 §9.1).
 */
function fetchMethod(method: string | undefined): string {
  if (method === undefined) return 'GET';
  const upper = method.toUpperCase();
  return ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'].includes(upper) ? upper : method;
}

/** The DPoP private key from a file, a JWK, a KeyObject, or a new P-256 key. */
function dpopKeyOf(input: DpopKeyInput): KeyObject {
  if (input === true) return generateKeyPairFor('ES256').privateKey;
  if (typeof input === 'string') {
    const jwk = JSON.parse(readFileSync(input, 'utf8')) as Record<string, unknown>;
    return createPrivateKey({ key: jwk as never, format: 'jwk' });
  }
  if (input instanceof KeyObject) return input;
  return createPrivateKey({ key: input as never, format: 'jwk' });
}

function isReplayableBody(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body)
  );
}
