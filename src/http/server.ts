/**
 * Wires a running Tollgate from a validated Config: registry, keys, replay store, trust store,
 * client authentication, token endpoint, metadata, and one Fastify app per listener (TLS, a
 * separate mutual-TLS alias, plain HTTP behind a proxy). Everything is prepared once here;
 * requests only look things up.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import {
  ClientAuthDispatcher,
  FederatedJwtAuthenticator,
  JwtSvidAuthenticator,
  PrivateKeyJwtAuthenticator,
  SelfSignedTlsClientAuthenticator,
  TlsClientAuthenticator,
  X509SvidAuthenticator,
} from '../client-auth/index.js';
import {
  assertionAlgsByProfile,
  type Config,
  ConfigError,
  type ConfigProblem,
  servingMaterialProblems,
} from '../config/index.js';
import { DpopNonces, minNonceSecretBytes } from '../dpop/index.js';
import { OAuthError } from '../errors/index.js';
import {
  CertificateSource,
  PkiError,
  parseCidrs,
  resolveKeyPolicy,
  TrustStore,
} from '../pki/index.js';
import { MemoryRateLimitStore, RedisRateLimitStore } from '../rate-limit/index.js';
import {
  advertisedScopes,
  type ClientKey,
  type ClientRegistry,
  importClientJwks,
  loadRegistry,
  type RemoteKeySet,
  scopeResourceMap,
  supportedAuthMethods,
} from '../registry/index.js';
import { RemoteJwksCache } from '../registry/jwks-uri.js';
import {
  createRedisClient,
  limitClientShare,
  MemoryReplayStore,
  RedisReplayStore,
  type ReplayStore,
} from '../replay/index.js';
import { AccessTokenIssuer, TokenIntrospector } from '../tokens/index.js';
import {
  createWorkloadTrust,
  longestWorkloadClaimSeconds,
  type WorkloadTrust,
  type WorkloadTrustOptions,
} from '../workload/index.js';
import { buildApp } from './app.js';
import { createAuditor } from './audit.js';
import { clientAddress } from './client-address.js';
import { connectionFileBudget, ListenerConnections } from './connections.js';
import { DependencyState } from './dependency-state.js';
import { type CertificateExpirySource, instrumentReplayStore, TollgateMetrics } from './metrics.js';
import { TokenRateLimits } from './rate-limits.js';
import { loadServerIdentity, type ServerIdentity } from './server-identity.js';
import { type ReloadOutcome, type ReloadPart, ServerState } from './state.js';
import { TokenDpop } from './token-dpop.js';
import { TokenEndpoint } from './token-endpoint.js';
import type { HttpRuntime } from './types.js';

export interface TollgateOptions {
  /** pino-compatible logger; false for none. */
  readonly logger: FastifyBaseLogger | false;
  /** Serve HTTPS with the configured certificate (false for `inject()` tests: no listeners). */
  readonly tls?: boolean;
  /** Wall clock, epoch ms (tests). */
  readonly now?: () => number;
  /** Replay store (tests, Redis); the memory store by default. */
  readonly replayStore?: ReplayStore;
  /** Disable load shedding (tests that measure nothing). */
  readonly underPressure?: boolean;
  /** Export Node process metrics too (the serve command; not in tests). */
  readonly processMetrics?: boolean;
  /**
   * A worker of `serve --workers N`: a scrape of /metrics answers with every worker's metrics
   * aggregated by the primary (src/http/cluster-metrics.ts), and an injected replay store is the
   * primary's, which already applies the per-client share.
   */
  readonly clusterWorker?: boolean;
  /** Told of every reload outcome. */
  readonly onReload?: (part: ReloadPart, outcome: ReloadOutcome['outcome']) => void;
  /** Workload trust sources: background polls, transport (tests drive the clock instead). */
  readonly workload?: Pick<WorkloadTrustOptions, 'poll' | 'fetch'>;
}

export interface Tollgate {
  /** The main (TLS) listener's app; `inject()` it in tests. */
  readonly app: FastifyInstance;
  /** The separate mutual-TLS listener's app, when enabled. */
  readonly mtlsApp: FastifyInstance | undefined;
  /** The plain-HTTP listener's app (behind a TLS-terminating proxy), when enabled. */
  readonly plainApp: FastifyInstance | undefined;
  /** The admin listener's app (/metrics, /healthz, /readyz), when enabled. */
  readonly adminApp: FastifyInstance | undefined;
  readonly config: Config;
  /** The endpoint URLs, as published in metadata. */
  readonly endpoints: {
    readonly token: string;
    readonly jwks: string;
    readonly metadata: string;
    readonly mtlsToken: string | undefined;
  };
  /** Starts every enabled listener; returns their addresses. */
  listen(): Promise<string[]>;
  /** Reloads changed files (`force`: all of them, as on SIGHUP); a bad file keeps the old state. */
  reload(force?: boolean): Promise<ReloadOutcome[]>;
  /**
   * The SIGTERM path: /readyz answers 503 and responses say `Connection: close` for
   * `shutdownDrainSeconds`; then the listeners stop accepting, every request already received
   * is answered, idle and half-sent connections are closed, and everything is released.
   * Resolves to `clean: false` only when a received request was still running after
   * `shutdownTimeoutSeconds`.
   */
  shutdown(): Promise<{ readonly clean: boolean }>;
  /** Closes at once (tests): listeners, connections, stores. */
  close(): Promise<void>;
}

