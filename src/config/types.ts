/**
 * The typed configuration. {@link Config} is what the server runs on (validated, paths resolved,
 * frozen); {@link ConfigInput} is what a config file may contain (any subset).
 */
import type { ClientMetadata } from '../registry/metadata.js';

export const proxyCertificateFormats = ['rfc9440', 'nginx', 'xfcc'] as const;
export type ProxyCertificateFormat = (typeof proxyCertificateFormats)[number];

export const profiles = ['default', 'fapi2'] as const;
export type Profile = (typeof profiles)[number];

/** Access-token signing algorithms Tollgate can issue with. */
export const accessTokenAlgs = ['ES256', 'ES384', 'ES512', 'EdDSA', 'PS256', 'RS256'] as const;
export type AccessTokenAlg = (typeof accessTokenAlgs)[number];

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];
/** `pino`: numeric levels, epoch-ms `time`; `iso`: `"level":"info"`, ISO 8601 `time`. */
export const logFormats = ['pino', 'iso'] as const;
export type LogFormat = (typeof logFormats)[number];

export interface Config {
  readonly issuer: string;
  readonly profile: Profile;
  readonly devPkiDir: string;
  readonly tls: {
    readonly host: string;
    readonly port: number;
    /** null until configured (`serve --dev` names the dev PKI's); serving needs both. */
    readonly certFile: string | null;
    readonly keyFile: string | null;
    readonly requestClientCert: boolean;
  };
  readonly mtls: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string | null;
  };
  readonly plain: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly clientCertificates: {
    readonly trustAnchorFiles: readonly string[];
    readonly intermediateFiles: readonly string[];
    readonly crlFiles: readonly string[];
    readonly crlStaleness: 'fail' | 'ignore';
    readonly requireCrls: boolean;
    readonly maxChainCertificates: number;
    readonly maxIntermediates: number;
  };
  readonly keyPolicy: { readonly minRsaBits: number };
  readonly reload: { readonly pollIntervalSeconds: number };
  readonly proxy: {
    readonly trustedCidrs: readonly string[];
    readonly certificateFormat: ProxyCertificateFormat;
    readonly nginxHeader: string;
    readonly maxHeaderBytes: number;
    readonly clientAddressHeader: 'x-forwarded-for' | 'forwarded';
    /** TLS listeners: connections from `trustedCidrs` start with a PROXY header (v1 or v2). */
    readonly proxyProtocol: boolean;
  };
  readonly accessToken: {
    readonly lifetimeSeconds: number;
    readonly signingAlg: AccessTokenAlg;
    readonly defaultAudience: string | null;
    /**
     * Which resource each scope belongs to: a request with a `scope` but no `resource` gets the
     * resource its scopes name as `aud` (RFC 9068 §3).
     */
    readonly resourceScopes: readonly {
      readonly resource: string;
      readonly scopes: readonly string[];
    }[];
  };
  /** `file` is null until configured; serving needs it. */
  readonly signingKeys: { readonly file: string | null };
  readonly clientAuth: {
    readonly clockToleranceSeconds: number;
    readonly maxAssertionLifetimeSeconds: number;
    readonly maxAssertionBytes: number;
    readonly signingAlgs: readonly string[] | null;
  };
  readonly dpop: {
    readonly enabled: boolean;
    readonly signingAlgs: readonly string[] | null;
    readonly maxAgeSeconds: number;
    readonly clockToleranceSeconds: number;
    readonly maxProofBytes: number;
    readonly nonce: {
      readonly required: boolean;
      readonly secretFile: string | null;
      readonly windowSeconds: number;
    };
  };
  readonly limits: {
    readonly bodyBytes: number;
    readonly requestTimeoutSeconds: number;
    readonly keepAliveTimeoutSeconds: number;
    readonly connectionsPerAddress: number;
    readonly maxConnections: number;
  };
  readonly replay: {
    readonly store: 'memory' | 'redis';
    readonly maxEntries: number;
    readonly maxClientShare: number;
  };
  readonly redis: {
    readonly url: string;
    readonly keyPrefix: string;
    readonly connectTimeoutMs: number;
    readonly commandTimeoutMs: number;
    readonly sentinels: readonly string[];
    readonly sentinelName: string | null;
    readonly clusterNodes: readonly string[];
    readonly replicaAcks: number;
    readonly replicaAckTimeoutMs: number;
  };
  readonly rateLimits: {
    readonly enabled: boolean;
    readonly store: 'memory' | 'redis';
    readonly windowSeconds: number;
    readonly perClient: number;
    readonly perAddress: number;
    readonly failedAuthPerAddress: number;
    readonly failedAuthPerClient: number;
    readonly maxKeys: number;
  };
  readonly registry: {
    readonly file: string | null;
    readonly clients: readonly ClientMetadata[];
  };
  readonly remoteJwks: {
    readonly timeoutMs: number;
    readonly maxBytes: number;
    readonly minRefetchIntervalSeconds: number;
  };
  readonly underPressure: {
    readonly maxEventLoopDelayMs: number;
    readonly maxEventLoopUtilization: number;
    readonly retryAfterSeconds: number;
    readonly sampleIntervalMs: number;
  };
  readonly shutdownTimeoutSeconds: number;
  readonly shutdownDrainSeconds: number;
  readonly admin: { readonly enabled: boolean; readonly host: string; readonly port: number };
  readonly metrics: {
    readonly enabled: boolean;
    readonly allowedCidrs: readonly string[];
    readonly processMetrics: boolean;
  };
  readonly log: { readonly level: LogLevel; readonly format: LogFormat };
  /**
   * `scopes_supported` (RFC 8414 §2): null advertises every scope a registered client may get
   * (follows registry reloads); a list advertises exactly it; `[]` advertises none.
   */
  readonly scopesSupported: readonly string[] | null;
  /** Workload identity trust sources (SPIFFE trust domains, OIDC workload issuers). */
  readonly workloadIdentity: { readonly sources: readonly WorkloadSourceConfig[] };
}

