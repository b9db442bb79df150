/**
 * The documented defaults: every setting Tollgate has, its default and why.
 *
 * A config file (JSON, same shape, any subset) is merged over this object and the result is
 * validated into a frozen {@link Config}. Relative paths in a config file are resolved against
 * that file's folder; the defaults' relative paths against the working directory.
 *
 * The embedded defaults are a development setup: `unsafeDevDefaults` generates the dev PKI,
 * the signing key and a demo registry when missing, and is refused when NODE_ENV=production.
 */
import type { ConfigInput } from './types.js';

export const defaults = {
  /** Issuer identifier (RFC 8414 §2): https, no query or fragment. Endpoints hang off it. */
  issuer: 'https://localhost:8443',
  /** `default`, or `fapi2`, which narrows assertion algorithms to PS256, ES256 and EdDSA. */
  profile: 'default',
  /**
   * Generate what is missing at start (dev PKI under `devPkiDir`, server certificate, signing
   * key, demo registry). Convenient and unsafe: refused when NODE_ENV=production.
   */
  unsafeDevDefaults: true,
  /** Where the development PKI lives (see `tollgate dev-ca`). */
  devPkiDir: 'certs',
  /** The HTTPS listener. `localhost` binds both 127.0.0.1 and ::1. */
  tls: {
    host: 'localhost',
    port: 8443,
    /** Server certificate chain (leaf first) and key, PEM. */
    certFile: 'certs/server/server.pem',
    keyFile: 'certs/server/server-key.pem',
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
    /** Trust anchors (PEM): the CAs whose certificates may authenticate clients. */
    trustAnchorFiles: ['certs/ca/root.pem'],
    /** Intermediates (PEM) to complete chains of clients that send only their leaf. */
    intermediateFiles: ['certs/ca/intermediate.pem'],
    /** CRLs (PEM or DER), one per CA that publishes one; reloaded when the files change. */
    crlFiles: ['certs/ca/crl-chain.pem'],
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
  },
  accessToken: {
    /** Lifetime of issued access tokens (a client may override with `access_token_lifetime`). */
    lifetimeSeconds: 600,
    /** JWS algorithm of access tokens; must match the active signing key. */
    signingAlg: 'ES256',
    /** `aud` when the request names no `resource` and the client registers no `default_resource`; null means the issuer. */
    defaultAudience: null,
  },
  signingKeys: {
    /** Private JWKS: `{"active_kid": "...", "keys": [private JWKs]}`, mode 0600. */
    file: 'certs/signing-keys.json',
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
  limits: {
    /** Largest accepted request body, bytes. */
    bodyBytes: 16384,
  },
  replay: {
    /** `memory` (one instance) or `redis` (shared by every instance: required past one). */
    store: 'memory',
    /** Live `jti` claims the memory store holds at most; past it, assertions fail closed with 503. */
    maxEntries: 1_000_000,
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
    /** Failed client authentications per claimed client_id per window. */
    failedAuthPerClient: 60,
  },
  registry: {
    /** Registry file (`{"clients": [...]}`), RFC 7591 metadata; null when only inline clients are used. */
    file: 'certs/registry.json',
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
    /** Shed load (503 + Retry-After) when the event loop lags more than this. */
    maxEventLoopDelayMs: 250,
    /** Shed load when event-loop utilization is above this (0..1); 0 disables. */
    maxEventLoopUtilization: 0.98,
    retryAfterSeconds: 1,
  },
  /** On SIGTERM: stop accepting, finish in-flight requests, and give up (exit 1) after this long. */
  shutdownTimeoutSeconds: 10,
  /** Prometheus metrics at GET /metrics, on every listener, for the listed peer addresses only. */
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
  },
} as const satisfies ConfigInput;
