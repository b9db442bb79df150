/**
 * The documented defaults: every setting Tollgate has, its default and why.
 *
 * A config file (JSON, same shape, any subset) is merged over this object and the result is
 * validated into a frozen {@link Config}. Relative paths in a config file are resolved against
 * that file's folder; the defaults' relative paths against the working directory.
 *
 * The embedded defaults trust nothing: no trust anchors, intermediates, CRLs, TLS files,
 * signing keys or registry, so a configuration names everything the server relies on and nothing
 * under `certs/` is read unless it says so. {@link devDefaults} is the layer `serve --dev` (and
 * `npm start`) puts between these and the config file: the development PKI's files, which that
 * mode also generates when missing. No environment variable switches it on (STYLE §12).
 */
import type { ConfigInput } from './types.js';

export const defaults = {
  /**
   * Issuer identifier (RFC 8414 §2): https, no query or fragment. Endpoints hang off it. Unless a
   * layer sets it, it follows `tls.port` (../config/load.ts).
   */
  issuer: 'https://localhost:8443',
  /** `default`, or `fapi2`, which narrows assertion algorithms to PS256, ES256 and EdDSA. */
  profile: 'default',
  /** Where `serve --dev` keeps the development PKI (see `tollgate dev-ca`); unused otherwise. */
  devPkiDir: 'certs',
  /** The HTTPS listener. `localhost` binds both 127.0.0.1 and ::1. */
  tls: {
    host: 'localhost',
    port: 8443,
    /** Server certificate chain (leaf first) and key, PEM. Required: no default. */
    certFile: null,
    keyFile: null,
    /**
     * Ask clients for a certificate in the handshake (never required there: every failure
     * becomes an OAuth error). Turn off when a separate `mtls` listener takes certificates.
     */
    requestClientCert: true,
  },
  /** A separate mutual-TLS listener, advertised as `mtls_endpoint_aliases` (RFC 8705 §5). */
  mtls: {
    enabled: false,
    host: 'localhost',
    port: 8444,
    /** Its public base URL; null means the issuer's scheme and host with this port. */
    publicUrl: null,
  },
  /** A plain-HTTP listener for use behind a TLS-terminating proxy (see `proxy`). */
  plain: {
    enabled: false,
    host: '127.0.0.1',
    port: 8080,
  },
  /** How `tls_client_auth` certificates are validated. */
  clientCertificates: {
    /** Trust anchors (PEM): the CAs whose certificates may authenticate clients. None by default. */
    trustAnchorFiles: [],
    /** Intermediates (PEM) to complete chains of clients that send only their leaf. */
    intermediateFiles: [],
    /** CRLs (PEM or DER), one per CA that publishes one; reloaded when the files change. */
    crlFiles: [],
    /** A CRL past its nextUpdate: `fail` refuses certificates under that CA, `ignore` keeps using it. */
    crlStaleness: 'fail',
    /** Refuse certificates under a CA that has no CRL configured. */
    requireCrls: false,
    /** Most certificates a client (or proxy) may send besides the leaf, counted as sent. */
    maxChainCertificates: 10,
    /** Most intermediates between a client certificate and its trust anchor. */
    maxIntermediates: 10,
  },
  /**
   * The one key policy for every key a client presents or registers (certificates of a chain,
   * trust anchors, JWKs, self-signed certificates): RSA at least this many bits (a multiple of
   * 8, 2048 or more), P-256/384/521, Ed25519/Ed448; never DSA, SHA-1 or MD5.
   */
  keyPolicy: {
    minRsaBits: 2048,
  },
  /**
   * Registry, signing keys, trust anchors, intermediates and CRLs are reloaded without a restart
   * when their files change (checked this often) and at once on SIGHUP.
   */
  reload: {
    pollIntervalSeconds: 5,
  },
  /** TLS-terminating proxies whose client-certificate headers are trusted (by socket peer address). */
  proxy: {
    /** CIDRs or addresses; empty trusts no proxy (headers from anyone are ignored and logged). */
    trustedCidrs: [],
    /** `rfc9440` (Client-Cert, Client-Cert-Chain), `nginx` ($ssl_client_escaped_cert) or `xfcc` (Envoy). */
    certificateFormat: 'rfc9440',
    /** The header nginx writes `$ssl_client_escaped_cert` into. */
    nginxHeader: 'x-ssl-client-cert',
    /** Longest certificate header accepted. */
    maxHeaderBytes: 16384,
    /**
     * Where a trusted proxy writes the client's address (plain listener only): `x-forwarded-for`
     * or RFC 7239 `forwarded`. The right-most hop that is not a trusted proxy is the client.
     */
    clientAddressHeader: 'x-forwarded-for',
    /**
     * TLS listeners behind a layer-4 balancer that connects from its own address: connections
     * from `trustedCidrs` start with a PROXY header (HAProxy's v1 or v2), whose source address is
     * the client's for every limit and log line. Other peers connect directly, without one.
     */
    proxyProtocol: false,
  },
  accessToken: {
    /** Lifetime of issued access tokens (a client may override with `access_token_lifetime`). */
    lifetimeSeconds: 600,
    /** JWS algorithm of access tokens; must match the active signing key. */
    signingAlg: 'ES256',
    /**
     * `aud` when the request names no `resource`, its `scope` names no resource (below) and the
     * client registers no `default_resource`; null means the issuer (RFC 9068 §3 wants a default
     * resource indicator: set this, or `default_resource`, to the API the tokens are for).
     */
    defaultAudience: null,
    /**
     * Scopes by resource server: `[{"resource": "https://api.example", "scopes": ["read"]}]`.
     * A request with a `scope` and no `resource` gets, as `aud`, the one resource its scopes
     * name (RFC 9068 §3); scopes naming two resources, or a resource the client may not target
     * (`allowed_resources`), are `invalid_scope`. A scope belongs to at most one resource.
     */
    resourceScopes: [],
  },
  signingKeys: {
    /** Private JWKS: `{"active_kid": "...", "keys": [private JWKs]}`, mode 0600. Required. */
    file: null,
  },
  clientAuth: {
    /** Accepted clock skew for assertion `exp`/`iat`/`nbf`; 10 s ahead is always accepted, at most 60. */
    clockToleranceSeconds: 30,
    /** Longest accepted assertion lifetime (`exp` - `iat`); a client may lower or raise it. */
    maxAssertionLifetimeSeconds: 300,
    /** Largest accepted `client_assertion`, bytes. */
    maxAssertionBytes: 8192,
    /** Override the assertion algorithm allowlist (subset of the profile's); null for the profile default. */
    signingAlgs: null,
  },
  /**
   * RFC 9449 DPoP: a token request with a valid `DPoP` proof gets a DPoP-bound token
   * (`token_type` DPoP, `cnf.jkt`) instead of a certificate-bound or bearer one.
   */
  dpop: {
    /**
     * Accept DPoP proofs at the token endpoint. Off: a `DPoP` header is ignored and the token is a
     * Bearer (or certificate-bound) one, as RFC 9449 §5 allows, except for clients registered with
     * `dpop_bound_access_tokens`, which are refused (`dpop_unavailable`).
     */
    enabled: true,
    /** Proof algorithm allowlist (subset of the profile's); null for the profile default. */
    signingAlgs: null,
    /** A proof's `iat` may be at most this old, seconds (its `jti` is remembered this long). */
    maxAgeSeconds: 60,
    /** A proof's `iat` may be at most this far ahead (client clock skew), seconds. */
    clockToleranceSeconds: 10,
    /** Largest accepted `DPoP` header, bytes. */
    maxProofBytes: 4096,
    /** Server-provided nonces (RFC 9449 §8), off by default. */
    nonce: {
      /** Refuse proofs without a current nonce (`use_dpop_nonce` with a `DPoP-Nonce` header). */
      required: false,
      /**
       * A file holding at least 32 bytes of secret shared by every instance, so each accepts the
       * others' nonces; null: a random secret per process (one instance only).
       */
      secretFile: null,
      /** A nonce is valid for its window and the next one. */
      windowSeconds: 60,
    },
  },
  limits: {
    /** Largest accepted request body, bytes. */
    bodyBytes: 16384,
    /**
     * Headers and body of a request must arrive within this, or the connection is closed (408):
     * slow clients (header or body dribbling, headers without a body) hold nothing longer.
     */
    requestTimeoutSeconds: 15,
    /** An idle keep-alive connection is closed after this. */
    keepAliveTimeoutSeconds: 5,
    /** Concurrent connections from one peer address (trusted proxies exempt); more are closed at once. */
    connectionsPerAddress: 64,
    /** Concurrent connections per listener; more are closed at once (bounds memory, see docs/security.md). */
    maxConnections: 4096,
  },
  replay: {
    /** `memory` (one instance) or `redis` (shared by every instance: required past one). */
    store: 'memory',
    /** Live `jti` claims the memory store holds at most; past it, assertions fail closed with 503. */
    maxEntries: 1_000_000,
    /**
     * Share of `maxEntries` one client may hold (0..1]: past it that client gets 429 with
     * Retry-After, and every other client still gets tokens.
     */
    maxClientShare: 0.05,
  },
  /** Redis (or Valkey) shared by instances for replay claims and rate limits. */
  redis: {
    /** `redis://[user:pass@]host:port[/db]` or `rediss://` for TLS. */
    url: 'redis://127.0.0.1:6379',
    /** Prefix of every key Tollgate writes. */
    keyPrefix: 'tollgate:',
    /** Connecting gives up after this; requests meanwhile fail closed. */
    connectTimeoutMs: 1000,
    /** A command that takes longer fails (closed for assertions). */
    commandTimeoutMs: 500,
    /** Redis Sentinel: `host:port` of each sentinel; the primary is found (and followed) through them. */
    sentinels: [],
    /** The primary's name in the sentinels' `sentinel monitor <name> ...`. */
    sentinelName: null,
    /** Redis Cluster: seed nodes (`host:port`); keys are hash-tagged into 16 slices. */
    clusterNodes: [],
    /**
     * Replicas that must hold a claim before a token is issued on it (Redis `WAIT`): 1 or more
     * with Sentinel or Cluster, so that a failover cannot forget a claim. Keep one replica more
     * than this per primary, or claims fail closed after a failover until one is back.
     */
    replicaAcks: 0,
    /** How long a claim waits for `replicaAcks`; past it the request fails closed (503). */
    replicaAckTimeoutMs: 100,
  },
  /** Per-client and per-address limits on token requests and on failed authentications. */
  rateLimits: {
    enabled: true,
    /** `memory` (per instance) or `redis` (shared). */
    store: 'memory',
    windowSeconds: 60,
    /** Token requests per authenticated client per window. */
    perClient: 6000,
    /** Token requests per source address per window. */
    perAddress: 12000,
    /** Failed client authentications per source address per window. */
    failedAuthPerAddress: 120,
    /**
     * Failed client authentications per source address and claimed (registered) client_id per
     * window. Never per client_id alone: client_ids are public, and a stranger's failures must not
     * lock a client out.
     */
    failedAuthPerClient: 60,
    /** Most keys the memory store counts per window; when full it evicts the least recently used. */
    maxKeys: 100_000,
  },
  registry: {
    /** Registry file (`{"clients": [...]}`), RFC 7591 metadata; null when only inline clients are used. */
    file: null,
    /** Inline clients, merged with the file's; a client_id may not appear twice. */
    clients: [],
  },
  remoteJwks: {
    /** `jwks_uri` fetch timeout. */
    timeoutMs: 3000,
    /** Largest accepted `jwks_uri` response. */
    maxBytes: 65536,
    /** At most one refetch for an unknown `kid` per client per interval. */
    minRefetchIntervalSeconds: 30,
  },
  underPressure: {
    /**
     * Shed load (503 + Retry-After) when the event loop lagged more than this on average over the
     * last sample interval: a request waits about that long before its handler runs.
     */
    maxEventLoopDelayMs: 100,
    /**
     * Shed load when event-loop utilization over the last sample interval is above this (0..1);
     * 0 disables, the default: under overload utilization stays near 1 even while shedding, so
     * it would shed everything, while the delay trigger measures the queue that hurts latency.
     */
    maxEventLoopUtilization: 0,
    retryAfterSeconds: 1,
    /**
     * How often both triggers are sampled, each over the interval just past (never since
     * start-up): a short interval sheds within a fraction of a second of overload starting.
     */
    sampleIntervalMs: 100,
  },
  /**
   * On SIGTERM: after the drain window, stop accepting, finish the requests received, close idle
   * and half-sent connections; exit 1 if a received request is still running after this long.
   */
  shutdownTimeoutSeconds: 10,
  /**
   * On SIGTERM, first serve on for this long with /readyz answering 503 and every response
   * saying `Connection: close`, so load balancers and keep-alive clients move away without a reset.
   */
  shutdownDrainSeconds: 5,
  /**
   * The admin listener: /metrics, /healthz and /readyz, off the token listeners. Loopback by
   * default; see docs/security.md for Kubernetes and host proxies.
   */
  admin: {
    enabled: true,
    host: '127.0.0.1',
    port: 9464,
  },
  /** Prometheus metrics at GET /metrics on the admin listener, for the listed peer addresses only. */
  metrics: {
    enabled: true,
    /** Socket peer addresses allowed to scrape (CIDRs); others get 404. */
    allowedCidrs: ['127.0.0.0/8', '::1/128'],
    /** Also export Node process metrics (CPU, memory, event loop). */
    processMetrics: true,
  },
  log: {
    /** pino level: fatal, error, warn, info, debug, trace, silent. */
    level: 'info',
    /**
     * `pino` (numeric `level`, epoch-ms `time`: what pino tools read) or `iso` (`"level":"info"`,
     * ISO 8601 `time`: what log stacks parse without a mapping).
     */
    format: 'pino',
  },
  /**
   * `scopes_supported` in the metadata (RFC 8414 §2, RECOMMENDED). null: every scope some
   * registered client may get, sorted (recomputed when the registry reloads; at most 1024).
   * A list: exactly that list (to keep some scope names private). `[]`: none (member omitted).
   * Clients' registered `scope` still decides what each may get.
   */
  scopesSupported: null,
  /**
   * Workload identity (docs/workload-identity.md): trust sources configured out of band, never
   * discovered from a token. Each entry is `{"kind": "spiffe" | "oidc-issuer", "name": ...}`
   * over the defaults of its kind below.
   */
  workloadIdentity: {
    sources: [],
  },
} as const satisfies ConfigInput;