/** Per-source token policy (see src/workload/policy.ts). */
export interface WorkloadPolicyConfig {
  readonly algorithms: readonly string[];
  readonly maxTokenAgeSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly jti: 'reuse-allowed' | 'unique-when-present' | 'required-unique';
}

/** A SPIFFE trust domain and where its bundle comes from (exactly one of endpoint and file). */
export interface SpiffeSourceConfig extends WorkloadPolicyConfig {
  readonly kind: 'spiffe';
  readonly name: string;
  /** The trust domain name, e.g. `example.org` (not the `spiffe://` URI). */
  readonly trustDomain: string;
  readonly bundleEndpointUrl: string | null;
  readonly bundleFile: string | null;
  /** PEM CA file for the bundle endpoint's server certificate; null: the system store. */
  readonly caFile: string | null;
  readonly defaultRefreshHintSeconds: number;
  readonly maxStalenessSeconds: number;
}

/** A workload token issuer (Kubernetes API server and the like); discovery or a JWKS file. */
export interface OidcIssuerSourceConfig extends WorkloadPolicyConfig {
  readonly kind: 'oidc-issuer';
  readonly name: string;
  readonly issuer: string;
  readonly jwksFile: string | null;
  readonly caFile: string | null;
}

export type WorkloadSourceConfig = SpiffeSourceConfig | OidcIssuerSourceConfig;

/** A source as a config file may write it: kind and name, the rest defaulted. */
export type WorkloadSourceInput = { readonly kind: string; readonly name: string } & Partial<
  Omit<SpiffeSourceConfig, 'kind' | 'name'> & Omit<OidcIssuerSourceConfig, 'kind' | 'name'>
>;

type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { -readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/**
 * What a config file may hold: any subset of {@link Config}. `unsafeDevDefaults: false` is still
 * accepted (and ignored) so that configs written for earlier versions keep loading; `true` is
 * refused, naming `serve --dev`. Workload sources are written with their kind's defaults omitted.
 */
export type ConfigInput = Omit<DeepPartial<Config>, 'workloadIdentity'> & {
  unsafeDevDefaults?: false;
  workloadIdentity?: { sources?: readonly WorkloadSourceInput[] };
};
