/**
 * Wires a running Tollgate from a validated Config: registry, keys, replay store, client
 * authentication, token endpoint, metadata, and the Fastify app. Everything is prepared once
 * here; requests only look things up.
 */
import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { ClientAuthDispatcher, PrivateKeyJwtAuthenticator } from '../client-auth/index.js';
import { assertionAlgsByProfile, type Config } from '../config/index.js';
import type { OAuthError } from '../errors/index.js';
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
import { AccessTokenIssuer, loadSigningKeys, type SigningKeySet } from '../tokens/index.js';
import { buildApp } from './app.js';
import { type TokenAudit, TokenEndpoint } from './token-endpoint.js';
import type { HttpRuntime } from './types.js';

export interface TollgateOptions {
  /** pino-compatible logger; false for none. */
  readonly logger: FastifyBaseLogger | false;
  /** Serve HTTPS with the configured certificate (false for `inject()` tests). */
  readonly tls?: boolean;
  /** Wall clock, epoch ms (tests). */
  readonly now?: () => number;
  /** Replay store (tests, Redis); the memory store by default. */
  readonly replayStore?: ReplayStore;
  /** Disable load shedding (tests that measure nothing). */
  readonly underPressure?: boolean;
}

export interface Tollgate {
  readonly app: FastifyInstance;
  readonly config: Config;
  /** The endpoint URLs, as published in metadata. */
  readonly endpoints: { readonly token: string; readonly jwks: string; readonly metadata: string };
  listen(): Promise<string>;
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

/** RFC 8414 §3: the metadata URL inserts the well-known segment before the issuer's path. */
export function wellKnownPaths(issuer: string): string[] {
  const path = new URL(issuer).pathname.replace(/\/$/, '');
  return path === ''
    ? ['/.well-known/oauth-authorization-server']
    : [`/.well-known/oauth-authorization-server${path}`];
}

export async function createTollgate(config: Config, options: TollgateOptions): Promise<Tollgate> {
  const now = options.now ?? Date.now;
  const registry = loadConfiguredRegistry(config);
  const keys: SigningKeySet = loadSigningKeys(
    config.signingKeys.file,
    config.accessToken.signingAlg,
  );
  const replayStore =
    options.replayStore ?? new MemoryReplayStore({ maxEntries: config.replay.maxEntries });

  const issuer = config.issuer;
  const tokenEndpointUrl = `${issuer}/token`;
  const jwksUrl = `${issuer}/jwks`;
  const origin = new URL(issuer).origin;
  const [metadataPath] = wellKnownPaths(issuer);
  const allowedAlgs = allowedAssertionAlgs(config);

  const privateKeyJwt = new PrivateKeyJwtAuthenticator({
    issuer,
    legacyAudiences: [tokenEndpointUrl],
    allowedAlgs,
    clockToleranceSeconds: config.clientAuth.clockToleranceSeconds,
    maxAssertionLifetimeSeconds: config.clientAuth.maxAssertionLifetimeSeconds,
    maxAssertionBytes: config.clientAuth.maxAssertionBytes,
    replayStore,
  });
  const dispatcher = new ClientAuthDispatcher({ registry: () => registry, privateKeyJwt });
  const tokens = new AccessTokenIssuer({ issuer, signer: () => keys.signer });
  const tokenEndpoint = new TokenEndpoint({
    dispatcher,
    tokens,
    issuer,
    defaultAudience: config.accessToken.defaultAudience,
    defaultLifetimeSeconds: config.accessToken.lifetimeSeconds,
    mtlsTokenEndpoint: undefined,
  });

  const metadata = {
    issuer,
    token_endpoint: tokenEndpointUrl,
    jwks_uri: jwksUrl,
    grant_types_supported: ['client_credentials'],
    response_types_supported: [],
    token_endpoint_auth_methods_supported: [...supportedAuthMethods],
    token_endpoint_auth_signing_alg_values_supported: [...allowedAlgs],
    tls_client_certificate_bound_access_tokens: true,
  };
  const metadataJson = JSON.stringify(metadata);
  const jwksJson = JSON.stringify(keys.publicJwks);
  const logger = options.logger;

  const runtime: HttpRuntime = {
    routePrefix: new URL(issuer).pathname.replace(/\/$/, ''),
    tokenEndpoint,
    metadataJson: () => metadataJson,
    jwksJson: () => jwksJson,
    certificateOf: () => undefined,
    readiness: () => ({
      replayStore: replayStore.ready(),
      signingKeys: true,
      registry: registry.size > 0,
    }),
    now,
    audit: (
      request,
      endpoint,
      outcome,
      error: OAuthError | undefined,
      audit: TokenAudit,
      startedNs,
    ) => {
      if (logger === false) return;
      const line = {
        audit: endpoint,
        outcome,
        reqId: request.id,
        peer: request.socket.remoteAddress,
        client_id: audit.clientId,
        method: audit.method,
        error: error?.code,
        reason: error?.reason,
        jti: audit.jti,
        token_jti: audit.tokenJti,
        scope: audit.scope,
        aud: audit.aud,
        x5t: audit.x5tS256,
        legacy_audience: audit.legacyAudience,
        ms: Number(process.hrtime.bigint() - startedNs) / 1e6,
      };
      if (outcome === 'rejected' && error?.status === 500)
        logger.error({ ...line, err: error.cause }, 'token request failed');
      else if (audit.legacyAudience === true)
        logger.warn(line, 'token request (legacy audience accepted)');
      else logger.info(line, 'token request');
    },
  };

  const https =
    options.tls === false
      ? undefined
      : {
          cert: readFileSync(config.tls.certFile),
          key: readFileSync(config.tls.keyFile),
          minVersion: 'TLSv1.2' as const,
        };
  const app = await buildApp({
    runtime,
    bodyLimitBytes: config.limits.bodyBytes,
    logger,
    ...(https === undefined ? {} : { https }),
    ...(options.underPressure === false ? {} : { underPressure: config.underPressure }),
    wellKnownPaths: wellKnownPaths(issuer),
  });
  app.addHook('onClose', async () => {
    await replayStore.close();
  });

  return {
    app,
    config,
    endpoints: { token: tokenEndpointUrl, jwks: jwksUrl, metadata: `${origin}${metadataPath}` },
    listen: () => app.listen({ host: config.tls.host, port: config.tls.port }),
    close: () => app.close(),
  };
}