/** Defaults of a `spiffe` source (a SPIFFE trust domain; JWT-SVIDs and X.509-SVIDs). */
export const spiffeSourceDefaults = {
  /** `spiffe_bundle_endpoint` URL (https_web profile), or null with `bundleFile`. */
  bundleEndpointUrl: null,
  /** A SPIFFE bundle file (hot-reloaded), or null with `bundleEndpointUrl`. */
  bundleFile: null,
  /** PEM CA for the bundle endpoint's server certificate; null uses the system store. */
  caFile: null,
  /** Poll period when the bundle has no `spiffe_refresh_hint` (clamped to 60..3600 s). */
  defaultRefreshHintSeconds: 300,
  /**
   * How long past its refresh time the last good bundle is still used while the endpoint fails;
   * then SPIFFE clients fail closed with temporarily_unavailable.
   */
  maxStalenessSeconds: 3600,
  /** JWT-SVID algorithms (JWT-SVID §2.1 allows RS/ES/PS 256-512; narrow, never widen). */
  algorithms: ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  /** Oldest accepted JWT-SVID (now - iat; SPIRE's default JWT-SVID TTL is 5 min). */
  maxTokenAgeSeconds: 300,
  clockToleranceSeconds: 30,
  /** SPIRE caches and reuses a JWT-SVID until it nears expiry: single use would break it. */
  jti: 'reuse-allowed',
} as const;

