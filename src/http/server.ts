/**
 * Wires a running Tollgate from a validated Config: registry, keys, replay store, trust store,
 * client authentication, token endpoint, metadata, and one Fastify app per listener (TLS, a
 * separate mutual-TLS alias, plain HTTP behind a proxy). Everything is prepared once here;
 * requests only look things up.
 */
import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import {
  ClientAuthDispatcher,
  PrivateKeyJwtAuthenticator,
  SelfSignedTlsClientAuthenticator,
  TlsClientAuthenticator,
} from '../client-auth/index.js';
import {
  assertionAlgsByProfile,
  type Config,
  ConfigError,
  type ConfigProblem,
} from '../config/index.js';
import { OAuthError } from '../errors/index.js';
import { CertificateSource, PkiError, TrustStore } from '../pki/index.js';
import {
  type ClientKey,
  type ClientRegistry,
  importClientJwks,
  loadRegistry,
  type RemoteKeySet,
  supportedAuthMethods,
} from '../registry/index.js';
import { RemoteJwksCache } from '../registry/jwks-uri.js';
import { MemoryReplayStore, type ReplayStore } from '../replay/index.js';
import { AccessTokenIssuer, loadSigningKeys } from '../tokens/index.js';
import { buildApp } from './app.js';
import { createAuditor } from './audit.js';
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
}

export interface Tollgate {
  /** The main (TLS) listener's app; `inject()` it in tests. */
  readonly app: FastifyInstance;
  /** The separate mutual-TLS listener's app, when enabled. */
  readonly mtlsApp: FastifyInstance | undefined;
  /** The plain-HTTP listener's app (behind a TLS-terminating proxy), when enabled. */
  readonly plainApp: FastifyInstance | undefined;
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
  close(): Promise<void>;
}

/** The assertion algorithms this configuration accepts. */
export function allowedAssertionAlgs(config: Config): readonly string[] {
  return config.clientAuth.signingAlgs ?? assertionAlgsByProfile[config.profile];
}

/** Loads the registry of a config (also used by `check-config`). */
export function loadConfiguredRegistry(config: Config): ClientRegistry {
  return loadRegistry(config.registry, {
    allowedAssertionAlgs: allowedAssertionAlgs(config),
    createRemoteKeySet: (url) => createRemoteKeySet(url, config),
  });
}