/** The assertion algorithms this configuration accepts. */
export function allowedAssertionAlgs(config: Config): readonly string[] {
  return config.clientAuth.signingAlgs ?? assertionAlgsByProfile[config.profile];
}

/** The DPoP proof algorithms this configuration accepts (`dpop_signing_alg_values_supported`). */
export function allowedDpopAlgs(config: Config): readonly string[] {
  return config.dpop.signingAlgs ?? assertionAlgsByProfile[config.profile];
}

/** The nonce source of the token endpoint, when nonces are required. @see RFC 9449 §8 */
function tokenNonces(config: Config): DpopNonces | undefined {
  const settings = config.dpop.nonce;
  if (!settings.required) return undefined;
  const secret = settings.secretFile === null ? undefined : readFileSync(settings.secretFile);
  if (secret !== undefined && secret.length < minNonceSecretBytes) {
    throw new ConfigError([
      {
        path: 'dpop.nonce.secretFile',
        message: `must hold at least ${minNonceSecretBytes} bytes of secret`,
      },
    ]);
  }
  return new DpopNonces({ secret, windowSeconds: settings.windowSeconds, purpose: 'token' });
}

/** Loads the registry of a config (also used by `check-config`). */
export function loadConfiguredRegistry(config: Config): ClientRegistry {
  return loadRegistry(config.registry, {
    allowedAssertionAlgs: allowedAssertionAlgs(config),
    createRemoteKeySet: (url) => createRemoteKeySet(url, config),
    keyPolicy: resolveKeyPolicy(config.keyPolicy),
  });
}

function createRemoteKeySet(url: string, config: Config): RemoteKeySet {
  const cache = new RemoteJwksCache<readonly ClientKey[]>({
    url,
    importKeys: (jwks) => importClientJwks(jwks, resolveKeyPolicy(config.keyPolicy)),
    timeoutMs: config.remoteJwks.timeoutMs,
    maxBytes: config.remoteJwks.maxBytes,
    minRefetchIntervalMs: config.remoteJwks.minRefetchIntervalSeconds * 1000,
  });
  return {
    get: () => cache.get(),
    refreshForUnknownKid: () => cache.refreshForUnknownKid(),
    status: () => cache.status(),
  };
}

/** Loads the client-certificate trust store, or undefined when no trust anchor is configured. */
export async function loadTrustStore(config: Config): Promise<TrustStore | undefined> {
  const files = config.clientCertificates;
  if (files.trustAnchorFiles.length === 0) return undefined;
  return TrustStore.fromFiles(
    {
      anchors: files.trustAnchorFiles,
      intermediates: files.intermediateFiles,
      crls: files.crlFiles,
    },
    {
      crlStaleness: files.crlStaleness,
      requireCrls: files.requireCrls,
      maxChainCertificates: files.maxChainCertificates,
      maxIntermediates: files.maxIntermediates,
      minRsaBits: config.keyPolicy.minRsaBits,
    },
  );
}

/**
 * Named cross-checks between the registry and the listeners: "a tls_client_auth client =>
 * trust anchors exist" and "a certificate client => some listener receives certificates".
 */
export function deploymentProblems(
  config: Config,
  registry: ClientRegistry,
  trustStore: TrustStore | undefined,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [...workloadSourceProblems(config, registry)];
  const idsUsing = (...methods: string[]) =>
    [...registry.clients()]
      .filter((client) => methods.includes(client.authMethod))
      .map((client) => JSON.stringify(client.clientId));
  // Each problem names the clients that need what is missing (at most a few, then a count), so
  // the operator knows which registration depends on it.
  const named = (ids: string[]) =>
    ids.length <= 5 ? ids.join(', ') : `${ids.slice(0, 5).join(', ')} and ${ids.length - 5} more`;
  const chainClients = idsUsing('tls_client_auth');
  if (chainClients.length > 0 && trustStore === undefined) {
    problems.push({
      path: 'clientCertificates.trustAnchorFiles',
      message: `tls_client_auth client(s) ${named(chainClients)} need a trust anchor, and none is configured (there is no default)`,
    });
  }
  const certificateClients = idsUsing('tls_client_auth', 'self_signed_tls_client_auth');
  if (certificateClients.length > 0 && !receivesClientCertificates(config)) {
    problems.push({
      path: 'tls.requestClientCert',
      message: `mutual-TLS client(s) ${named(certificateClients)} need a listener that receives client certificates, and none does (tls.requestClientCert, mtls.enabled, or plain.enabled with proxy.trustedCidrs)`,
    });
  }
  return problems;
}

/**
 * "A workload client => its trust source is configured": a spiffe_id's trust domain has a
 * `spiffe` source, a federated_identity's source is an `oidc-issuer` source.
 */
