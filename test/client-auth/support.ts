/**
 * Unit-test support for the client-auth strategies: a registry built by the real registry loader,
 * requests with injected parameters and clock, and certificates presented the way a trusted proxy
 * forwards them (RFC 9440), so each authenticator runs without an HTTP app.
 */
import {
  type ClientAuthRequest,
  type PresentedCertificate,
  PrivateKeyJwtAuthenticator,
} from '../../src/client-auth/index.js';
import { CertificateSource } from '../../src/pki/index.js';
import {
  type ClientRegistry,
  loadRegistry,
  type RegisteredClient,
  type RemoteKeySet,
} from '../../src/registry/index.js';
import { MemoryReplayStore, type ReplayStore } from '../../src/replay/index.js';

export const issuer = 'https://tollgate.test';
export const allowedAlgs = ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'] as const;

/** Loads `clients` with the real validator; `remote` serves every jwks_uri. */
export function registryOf(
  clients: readonly unknown[],
  remote: (url: string) => RemoteKeySet = () => {
    throw new Error('no jwks_uri expected');
  },
): ClientRegistry {
  return loadRegistry(
    { file: null, clients },
    { allowedAssertionAlgs: allowedAlgs, createRemoteKeySet: remote },
  );
}

/** The registered client `clientId`, failing the test when it is absent. */
export function clientOf(registry: ClientRegistry, clientId: string): RegisteredClient {
  const client = registry.get(clientId);
  if (client === undefined) throw new Error(`${clientId} is not registered`);
  return client;
}

export function requestOf(
  params: Record<string, string>,
  extra: Partial<Omit<ClientAuthRequest, 'params'>> = {},
): ClientAuthRequest {
  return {
    params: { get: (name) => params[name] },
    authorization: undefined,
    certificate: undefined,
    nowMs: Date.now(),
    ...extra,
  };
}

export function privateKeyJwtOf(
  options: { replayStore?: ReplayStore; legacyAudiences?: readonly string[] } = {},
): PrivateKeyJwtAuthenticator {
  return new PrivateKeyJwtAuthenticator({
    issuer,
    legacyAudiences: options.legacyAudiences ?? [`${issuer}/token`],
    allowedAlgs,
    clockToleranceSeconds: 30,
    maxAssertionLifetimeSeconds: 300,
    maxAssertionBytes: 8192,
    replayStore: options.replayStore ?? upForAnHour(),
  });
}

/**
 * A memory replay store of a server that has been up for an hour, so that its restart fence
 * covers every assertion a test signed before creating the authenticator. A store created after
 * the signature may start in the next second and refuse it as issued before the restart
 * (`assertion_predates_replay_record`): correct for a real restart, a flake here when the second
 * turns between the two under load. The fence has its own tests.
 */
export function upForAnHour(maxEntries = 100): MemoryReplayStore {
  return new MemoryReplayStore({ maxEntries, startedAtMs: Date.now() - 3_600_000 });
}

const proxySource = new CertificateSource({
  trustedProxies: ['127.0.0.1'],
  proxyFormat: 'rfc9440',
});

/** `der` (and its chain) as presented by a trusted RFC 9440 proxy on 127.0.0.1. */
export function presented(
  der: Uint8Array,
  chain: readonly Uint8Array[] = [],
): PresentedCertificate {
  const field = (bytes: Uint8Array) => `:${Buffer.from(bytes).toString('base64')}:`;
  const rawHeaders = ['Client-Cert', field(der)];
  if (chain.length > 0) rawHeaders.push('Client-Cert-Chain', chain.map(field).join(', '));
  const certificate = proxySource.fromRequest({
    socket: { encrypted: false, remoteAddress: '127.0.0.1' },
    rawHeaders,
  });
  if (certificate === undefined) throw new Error('the proxy headers carried no certificate');
  return certificate;
}