function createRemoteKeySet(url: string, config: Config): RemoteKeySet {
  const cache = new RemoteJwksCache<readonly ClientKey[]>({
    url,
    importKeys: importClientJwks,
    timeoutMs: config.remoteJwks.timeoutMs,
    maxBytes: config.remoteJwks.maxBytes,
    minRefetchIntervalMs: config.remoteJwks.minRefetchIntervalSeconds * 1000,
  });
  return { get: () => cache.get(), refreshForUnknownKid: () => cache.refreshForUnknownKid() };
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
  const problems: ConfigProblem[] = [];
  const methods = new Set([...registry.clients()].map((client) => client.authMethod));
  if (methods.has('tls_client_auth') && trustStore === undefined) {
    problems.push({
      path: 'clientCertificates.trustAnchorFiles',
      message: 'tls_client_auth clients are registered, but no trust anchor is configured',
    });
  }
  const certificateClients =
    methods.has('tls_client_auth') || methods.has('self_signed_tls_client_auth');
  const canReceive =
    config.tls.requestClientCert ||
    config.mtls.enabled ||
    (config.plain.enabled && config.proxy.trustedCidrs.length > 0);
  if (certificateClients && !canReceive) {
    problems.push({
      path: 'tls.requestClientCert',
      message:
        'mutual-TLS clients are registered, but no listener receives client certificates (tls.requestClientCert, mtls.enabled, or plain.enabled with proxy.trustedCidrs)',
    });
  }
  return problems;
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
  const registry = loadConfiguredRegistry(config);
  let trustStore = await loadTrustStore(config);
  const problems = deploymentProblems(config, registry, trustStore);
  if (problems.length > 0) throw new ConfigError(problems);
  const keys = loadSigningKeys(config.signingKeys.file, config.accessToken.signingAlg);
  const replayStore =
    options.replayStore ?? new MemoryReplayStore({ maxEntries: config.replay.maxEntries });

  const issuer = config.issuer;
  const issuerUrl = new URL(issuer);
  const routePrefix = issuerUrl.pathname.replace(/\/$/, '');
  const tokenEndpointUrl = `${issuer}/token`;
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
  const dispatcher = new ClientAuthDispatcher({
    registry: () => registry,
    privateKeyJwt,
    tls: {
      tls_client_auth: new TlsClientAuthenticator({
        trustStore: () => trustStore,
        mtlsTokenEndpoint,
      }),
      self_signed_tls_client_auth: new SelfSignedTlsClientAuthenticator({ mtlsTokenEndpoint }),
    },
  });
  const tokenEndpoint = new TokenEndpoint({
    dispatcher,
    tokens: new AccessTokenIssuer({ issuer, signer: () => keys.signer }),
    issuer,
    defaultAudience: config.accessToken.defaultAudience,
    defaultLifetimeSeconds: config.accessToken.lifetimeSeconds,
    mtlsTokenEndpoint,
  });
  const certificates = new CertificateSource({
    trustedProxies: config.proxy.trustedCidrs,
    proxyFormat: config.proxy.trustedCidrs.length > 0 ? config.proxy.certificateFormat : null,
    nginxHeader: config.proxy.nginxHeader,
    maxHeaderBytes: config.proxy.maxHeaderBytes,
    maxChainCertificates: config.clientCertificates.maxChainCertificates,
    onUntrustedHeader: (peer, header) => {
      if (logger !== false)
        logger.warn({ peer, header }, 'client certificate header from an untrusted peer ignored');
    },
  });

  const metadataJson = JSON.stringify({
    issuer,
    token_endpoint: tokenEndpointUrl,
    jwks_uri: jwksUrl,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: [...supportedAuthMethods],
    token_endpoint_auth_signing_alg_values_supported: [...allowedAlgs],
    tls_client_certificate_bound_access_tokens: true,
    ...(mtlsTokenEndpoint === undefined
      ? {}
      : { mtls_endpoint_aliases: { token_endpoint: mtlsTokenEndpoint } }),
  });
  const jwksJson = JSON.stringify(keys.publicJwks);

  const runtime: HttpRuntime = {
    routePrefix,
    tokenEndpoint,
    metadataJson: () => metadataJson,
    jwksJson: () => jwksJson,
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
      replayStore: replayStore.ready(),
      signingKeys: true,
      registry: registry.size > 0,
    }),
    now,
    audit: createAuditor(logger),
  };

  const serverIdentity =
    options.tls === false
      ? undefined
      : { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) };
  const httpsOptions = (requestCert: boolean) =>
    serverIdentity === undefined
      ? undefined
      : {
          ...serverIdentity,
          minVersion: 'TLSv1.2' as const,
          ciphers: bcp195Ciphers,
          honorCipherOrder: true,
          // Ask for a certificate, never reject at the handshake. No `ca`: the request carries an
          // empty certificate_authorities list, so self-signed clients send theirs too, and every
          // verdict is Tollgate's, answered as an OAuth error.
          requestCert,
          rejectUnauthorized: false,
        };
  const makeApp = async (https: ReturnType<typeof httpsOptions>) => {
    const app = await buildApp({
      runtime,
      bodyLimitBytes: config.limits.bodyBytes,
      logger,
      ...(https === undefined ? {} : { https }),
      ...(options.underPressure === false ? {} : { underPressure: config.underPressure }),
      wellKnownPaths: wellKnownPaths(issuer),
    });
    // TLS 1.2 renegotiation could swap the client certificate under a cached connection.
    app.server.on('secureConnection', (socket: { disableRenegotiation?: () => void }) => {
      socket.disableRenegotiation?.();
    });
    return app;
  };
  const app = await makeApp(httpsOptions(config.tls.requestClientCert));
  const mtlsApp =
    config.mtls.enabled && serverIdentity !== undefined
      ? await makeApp(httpsOptions(true))
      : undefined;
  const plainApp =
    config.plain.enabled && serverIdentity !== undefined ? await makeApp(undefined) : undefined;
  const apps = [app, mtlsApp, plainApp].filter((one) => one !== undefined);

  // CRL and anchor files are re-read when they change; a bad new file keeps the old store.
  const reloadTimer = setInterval(() => {
    const current = trustStore;
    current?.reload().then(
      (next) => {
        if (next === current) return;
        trustStore = next;
        if (logger !== false) logger.info('client certificate trust store reloaded');
      },
      (error: unknown) => {
        if (logger !== false)
          logger.error({ err: error }, 'trust store reload failed; keeping the previous one');
      },
    );
  }, config.clientCertificates.reloadIntervalSeconds * 1000);
  reloadTimer.unref();

  return {
    app,
    mtlsApp,
    plainApp,
    config,
    endpoints: {
      token: tokenEndpointUrl,
      jwks: jwksUrl,
      metadata: `${issuerUrl.origin}${metadataPath}`,
      mtlsToken: mtlsTokenEndpoint,
    },
    listen: async () => {
      const addresses = [await app.listen({ host: config.tls.host, port: config.tls.port })];
      if (mtlsApp !== undefined)
        addresses.push(await mtlsApp.listen({ host: config.mtls.host, port: config.mtls.port }));
      if (plainApp !== undefined)
        addresses.push(await plainApp.listen({ host: config.plain.host, port: config.plain.port }));
      return addresses;
    },
    close: async () => {
      clearInterval(reloadTimer);
      await Promise.all(apps.map((one) => one.close()));
      await replayStore.close();
    },
  };
}