function workloadSourceProblems(config: Config, registry: ClientRegistry): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const sources = config.workloadIdentity.sources;
  for (const client of registry.clients()) {
    const identity = client.workloadIdentity;
    if (identity === undefined) continue;
    if (identity.kind === 'spiffe') {
      if (
        !sources.some((s) => s.kind === 'spiffe' && s.trustDomain === identity.pattern.trustDomain)
      ) {
        problems.push({
          path: 'workloadIdentity.sources',
          message: `client ${client.clientId}: no spiffe source for trust domain ${identity.pattern.trustDomain}`,
        });
      }
    } else if (!sources.some((s) => s.kind === 'oidc-issuer' && s.name === identity.source)) {
      problems.push({
        path: 'workloadIdentity.sources',
        message: `client ${client.clientId}: no oidc-issuer source named ${identity.source}`,
      });
    }
  }
  return problems;
}

/**
 * The client authentication methods this deployment offers: the key and certificate methods,
 * `spiffe_jwt` and `spiffe_x509` when a SPIFFE trust domain is configured (draft §4), and
 * `federated_jwt` when a workload issuer is.
 */
export function offeredAuthMethods(config: Config): string[] {
  const kinds = new Set(config.workloadIdentity.sources.map((source) => source.kind));
  const certificates = receivesClientCertificates(config);
  return supportedAuthMethods.filter((method) => {
    // RFC 8414 §2: methods "supported by this token endpoint"; a certificate method is not,
    // when no listener can receive a certificate.
    if (
      !certificates &&
      (method === 'tls_client_auth' ||
        method === 'self_signed_tls_client_auth' ||
        method === 'spiffe_x509')
    ) {
      return false;
    }
    if (method === 'spiffe_jwt' || method === 'spiffe_x509') return kinds.has('spiffe');
    if (method === 'federated_jwt') return kinds.has('oidc-issuer');
    return true;
  });
}

/**
 * Whether any listener receives client certificates: the TLS listener asks for one, a separate
 * mutual-TLS listener exists, or the plain listener believes a trusted proxy's header. Without
 * one, no request can carry a certificate, so none can authenticate or bind a token with it.
 *
 * @see RFC 8705 §2, §3 and §5
 */
export function receivesClientCertificates(config: Config): boolean {
  return (
    config.tls.requestClientCert ||
    config.mtls.enabled ||
    (config.plain.enabled && config.proxy.trustedCidrs.length > 0)
  );
}

