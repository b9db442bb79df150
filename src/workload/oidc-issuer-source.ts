/**
 * An `oidc-issuer` trust source: a workload token issuer (a Kubernetes API server, or any issuer
 * of the same shape) identified by its exact issuer URL, configured out of band. Its keys come
 * from OpenID discovery (`<issuer>/.well-known/openid-configuration`, whose `issuer` must equal
 * the configured one byte for byte) and the `jwks_uri` it names, both through the client
 * `jwks_uri` machinery (RemoteJwksCache: https, no redirects, timeout, size cap, cache clamps,
 * refetch throttle); or from a JWKS file, for clusters whose discovery needs authentication.
 *
 * A token's own `iss` never selects a URL to fetch: the dispatcher only compares it with the
 * issuers configured here.
 *
 * @see OpenID Connect Discovery 1.0 §4, Kubernetes service account issuer discovery,
 *   draft-ietf-oauth-spiffe-client-auth §8 (no discovery from an unknown iss)
 */
import { type ClientKey, importClientJwks } from '../registry/index.js';
import { createHttpsFetch, type JwksFetch, RemoteJwksCache } from '../registry/jwks-uri.js';
import { WorkloadSourceUnavailable } from './errors.js';
import { WatchedFile } from './file-watch.js';
import type { WorkloadTokenPolicy } from './policy.js';

export interface OidcIssuerSourceOptions {
  readonly name: string;
  /** Exact issuer URL (https). */
  readonly issuer: string;
  readonly policy: WorkloadTokenPolicy;
  /** A JWKS file instead of discovery. */
  readonly jwksFile?: string | undefined;
  /** PEM CA(s) for the issuer's https, when private. */
  readonly caPem?: string | undefined;
  readonly timeoutMs?: number;
  readonly maxBytes?: number;
  readonly minRefetchIntervalMs?: number;
  readonly clock?: () => number;
  readonly fetch?: JwksFetch;
  readonly fileCheckIntervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

interface Discovered {
  readonly jwksUri: string;
}

/** The keys of one configured workload token issuer. */
export class OidcIssuerSource {
  readonly kind = 'oidc-issuer' as const;
  readonly name: string;
  readonly issuer: string;
  readonly policy: WorkloadTokenPolicy;
  readonly #options: OidcIssuerSourceOptions;
  readonly #fetch: JwksFetch | undefined;
  readonly #clock: () => number;
  readonly #discovery: RemoteJwksCache<Discovered> | undefined;
  readonly #file: WatchedFile<readonly ClientKey[]> | undefined;
  #jwks:
    | { readonly uri: string; readonly cache: RemoteJwksCache<readonly ClientKey[]> }
    | undefined;

  constructor(options: OidcIssuerSourceOptions) {
    this.name = options.name;
    this.issuer = options.issuer;
    this.policy = options.policy;
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    if (options.jwksFile !== undefined) {
      this.#file = new WatchedFile({
        path: options.jwksFile,
        parse: (text) => importClientJwks(JSON.parse(text) as unknown),
        clock: this.#clock,
        intervalMs: options.fileCheckIntervalMs ?? 1000,
        ...(options.onError === undefined ? {} : { onError: options.onError }),
      });
      return;
    }
    this.#fetch =
      options.fetch ?? createHttpsFetch(options.caPem === undefined ? {} : { ca: options.caPem });
    this.#discovery = new RemoteJwksCache<Discovered>({
      url: `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
      document: 'object',
      importKeys: (document) => this.#checkDiscovery(document as Record<string, unknown>),
      fetch: this.#fetch,
      clock: this.#clock,
      ...this.#limits(),
    });
  }

  /**
   * The issuer's verification keys.
   *
   * @throws WorkloadSourceUnavailable when discovery or the JWKS cannot be fetched (and no set
   *   within the stale window is cached).
   */
  async keys(): Promise<readonly ClientKey[]> {
    if (this.#file !== undefined) return this.#file.get();
    try {
      return await (await this.#jwksCache()).get();
    } catch (error) {
      throw new WorkloadSourceUnavailable(this.name, `no keys for issuer ${this.issuer}`, {
        cause: error,
      });
    }
  }

  /** One rate-limited refetch when a token names a `kid` the cached set lacks (key rotation). */
  async refreshForUnknownKid(): Promise<readonly ClientKey[] | undefined> {
    if (this.#file !== undefined) return undefined;
    try {
      return await (await this.#jwksCache()).refreshForUnknownKid();
    } catch {
      return undefined;
    }
  }

  #limits() {
    const o = this.#options;
    return {
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      ...(o.maxBytes === undefined ? {} : { maxBytes: o.maxBytes }),
      ...(o.minRefetchIntervalMs === undefined
        ? {}
        : { minRefetchIntervalMs: o.minRefetchIntervalMs }),
    };
  }

  /** Discovery's `issuer` must be the configured one exactly; `jwks_uri` https. */
  #checkDiscovery(document: Record<string, unknown>): Discovered {
    if (document.issuer !== this.issuer) {
      throw new TypeError('the discovery document names another issuer');
    }
    const uri = document.jwks_uri;
    if (typeof uri !== 'string' || !URL.canParse(uri) || new URL(uri).protocol !== 'https:') {
      throw new TypeError('the discovery document has no https jwks_uri');
    }
    return { jwksUri: uri };
  }

  async #jwksCache(): Promise<RemoteJwksCache<readonly ClientKey[]>> {
    const { jwksUri } = await (this.#discovery as RemoteJwksCache<Discovered>).get();
    if (this.#jwks?.uri !== jwksUri) {
      this.#jwks = {
        uri: jwksUri,
        cache: new RemoteJwksCache<readonly ClientKey[]>({
          url: jwksUri,
          importKeys: importClientJwks,
          fetch: this.#fetch as JwksFetch,
          clock: this.#clock,
          ...this.#limits(),
        }),
      };
    }
    return this.#jwks.cache;
  }
}
