/**
 * Test harness: a Tollgate built from a temporary folder (signing keys, registry), with keys made
 * by the same code as the dev CA. Most tests drive it with `app.inject()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { JWK } from 'jose';
import { pino } from 'pino';
import { inject } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest, type TokenResult } from '../../src/client/token-request.js';
import { type Config, type ConfigInput, loadConfig } from '../../src/config/index.js';
import {
  generateSigningJwk as generateClientJwk,
  type SigningJwk,
  type SigningJwkAlg,
} from '../../src/dev-ca/index.js';
import { createTollgate, type Tollgate, type TollgateOptions } from '../../src/http/index.js';
import type { ClientMetadata } from '../../src/registry/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';

export const testIssuer = 'https://tollgate.test';

let loggers = 0;

/**
 * Test servers log to the suite's log folder (see test/global-setup.ts), where the whole run's
 * logs are searched for secrets afterwards; without that folder, they do not log.
 */
export function testLogger(): FastifyBaseLogger | false {
  const dir = inject('tollgateLogDir');
  if (dir === undefined) return false;
  loggers++;
  return pino(
    { level: 'info' },
    pino.destination({ dest: join(dir, `${process.pid}-${loggers}.log`), sync: true }),
  );
}

export interface TestTollgate extends Tollgate {
  readonly dir: string;
  readonly serverPublicJwks: { keys: JWK[] };
  dispose(): Promise<void>;
}

export async function makeTollgate(options: {
  clients: unknown[];
  /** A registry file instead of inline clients (for reload tests). */
  registryFile?: string;
  config?: ConfigInput;
  tollgate?: Partial<TollgateOptions>;
}): Promise<TestTollgate> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-test-'));
  const signingAlg = options.config?.accessToken?.signingAlg ?? 'ES256';
  const jwk = await generateSigningJwk(signingAlg);
  const signingKeysFile = join(dir, 'signing-keys.json');
  writeSigningKeyFile(signingKeysFile, { active_kid: jwk.kid as string, keys: [jwk] });
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = jwk;
  const config: Config = loadConfig({
    env: {},
    cwd: dir,
    overrides: {
      issuer: testIssuer,
      clientCertificates: { trustAnchorFiles: [], intermediateFiles: [], crlFiles: [] },
      // The admin listener on a port the OS picks: test servers run side by side.
      admin: { enabled: true, host: '127.0.0.1', port: 0 },
      ...options.config,
      signingKeys: { file: signingKeysFile },
      registry: { file: options.registryFile ?? null, clients: options.clients },
    },
  });
  const tollgate = await createTollgate(config, {
    logger: testLogger(),
    tls: false,
    underPressure: false,
    ...options.tollgate,
  });
  return {
    ...tollgate,
    dir,
    serverPublicJwks: { keys: [publicJwk] },
    async dispose() {
      await tollgate.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface JwtClient {
  readonly clientId: string;
  readonly key: SigningJwk;
  readonly metadata: ClientMetadata;
}

/** A private_key_jwt client with a fresh key from the dev CA's key generator. */
export async function makeJwtClient(
  clientId: string,
  alg: SigningJwkAlg = 'ES256',
  extra: Partial<ClientMetadata> = {},
): Promise<JwtClient> {
  const key = await generateClientJwk(alg);
  return {
    clientId,
    key,
    metadata: {
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      jwks: { keys: [key.publicJwk] },
      scope: 'read write',
      ...extra,
    },
  };
}

/** A fresh client assertion (private_key_jwt) by `client` for `audience`, made by the SDK. */
export function assertionOf(
  client: { readonly clientId: string; readonly key: { readonly privateJwk: JWK } },
  audience: string,
  lifetimeSeconds?: number,
): Promise<string> {
  return createClientAssertion({
    clientId: client.clientId,
    audience,
    key: client.key.privateJwk,
    ...(lifetimeSeconds === undefined ? {} : { lifetimeSeconds }),
  });
}

/**
 * A client_credentials request authenticated with `clientAssertion`, as the SDK sends it, over
 * TLS trusting `ca` (to a spawned `tollgate serve`, usually); `timeoutMs` as the SDK's option.
 */
export function postWithAssertion(
  tokenEndpoint: string,
  ca: string,
  clientAssertion: string,
  timeoutMs?: number,
): Promise<TokenResult> {
  return postTokenRequest({
    tokenEndpoint,
    params: {
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: clientAssertion,
    },
    ca,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

/** Encodes form parameters (a value array repeats the parameter). */
export function form(params: Record<string, string | string[] | undefined>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(one)}`);
    }
  }
  return parts.join('&');
}

export const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' } as const;