/** The TLS listener's certificate chain and key; neither has a default outside `serve --dev`. */
function readServerIdentity(config: Config): ServerIdentity {
  const { certFile, keyFile } = config.tls;
  if (certFile === null || keyFile === null) {
    throw new ConfigError(
      servingMaterialProblems(config).filter((problem) => problem.path.startsWith('tls.')),
    );
  }
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** RFC 8414 §3: the metadata URL inserts the well-known segment before the issuer's path. */
export function wellKnownPaths(issuer: string): string[] {
  const path = new URL(issuer).pathname.replace(/\/$/, '');
  return path === ''
    ? ['/.well-known/oauth-authorization-server']
    : [`/.well-known/oauth-authorization-server${path}`];
}

/** BCP 195 (RFC 9325 §4.2): TLS 1.3 AEAD suites, and for TLS 1.2 only ECDHE with AEAD. */
const bcp195Ciphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export async function createTollgate(config: Config, options: TollgateOptions): Promise<Tollgate> {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const initialIdentity = options.tls === false ? undefined : readServerIdentity(config);
  const state = await ServerState.load(config, {
    registry: loadConfiguredRegistry,
    trustStore: loadTrustStore,
    check: (registry, trustStore) => deploymentProblems(config, registry, trustStore),
    now,
    ...(initialIdentity === undefined
      ? {}
      : {
          serverIdentity: {
            initial: initialIdentity,
            load: () =>
              loadServerIdentity(
                config.tls.certFile as string,
                config.tls.keyFile as string,
                new Date(now()),
              ),
          },
        }),
  });
  const metrics = config.metrics.enabled
    ? new TollgateMetrics({
        source: () => metricsSource(state.registry, workloadTrust),
        now,
        processMetrics: options.processMetrics === true,
      })
    : undefined;
  // Redis as the logs see it: one line per change of state, never one per request.
  const redisState = new DependencyState({
    onChange: (up, error) => {
      metrics?.dependencyStateChanges.inc({ dependency: 'redis', state: up ? 'up' : 'down' });
      if (logger === false) return;
      if (up) logger.info({ dependency: 'redis' }, 'redis is reachable again');
      else
        logger.warn(
          { dependency: 'redis', err: { message: (error as Error | undefined)?.message } },
          'redis unreachable: assertions fail closed, rate limits let requests through (logged once until it is back)',
        );
    },
  });
  const stopAggregation =
    options.clusterWorker === true ? metrics?.aggregateAcrossWorkers() : undefined;
  // One Redis connection serves both the replay claims and the shared rate-limit counters.
  // An injected replay store (tests, workers) replaces only the replay claims: Redis rate limits
  // still need their connection.
  const usesRedis =
    (config.replay.store === 'redis' && options.replayStore === undefined) ||
    config.rateLimits.store === 'redis';
  const redisClient = usesRedis
    ? createRedisClient({
        url: config.redis.url,
        sentinels: config.redis.sentinels,
        ...(config.redis.sentinelName === null ? {} : { sentinelName: config.redis.sentinelName }),
        clusterNodes: config.redis.clusterNodes,
        connectTimeoutMs: config.redis.connectTimeoutMs,
        commandTimeoutMs: config.redis.commandTimeoutMs,
        onError: (error) => redisState.down(error),
      })
    : undefined;
  redisClient?.on('ready', () => redisState.up());
  const baseReplayStore =
    options.replayStore ??
    (config.replay.store === 'redis' && redisClient !== undefined
      ? new RedisReplayStore({
          url: config.redis.url,
          connectTimeoutMs: config.redis.connectTimeoutMs,
          commandTimeoutMs: config.redis.commandTimeoutMs,
          keyPrefix: config.redis.keyPrefix,
          client: redisClient,
          replicaAcks: config.redis.replicaAcks,
          replicaAckTimeoutMs: config.redis.replicaAckTimeoutMs,
          dataLossFenceMs: longestClaimMs(config, state.registry),
          clock: now,
          // The replay store's readiness is Redis's state as far as assertions go: one line per
          // change, shared with the connection and the rate limits (never one per request).
          onStateChange: (ready) => {
            if (ready) redisState.up();
            else redisState.down(new Error('the replay store cannot decide claims'));
          },
          onDataLoss: (fenceMs) => {
            if (logger !== false) {
              logger.error(
                { fenceMs },
                'redis lost replay claims: refusing assertions until every lost claim would have expired',
              );
            }
          },
        })
      : new MemoryReplayStore({ maxEntries: config.replay.maxEntries, clock: now }));
  // No client holds more than its share of the store: one client's flood (of assertions, or of
  // introspection calls, which claim too) cannot make every other client's assertions fail.
  // A worker of `serve --workers N` claims through the primary, which applies the share once
  // for all workers (src/cli/serve.ts); applied here too, N workers would allow N shares.
  const sharedReplayStore =
    options.clusterWorker === true && options.replayStore !== undefined
      ? baseReplayStore
      : withClientShare(baseReplayStore, config, now);
  const replayStore =
    metrics === undefined ? sharedReplayStore : instrumentReplayStore(sharedReplayStore, metrics);
  const rateLimitStore =
    config.rateLimits.store === 'redis' && redisClient !== undefined
      ? new RedisRateLimitStore({
          client: redisClient,
          keyPrefix: config.redis.keyPrefix,
          clock: now,
        })
      : new MemoryRateLimitStore({ clock: now, maxKeys: config.rateLimits.maxKeys });
  const limits = config.rateLimits.enabled
    ? new TokenRateLimits({
        store: rateLimitStore,
        settings: config.rateLimits,
        now,
        onLimited: (limit) => metrics?.rateLimited.inc({ limit }),
        onStoreError: (error) => {
          metrics?.rateLimitStoreErrors.inc();
          redisState.down(error);
        },
        onStoreOk: () => redisState.up(),
      })
    : undefined;

  const issuer = config.issuer;
  const issuerUrl = new URL(issuer);
  const routePrefix = issuerUrl.pathname.replace(/\/$/, '');
  const tokenEndpointUrl = `${issuer}/token`;
  const introspectionEndpointUrl = `${issuer}/introspect`;
  const jwksUrl = `${issuer}/jwks`;
  const [metadataPath] = wellKnownPaths(issuer);
  const mtlsBase = config.mtls.enabled
    ? (config.mtls.publicUrl ?? `https://${issuerUrl.hostname}:${config.mtls.port}`)
    : undefined;
  const mtlsTokenEndpoint = mtlsBase === undefined ? undefined : `${mtlsBase}${routePrefix}/token`;
  const allowedAlgs = allowedAssertionAlgs(config);

  const privateKeyJwt = new PrivateKeyJwtAuthenticator({
    issuer,
    legacyAudiences:
      mtlsTokenEndpoint === undefined ? [tokenEndpointUrl] : [tokenEndpointUrl, mtlsTokenEndpoint],
    allowedAlgs,
    clockToleranceSeconds: config.clientAuth.clockToleranceSeconds,
    maxAssertionLifetimeSeconds: config.clientAuth.maxAssertionLifetimeSeconds,
    maxAssertionBytes: config.clientAuth.maxAssertionBytes,
    replayStore,
  });
  const workloadTrust: WorkloadTrust = createWorkloadTrust(config, {
    clock: now,
    ...options.workload,
    onError: (source, error) => {
      if (logger !== false)
        logger.warn(
          { source, err: { message: (error as Error).message } },
          'workload trust source refresh failed',
        );
    },
  });
  const workloadOptions = {
    issuer,
    trust: () => workloadTrust,
    maxAssertionBytes: config.clientAuth.maxAssertionBytes,
    replayStore,
  };
  const dispatcher = new ClientAuthDispatcher({
    registry: () => state.registry,
    privateKeyJwt,
    tls: {
      tls_client_auth: new TlsClientAuthenticator({
        trustStore: () => state.trustStore,
        mtlsTokenEndpoint,
      }),
      self_signed_tls_client_auth: new SelfSignedTlsClientAuthenticator({ mtlsTokenEndpoint }),
      spiffe_x509: new X509SvidAuthenticator({ trust: () => workloadTrust, mtlsTokenEndpoint }),
    },
    workload: {
      spiffe_jwt: new JwtSvidAuthenticator(workloadOptions),
      federated_jwt: new FederatedJwtAuthenticator(workloadOptions),
    },
  });
  const dpopAlgs = allowedDpopAlgs(config);
  const tokenDpop = config.dpop.enabled
    ? new TokenDpop({
        allowedAlgs: dpopAlgs,
        maxAgeSeconds: config.dpop.maxAgeSeconds,
        clockToleranceSeconds: config.dpop.clockToleranceSeconds,
        maxProofBytes: config.dpop.maxProofBytes,
        keyPolicy: resolveKeyPolicy(config.keyPolicy),
        nonces: tokenNonces(config),
        replayStore,
      })
    : undefined;
  const tokenEndpoint = new TokenEndpoint({
    dpop: tokenDpop,
    requireSenderConstraint: config.profile === 'fapi2',
    dispatcher,
    tokens: new AccessTokenIssuer({ issuer, signer: () => state.signer }),
    issuer,
    defaultAudience: config.accessToken.defaultAudience,
    scopeResources: scopeResourceMap(config.accessToken.resourceScopes),
    defaultLifetimeSeconds: config.accessToken.lifetimeSeconds,
    mtlsTokenEndpoint,
    onAuthenticated: async ({ client, method }, certificate) => {
      await limits?.afterAuthentication(client.clientId);
      if (certificate !== undefined && method !== 'private_key_jwt') {
        metrics?.certificatePresented(client.clientId, certificate.leaf.notAfter);
      }
    },
  });
  const scrapers = parseCidrs(config.metrics.allowedCidrs);
  const trustedProxies = parseCidrs(config.proxy.trustedCidrs);
  let draining = false;
  const certificates = new CertificateSource({
    trustedProxies: config.proxy.trustedCidrs,
    proxyFormat: config.proxy.trustedCidrs.length > 0 ? config.proxy.certificateFormat : null,
    nginxHeader: config.proxy.nginxHeader,
    maxHeaderBytes: config.proxy.maxHeaderBytes,
    maxChainCertificates: config.clientCertificates.maxChainCertificates,
    onUntrustedHeader: (peer, header) => {
      metrics?.untrustedProxyHeaders.inc();
      if (logger !== false)
        logger.warn(
          { peer, header },
          'client certificate header ignored (not a trusted proxy, or a TLS connection)',
        );
    },
  });

  // RFC 8414 metadata. `scopes_supported` may come from the registry, so the document is
  // rebuilt once per registry (a reload swaps the registry object) and cached in between.
  const buildMetadataJson = (registry: ClientRegistry): string => {
    const scopes = advertisedScopes(config.scopesSupported, registry);
    return JSON.stringify({
      issuer,
      token_endpoint: tokenEndpointUrl,
      jwks_uri: jwksUrl,
      grant_types_supported: ['client_credentials'],
      // RFC 8414 §3.2: a claim with zero elements is omitted.
      ...(scopes.length === 0 ? {} : { scopes_supported: scopes }),
      // §2 makes this member REQUIRED, §3.2 omits empty arrays; with no authorization endpoint
      // there is no value. The member's own rule wins (errata 7793, reported, would drop it).
      response_types_supported: [],
      token_endpoint_auth_methods_supported: offeredAuthMethods(config),
      token_endpoint_auth_signing_alg_values_supported: [...allowedAlgs],
      // RFC 8705 §3.3: true only when a certificate can reach a listener to bind a token to.
      tls_client_certificate_bound_access_tokens: receivesClientCertificates(config),
      ...(tokenDpop === undefined ? {} : { dpop_signing_alg_values_supported: [...dpopAlgs] }),
      introspection_endpoint: introspectionEndpointUrl,
      introspection_endpoint_auth_methods_supported: offeredAuthMethods(config),
      introspection_endpoint_auth_signing_alg_values_supported: [...allowedAlgs],
      ...(mtlsBase === undefined || mtlsTokenEndpoint === undefined
        ? {}
        : {
            mtls_endpoint_aliases: {
              token_endpoint: mtlsTokenEndpoint,
              introspection_endpoint: `${mtlsBase}${routePrefix}/introspect`,
            },
          }),
    });
  };
  let metadata = { registry: state.registry, json: buildMetadataJson(state.registry) };

  const runtime: HttpRuntime = {
    routePrefix,
    tokenEndpoint,
    introspection: {
      dispatcher,
      introspector: new TokenIntrospector({ issuer, publicKeys: () => state.keys.publicKeys }),
    },
    metadataJson: () => {
      if (metadata.registry !== state.registry) {
        metadata = { registry: state.registry, json: buildMetadataJson(state.registry) };
      }
      return metadata.json;
    },
    jwksJson: () => state.jwksJson,
    certificateOf: (request) => {
      try {
        return certificates.fromRequest({
          socket: request.raw.socket,
          rawHeaders: request.raw.rawHeaders,
        });
      } catch (error) {
        if (!(error instanceof PkiError)) throw error;
        if (error.code === 'duplicate') {
          throw new OAuthError(
            'invalid_request',
            'duplicate_parameter',
            'a client certificate header was sent more than once',
          );
        }
        throw new OAuthError(
          'invalid_client',
          'certificate_malformed',
          'the client certificate cannot be parsed',
          {
            cause: error,
          },
        );
      }
    },
    readiness: () => ({
      checks: {
        replayStore: replayStore.ready(),
        signingKeys: true,
        registry: state.registry.size > 0,
      },
      critical: ['signingKeys', 'registry'],
    }),
    now,
    audit: createAuditor(logger, metrics),
    clientAddress: (request) =>
      clientAddress(request.raw.socket, request.raw.rawHeaders, {
        trusted: trustedProxies,
        header: config.proxy.clientAddressHeader,
      }),
    isRegistered: (clientId) => state.registry.get(clientId) !== undefined,
    draining: () => draining,
    limits,
    metrics:
      metrics === undefined
        ? undefined
        : {
            collector: metrics,
            allowed: (request) =>
              scrapers.check(...normalizedPeer(request.raw.socket.remoteAddress)),
          },
  };

  // The pair being served: the one read at start, or the last good renewal (state.ts).
  const httpsOptions = (requestCert: boolean, identity = state.serverIdentity) =>
    identity === undefined
      ? undefined
      : {
          ...identity,
          minVersion: 'TLSv1.2' as const,
          // Node's default is 120 s; a handshake that has not finished in 10 s is not coming.
          handshakeTimeout: 10_000,
          ciphers: bcp195Ciphers,
          honorCipherOrder: true,
          // Ask for a certificate, never reject at the handshake. No `ca`: the request carries an
          // empty certificate_authorities list, so self-signed clients send theirs too, and every
          // verdict is Tollgate's, answered as an OAuth error.
          requestCert,
          rejectUnauthorized: false,
        };
  const listeners: ListenerConnections[] = [];
  // Every connection holds a descriptor: the listeners share what the open-file limit leaves, so
  // a flood meets the eviction of a full listener, never EMFILE (which ended the process).
  const listenerCount =
    1 +
    (config.mtls.enabled && initialIdentity !== undefined ? 1 : 0) +
    (config.plain.enabled && initialIdentity !== undefined ? 1 : 0) +
    (config.admin.enabled ? 1 : 0);
  const files = connectionFileBudget();
  const maxConnections =
    files === undefined
      ? config.limits.maxConnections
      : Math.min(
          config.limits.maxConnections,
          Math.max(1, Math.floor(files.budget / listenerCount)),
        );
  if (maxConnections < config.limits.maxConnections && logger !== false) {
    logger.warn(
      {
        maxConnections: config.limits.maxConnections,
        perListener: maxConnections,
        openFileLimit: files?.limit,
      },
      'limits.maxConnections lowered to what the open-file limit allows (raise it: ulimit -n, systemd LimitNOFILE)',
    );
  }
  // Accepting as the logs see it: one line when accepts start failing, one when they work again.
  const acceptState = new DependencyState({
    onChange: (up, error) => {
      metrics?.dependencyStateChanges.inc({ dependency: 'accept', state: up ? 'up' : 'down' });
      if (logger === false) return;
      if (up) logger.info({ dependency: 'accept' }, 'accepting connections again');
      else
        logger.error(
          { dependency: 'accept', err: { message: (error as Error | undefined)?.message } },
          'a listener cannot accept connections (logged once until it can again)',
        );
    },
  });
  // RFC 9449 §4.3 check 9: a proof names the URL the client sent it to, which is this listener's
  // public URL (the issuer's, or the mTLS alias), never one taken from the request's Host header.
  const makeApp = async (
    https: ReturnType<typeof httpsOptions>,
    role: 'oauth' | 'admin' = 'oauth',
    proxied = false,
    tokenUrl = tokenEndpointUrl,
  ) => {
    const connections = new ListenerConnections({
      requestTimeoutMs: config.limits.requestTimeoutSeconds * 1000,
      keepAliveTimeoutMs: config.limits.keepAliveTimeoutSeconds * 1000,
      perAddress: config.limits.connectionsPerAddress,
      maxConnections,
      // Behind a proxy every client arrives from the proxy's address.
      ...(proxied
        ? { exempt: (address: string) => isTrustedAddress(trustedProxies, address) }
        : {}),
      // Behind a layer-4 balancer, its PROXY header names the client (proxy-protocol.ts).
      ...(https !== undefined && config.proxy.proxyProtocol
        ? { proxyProtocol: (address: string) => isTrustedAddress(trustedProxies, address) }
        : {}),
      onRefused: () => metrics?.connectionsRefused.inc(),
      onEvicted: () => metrics?.connectionsEvicted.inc(),
      onAcceptError: (error) => acceptState.down(error),
      onAccepted: () => acceptState.up(),
    });
    listeners.push(connections);
    const app = await buildApp({
      runtime,
      connections,
      role,
      tokenEndpointUrl: tokenUrl,
      bodyLimitBytes: config.limits.bodyBytes,
      logger,
      ...(https === undefined ? {} : { https }),
      ...(options.underPressure === false ? {} : { underPressure: config.underPressure }),
      wellKnownPaths: wellKnownPaths(issuer),
    });
    const requestsClientCertificates = https?.requestCert === true;
    app.server.on('secureConnection', (socket: TLSSocket) => {
      // TLS 1.2 renegotiation could swap the client certificate under a cached connection.
      socket.disableRenegotiation();
      // The chain a client sends is not kept in its TLS session: read it while it is here.
      if (requestsClientCertificates) certificates.rememberConnection(socket);
    });
    return app;
  };
  const app = await makeApp(httpsOptions(config.tls.requestClientCert));
  const mtlsApp =
    config.mtls.enabled && initialIdentity !== undefined
      ? await makeApp(httpsOptions(true), 'oauth', false, mtlsTokenEndpoint ?? tokenEndpointUrl)
      : undefined;
  // The plain listener sits behind a proxy that serves the issuer's URL.
  const plainApp =
    config.plain.enabled && initialIdentity !== undefined
      ? await makeApp(undefined, 'oauth', true)
      : undefined;
  // The admin listener is plain HTTP on loopback by default; in `inject()` tests it exists too,
  // so /metrics can be exercised without listening.
  const adminApp = config.admin.enabled ? await makeApp(undefined, 'admin') : undefined;
  const apps = [app, mtlsApp, plainApp, adminApp].filter((one) => one !== undefined);
  // The TLS listeners and whether each asks for a client certificate, to renew their context.
  const tlsApps: Array<readonly [FastifyInstance, boolean]> = [
    [app, config.tls.requestClientCert],
    ...(mtlsApp === undefined ? [] : [[mtlsApp, true] as const]),
  ];

  const reload = async (force: boolean) => {
    const outcomes = await state.reload(force);
    for (const { part, outcome, error } of outcomes) {
      options.onReload?.(part, outcome);
      // A check that found nothing new is not an event: counting it would grow the counter
      // every poll interval while nothing changes.
      if (outcome !== 'unchanged') metrics?.reloads.inc({ part, outcome });
      if (part === 'server_certificate' && outcome === 'reloaded') {
        // New handshakes get the new pair; connections already open keep theirs (Node's
        // setSecureContext). The session ticket keys are kept: a session made under the old
        // certificate was authenticated when it was made, as an open connection was.
        for (const [one, requestCert] of tlsApps) {
          const server = one.server as unknown as TlsServer;
          const context = httpsOptions(requestCert);
          if (context !== undefined)
            server.setSecureContext({ ...context, ticketKeys: server.getTicketKeys() });
        }
      }
      if (part === 'registry' && outcome === 'reloaded') {
        metrics?.retainClients((clientId) => state.registry.get(clientId) !== undefined);
        // A client may now use longer assertions: a later Redis data loss must fence that long.
        if (baseReplayStore instanceof RedisReplayStore)
          baseReplayStore.setDataLossFenceMs(longestClaimMs(config, state.registry));
      }
      if (logger === false || outcome === 'unchanged') continue;
      if (outcome === 'failed')
        logger.error({ part, err: error }, 'reload failed: keeping the previous state');
      else logger.info({ part }, 'reloaded');
    }
    return outcomes;
  };
  const reloadTimer = setInterval(() => {
    reload(false).catch((error: unknown) => {
      if (logger !== false) logger.error({ err: error }, 'reload failed');
    });
  }, config.reload.pollIntervalSeconds * 1000);
  reloadTimer.unref();

  return {
    app,
    mtlsApp,
    plainApp,
    adminApp,
    config,
    endpoints: {
      token: tokenEndpointUrl,
      jwks: jwksUrl,
      metadata: `${issuerUrl.origin}${metadataPath}`,
      mtlsToken: mtlsTokenEndpoint,
    },
    listen: async () => {
      // Fastify cannot tell that the server its factory made speaks TLS: name the scheme here.
      const tls = (address: string) => address.replace(/^http:/, 'https:');
      type Planned = readonly [string, FastifyInstance, { host: string; port: number }, boolean];
      const planned: Planned[] = [
        ['tls', app, config.tls, true],
        ...(mtlsApp === undefined ? [] : [['mtls', mtlsApp, config.mtls, true] as const]),
        ...(plainApp === undefined ? [] : [['plain', plainApp, config.plain, false] as const]),
        ...(adminApp === undefined || options.tls === false
          ? []
          : [['admin', adminApp, config.admin, false] as const]),
      ];
      const addresses: string[] = [];
      for (const [name, one, { host, port }, secure] of planned) {
        try {
          const address = await one.listen({
            host,
            port,
            // Fastify's own "Server listening at" line would say http:// for a TLS listener.
            listenTextResolver: (at) => `Server listening at ${secure ? tls(at) : at}`,
          });
          addresses.push(secure ? tls(address) : address);
        } catch (error) {
          // Fail closed at start-up: one listener that cannot bind (a port in use) must not
          // leave the others serving without the process's signal handling and drain.
          await Promise.all(apps.map((opened) => opened.close().catch(() => {})));
          throw new ListenError(name, host, port, error);
        }
      }
      return addresses;
    },
    reload: (force = true) => reload(force),
    shutdown: async () => {
      draining = true;
      clearInterval(reloadTimer);
      workloadTrust.close();
      await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainSeconds * 1000));
      const deadline = Date.now() + config.shutdownTimeoutSeconds * 1000;
      const running = await Promise.all(listeners.map((one) => one.close(deadline)));
      await Promise.all(apps.map((one) => one.close()));
      await replayStore.close();
      await rateLimitStore.close();
      redisClient?.disconnect();
      return { clean: running.every((count) => count === 0) };
    },
    close: async () => {
      clearInterval(reloadTimer);
      stopAggregation?.();
      workloadTrust.close();
      await Promise.all(listeners.map((one) => one.close(Date.now())));
      await Promise.all(apps.map((one) => one.close()));
      await replayStore.close();
      await rateLimitStore.close();
      redisClient?.disconnect();
    },
  };
}