/** Defaults of an `oidc-issuer` source (Kubernetes service-account tokens and the like). */
export const oidcIssuerSourceDefaults = {
  /** A JWKS file for clusters whose discovery is not reachable anonymously; null: discovery. */
  jwksFile: null,
  /** PEM CA for the issuer's https (discovery and jwks_uri); null uses the system store. */
  caFile: null,
  algorithms: ['RS256', 'ES256'],
  /** Projected tokens default to 1 h and the kubelet reuses one for about 48 min. */
  maxTokenAgeSeconds: 3600,
  clockToleranceSeconds: 30,
  /** The kubelet reuses a token for every request until it refreshes it. */
  jti: 'reuse-allowed',
} as const;

/**
 * What `serve --dev` adds under the config file: the files of the development PKI that
 * `tollgate dev-ca ensure` writes under `certs/` (a root and intermediate CA, their CRLs, a
 * server certificate for localhost, a signing key, demo clients). Paths are relative to the
 * working directory. Never applied without the flag.
 */
export const devDefaults = {
  tls: {
    certFile: 'certs/server/server.pem',
    keyFile: 'certs/server/server-key.pem',
  },
  clientCertificates: {
    trustAnchorFiles: ['certs/ca/root.pem'],
    intermediateFiles: ['certs/ca/intermediate.pem'],
    crlFiles: ['certs/ca/crl-chain.pem'],
  },
  signingKeys: { file: 'certs/signing-keys.json' },
  registry: { file: 'certs/registry.json' },
} as const satisfies ConfigInput;
