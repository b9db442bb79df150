/**
 * The configured trust sources, looked up the only ways a request may: a SPIFFE source by the
 * trust domain of a (syntactically valid) SPIFFE ID, an issuer source by its exact issuer URL or
 * by its configured name. Built once at start from the configuration.
 *
 * @see draft-ietf-oauth-spiffe-client-auth §6 (bundles keyed by trust domain), §8
 */
import type { Config, WorkloadPolicyConfig } from '../config/index.js';
import type { AsymmetricAlg } from '../jws/index.js';
import type { TrustStoreOptions } from '../pki/index.js';
import type { JwksFetch } from '../registry/jwks-uri.js';
import { OidcIssuerSource } from './oidc-issuer-source.js';
import type { WorkloadTokenPolicy } from './policy.js';
import { readCaFile, SpiffeTrustSource } from './spiffe-source.js';

export type WorkloadSource = SpiffeTrustSource | OidcIssuerSource;

export class WorkloadTrust {
  readonly #byName: ReadonlyMap<string, WorkloadSource>;
  readonly #byTrustDomain: ReadonlyMap<string, SpiffeTrustSource>;
  readonly #byIssuer: ReadonlyMap<string, OidcIssuerSource>;

  constructor(sources: readonly WorkloadSource[]) {
    this.#byName = new Map(sources.map((source) => [source.name, source]));
    this.#byTrustDomain = new Map(
      sources.flatMap((source) =>
        source.kind === 'spiffe' ? [[source.trustDomain, source] as const] : [],
      ),
    );
    this.#byIssuer = new Map(
      sources.flatMap((source) =>
        source.kind === 'oidc-issuer' ? [[source.issuer, source] as const] : [],
      ),
    );
  }

  /** The source of a trust domain (`example.org`), if configured. */
  spiffe(trustDomain: string): SpiffeTrustSource | undefined {
    return this.#byTrustDomain.get(trustDomain);
  }

  /** The issuer source configured under `name`. */
  byName(name: string): WorkloadSource | undefined {
    return this.#byName.get(name);
  }

  /** The issuer source whose issuer is exactly `iss`. */
  issuer(iss: string): OidcIssuerSource | undefined {
    return this.#byIssuer.get(iss);
  }

  get hasSpiffe(): boolean {
    return this.#byTrustDomain.size > 0;
  }

  get hasIssuers(): boolean {
    return this.#byIssuer.size > 0;
  }

  sources(): IterableIterator<WorkloadSource> {
    return this.#byName.values();
  }

  close(): void {
    for (const source of this.#byName.values()) if (source.kind === 'spiffe') source.close();
  }
}

export interface WorkloadTrustOptions {
  readonly clock?: () => number;
  /** Background bundle polls (default true; tests that drive the clock turn them off). */
  readonly poll?: boolean;
  /** Transport override (tests use the real node:https transport with a test CA instead). */
  readonly fetch?: JwksFetch;
  readonly onError?: (source: string, error: unknown) => void;
}

/** Builds every configured source; throws on a file that cannot be read (start-up fails). */
export function createWorkloadTrust(
  config: Config,
  options: WorkloadTrustOptions = {},
): WorkloadTrust {
  const trustStoreOptions: TrustStoreOptions = {
    crlStaleness: config.clientCertificates.crlStaleness,
    maxChainCertificates: config.clientCertificates.maxChainCertificates,
  };
  const common = (name: string) => ({
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    fileCheckIntervalMs: Math.min(5_000, config.reload.pollIntervalSeconds * 1000),
    onError: (error: unknown) => options.onError?.(name, error),
  });
  const sources = config.workloadIdentity.sources.map((source): WorkloadSource => {
    const caPem = readCaFile(source.caFile);
    if (source.kind === 'spiffe') {
      return new SpiffeTrustSource({
        name: source.name,
        trustDomain: source.trustDomain,
        policy: policyOf(source),
        bundleEndpointUrl: source.bundleEndpointUrl ?? undefined,
        bundleFile: source.bundleFile ?? undefined,
        caPem,
        defaultRefreshHintSeconds: source.defaultRefreshHintSeconds,
        maxStalenessSeconds: source.maxStalenessSeconds,
        timeoutMs: config.remoteJwks.timeoutMs,
        trustStoreOptions,
        ...(options.poll === undefined ? {} : { poll: options.poll }),
        ...common(source.name),
      });
    }
    return new OidcIssuerSource({
      name: source.name,
      issuer: source.issuer,
      policy: policyOf(source),
      jwksFile: source.jwksFile ?? undefined,
      caPem,
      timeoutMs: config.remoteJwks.timeoutMs,
      maxBytes: config.remoteJwks.maxBytes,
      minRefetchIntervalMs: config.remoteJwks.minRefetchIntervalSeconds * 1000,
      ...common(source.name),
    });
  });
  return new WorkloadTrust(sources);
}

function policyOf(source: WorkloadPolicyConfig): WorkloadTokenPolicy {
  return {
    algorithms: source.algorithms as readonly AsymmetricAlg[],
    maxTokenAgeSeconds: source.maxTokenAgeSeconds,
    clockToleranceSeconds: source.clockToleranceSeconds,
    jti: source.jti,
  };
}