/** A listener could not bind at start-up; every listener already open has been closed. */
export class ListenError extends Error {
  /** `tls`, `mtls`, `plain` or `admin`: the config section of the listener. */
  readonly listener: string;

  constructor(listener: string, host: string, port: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const inUse = (cause as { code?: unknown } | undefined)?.code === 'EADDRINUSE';
    super(
      `the ${listener} listener cannot listen on ${host}:${port}: ${reason}` +
        (inUse
          ? ` (the port is in use: set ${listener}.port to a free one${listener === 'admin' ? ', 0 to let the system pick, or admin.enabled false' : ''})`
          : ''),
      { cause },
    );
    this.name = 'ListenError';
    this.listener = listener;
  }
}

/**
 * `store` limited to `replay.maxClientShare` of `replay.maxEntries` per client (or as it is when
 * the share is 1): one client's flood of claims cannot fill the store for every other client.
 */
export function withClientShare(
  store: ReplayStore,
  config: Config,
  now: () => number = Date.now,
): ReplayStore {
  if (config.replay.maxClientShare >= 1) return store;
  return limitClientShare(store, {
    maxPerClient: Math.max(1, Math.floor(config.replay.maxEntries * config.replay.maxClientShare)),
    clock: now,
  });
}

/** What the certificate-expiry and jwks_uri gauges read at scrape time. */
function metricsSource(
  registry: ClientRegistry,
  workload: WorkloadTrust | undefined,
): CertificateExpirySource {
  return {
    *workloadBundles() {
      for (const source of workload?.sources() ?? []) {
        if (source.kind !== 'spiffe') continue;
        const status = source.status();
        yield { source: source.name, state: status.state, sequence: status.sequence };
      }
    },
    *certificateExpiries() {
      for (const client of registry.clients()) {
        if (client.keys.kind !== 'inline') continue;
        for (const key of client.keys.keys) {
          if (key.certificate === undefined) continue;
          yield {
            clientId: client.clientId,
            source: 'registered' as const,
            notAfterMs: Date.parse(key.certificate.validTo),
          };
        }
      }
    },
    *remoteJwksStatus() {
      for (const client of registry.clients()) {
        if (client.keys.kind !== 'remote') continue;
        const status = client.keys.remote.status?.();
        if (status !== undefined) yield { clientId: client.clientId, ...status };
      }
    },
  };
}

/** Whether a peer address is in a BlockList of trusted proxies. */
function isTrustedAddress(list: ReturnType<typeof parseCidrs>, address: string): boolean {
  return list.check(...normalizedPeer(address));
}

/** A socket peer address for a BlockList check (IPv4-mapped IPv6 checked as IPv4). */
function normalizedPeer(address: string | undefined): [string, 'ipv4' | 'ipv6'] {
  if (address === undefined) return ['0.0.0.0', 'ipv4'];
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return [mapped, 'ipv4'];
  return [address, address.includes(':') ? 'ipv6' : 'ipv4'];
}

/**
 * The longest a replay claim can need to live: the longest accepted assertion lifetime (server
 * or any client's override), the clock tolerance and the 10 s always-accepted `iat` skew, or a
 * single-use workload token's claim (its source's age cap and tolerance) when that is longer.
 * After a Redis data loss, assertions are refused for this long (RedisReplayStore's fence).
 */
function longestClaimMs(config: Config, registry: ClientRegistry): number {
  let lifetime = config.clientAuth.maxAssertionLifetimeSeconds;
  for (const client of registry.clients())
    lifetime = Math.max(lifetime, client.maxAssertionLifetimeSeconds ?? 0);
  const assertions = lifetime + config.clientAuth.clockToleranceSeconds + 10;
  return Math.max(assertions, longestWorkloadClaimSeconds(config.workloadIdentity.sources)) * 1000;
}
