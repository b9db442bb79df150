/**
 * The SDK (RFC 8414 metadata) and the resource verifier (`jwks_uri`) revalidate what they hold
 * with `If-None-Match` against a real Tollgate over TLS, counted by the server's own
 * `tollgate_http_requests_total` (RFC 9110 §13.1.2, §15.4.5): the second fetch is a 304, a key
 * rotation is still a 200 with the new keys, and a hostile endpoint's 304 never gives the
 * verifier keys it did not validate. Before, neither side sent a validator (no 304 ever).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenClient, TokenClientError, type TokenClientOptions } from '../../src/client/index.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import {
  JwksFetchError,
  ResourceError,
  remoteJwks,
  verifyAccessToken,
} from '../../src/resource/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { generateKeyPairSync } from '../helpers/keys.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';

const audience = 'https://api.test/orders';
const metadataRoute = '/.well-known/oauth-authorization-server';

describe('conditional GET from the SDK and the verifier against Tollgate', () => {
  let ca: DevCa;
  let dir: string;
  let server: MtlsTollgate;
  let service: IssuedClientCertificate;
  let files: { cert: string; key: string };

  /** The server's count of GETs of `route` answered with `status`. */
  const served = async (route: string, status: number): Promise<number> => {
    const admin = server.tg.adminApp;
    if (admin === undefined) throw new Error('no admin listener');
    const text = (await admin.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text
      .split('\n')
      .find((one) =>
        one.startsWith(
          `tollgate_http_requests_total{route="${route}",method="GET",status="${status}"} `,
        ),
      );
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  /** The registered mTLS client, talking to this Tollgate. */
  const sdk = (extra: Pick<TokenClientOptions, 'discoveryTtlSeconds' | 'now'>) =>
    new TokenClient({
      issuer: server.issuer,
      auth: {
        method: 'tls_client_auth',
        clientId: 'svc-revalidate',
        certFile: files.cert,
        keyFile: files.key,
      },
      ca: ca.root.certPem,
      ...extra,
    });

  const rotate = async (): Promise<string> => {
    const keyFile = join(server.tg.dir, 'signing-keys.json');
    const current = JSON.parse(await readFile(keyFile, 'utf8')) as { keys: never[] };
    const added = await generateSigningJwk('ES256');
    writeSigningKeyFile(keyFile, {
      active_kid: added.kid as string,
      keys: [...current.keys, added],
    });
    expect(await server.tg.reload(true)).toContainEqual({
      part: 'signing_keys',
      outcome: 'reloaded',
    });
    return added.kid as string;
  };

  beforeAll(async () => {
    ca = await createDevCa();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-revalidate-'));
    service = await ca.issueClient({ clientId: 'svc-revalidate' });
    files = { cert: join(dir, 'chain.pem'), key: join(dir, 'key.pem') };
    await writeFile(files.cert, service.chainPem);
    await writeFile(files.key, service.keyPem, { mode: 0o600 });
    server = await startMtlsTollgate({
      ca,
      clients: [
        {
          client_id: 'svc-revalidate',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: service.subject,
          scope: 'read',
        },
      ],
      config: {
        accessToken: { defaultAudience: audience },
        reload: { pollIntervalSeconds: 3600 },
      },
    });
  });
  afterAll(async () => {
    await server?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('the SDK revalidates its metadata: 304 the second time, and it keeps working', async () => {
    let nowMs = Date.now();
    const client = sdk({ discoveryTtlSeconds: 60, now: () => nowMs });
    const fulls = await served(metadataRoute, 200);
    const revalidated = await served(metadataRoute, 304);
    const first = await client.getToken();
    expect(await served(metadataRoute, 200)).toBe(fulls + 1);
    expect(await served(metadataRoute, 304)).toBe(revalidated);

    // Past discoveryTtlSeconds the next token request rediscovers: with the tag, so a 304.
    nowMs += 61_000;
    const second = await client.getToken({ forceRefresh: true });
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(await served(metadataRoute, 304)).toBe(revalidated + 1);
    expect(await served(metadataRoute, 200)).toBe(fulls + 1);

    // The 304 counted as a fresh fetch: within the TTL again, no request at all.
    nowMs += 30_000;
    await client.getToken({ forceRefresh: true });
    expect(await served(metadataRoute, 304)).toBe(revalidated + 1);
    expect(await served(metadataRoute, 200)).toBe(fulls + 1);
  });

  it('the verifier revalidates the JWKS: 304 the second time, a rotation is a 200 with the new key', async () => {
    const client = sdk({});
    const jwks = remoteJwks(`${server.base}/jwks`, { ca: ca.root.certPem, cooldownSeconds: 0 });
    const verify = async (token: string) =>
      verifyAccessToken(token, {
        issuer: server.issuer,
        audience,
        jwks,
        certificateThumbprint: thumbprintOf(service.chainPem),
      });
    const fulls = await served('/jwks', 200);
    const revalidated = await served('/jwks', 304);

    const before = await client.getToken();
    expect((await verify(before.accessToken)).clientId).toBe('svc-revalidate');
    expect(await served('/jwks', 200)).toBe(fulls + 1);
    await jwks.reload();
    expect(await served('/jwks', 304)).toBe(revalidated + 1);
    expect(await served('/jwks', 200)).toBe(fulls + 1);
    // The held set is still in use after the 304.
    expect((await verify(before.accessToken)).clientId).toBe('svc-revalidate');

    const kid = await rotate();
    const after = await client.getToken({ forceRefresh: true });
    expect(
      JSON.parse(Buffer.from(after.accessToken.split('.')[0] ?? '', 'base64url').toString()),
    ).toMatchObject({ kid });
    // Unknown kid: one refetch with the old tag, answered 200 with the new set.
    expect((await verify(after.accessToken)).kid).toBe(kid);
    expect(await served('/jwks', 200)).toBe(fulls + 2);
    expect(await served('/jwks', 304)).toBe(revalidated + 1);
    await jwks.reload();
    expect(await served('/jwks', 304)).toBe(revalidated + 2);
    expect(claimsOf(after.accessToken).client_id).toBe('svc-revalidate');
  });
});

describe('a hostile endpoint answering 304', () => {
  let ca: DevCa;
  let hostile: Server;
  let base: string;
  /** What the endpoint answers next, by path. */
  let mode: 'not-modified' | 'full' | 'not-modified-with-keys' | 'not-modified-other-tag';
  const conditions: (string | undefined)[] = [];
  const paths: string[] = [];
  let dir: string;
  /** An mTLS TokenClient of this issuer (the hostile endpoint checks no certificate). */
  const sdk = (extra: Partial<TokenClientOptions> = {}) =>
    new TokenClient({
      issuer: base,
      auth: {
        method: 'tls_client_auth',
        clientId: 'svc',
        certFile: join(dir, 'chain.pem'),
        keyFile: join(dir, 'key.pem'),
      },
      ca: ca.root.certPem,
      retry: { maxAttempts: 1 },
      ...extra,
    });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const held = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'held', alg: 'ES256' };
  const smuggled = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const smuggledJwk = {
    ...(smuggled.publicKey.export({ format: 'jwk' }) as JWK),
    kid: 'smuggled',
    alg: 'ES256',
  };

  const mint = (key: typeof privateKey, kid: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: 'svc', jti: `j-${kid}-${now}` })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(base)
      .setSubject('svc')
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(key);
  };

  beforeAll(async () => {
    ca = await createDevCa();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-hostile-304-'));
    const client = await ca.issueClient({ clientId: 'svc' });
    await writeFile(join(dir, 'chain.pem'), client.chainPem);
    await writeFile(join(dir, 'key.pem'), client.keyPem, { mode: 0o600 });
    const identity = await ca.issueServer();
    const metadata = (tokenEndpoint: string) =>
      JSON.stringify({ issuer: base, token_endpoint: tokenEndpoint });
    hostile = createServer({ cert: identity.chainPem, key: identity.keyPem }, (req, res) => {
      const isMetadata = req.url === '/.well-known/oauth-authorization-server';
      paths.push(req.url ?? '');
      if (req.url === '/token') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            access_token: `t${paths.length}`,
            token_type: 'Bearer',
            expires_in: 60,
          }),
        );
        return;
      }
      conditions.push(req.headers['if-none-match']);
      if (mode === 'full') {
        res.setHeader('etag', '"held-tag"');
        res.setHeader('content-type', 'application/json');
        res.end(isMetadata ? metadata(`${base}/token`) : JSON.stringify({ keys: [held] }));
        return;
      }
      // A 304 carrying a document it hopes the client reads: other keys, another endpoint.
      const body =
        mode !== 'not-modified-with-keys'
          ? ''
          : isMetadata
            ? metadata('https://127.0.0.1:1/stolen')
            : JSON.stringify({ keys: [smuggledJwk] });
      const socket = req.socket;
      socket.write(
        `HTTP/1.1 304 Not Modified\r\netag: ${mode === 'not-modified-other-tag' ? '"other"' : '"held-tag"'}\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      socket.end();
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => hostile.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('a 304 when nothing is held leaves the verifier without keys (503, never a key)', async () => {
    mode = 'not-modified';
    const jwks = remoteJwks(`${base}/jwks`, { ca: ca.root.certPem, failureCooldownSeconds: 0 });
    await expect(jwks.reload()).rejects.toThrow(JwksFetchError);
    await expect(jwks.reload()).rejects.toThrow(
      /304 Not Modified to a request without If-None-Match/,
    );
    const token = await mint(privateKey, 'held');
    const failure = await verifyAccessToken(token, { issuer: base, audience, jwks }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ResourceError);
    expect((failure as ResourceError).reason).toBe('jwks_unavailable');
    expect((failure as ResourceError).status).toBe(503);
    expect(conditions.at(-1)).toBeUndefined();
  });

  it('the SDK refuses a 304 to its first discovery (invalid_metadata)', async () => {
    mode = 'not-modified';
    const client = sdk();
    const sent = conditions.length;
    const failure = await client.getToken().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TokenClientError);
    expect((failure as TokenClientError).error).toBe('invalid_metadata');
    expect(String((failure as TokenClientError).errorDescription)).toMatch(
      /304 Not Modified to a request without If-None-Match/,
    );
    expect(conditions.slice(sent)).toEqual([undefined]);
  });

  it('the SDK never takes a document from a 304: its validated metadata stays in use', async () => {
    mode = 'full';
    let nowMs = Date.now();
    const warnings: unknown[] = [];
    const client = sdk({
      discoveryTtlSeconds: 60,
      now: () => nowMs,
      onWarning: (_message, error) => warnings.push(error),
    });
    await client.getToken();
    for (const next of ['not-modified-other-tag', 'not-modified-with-keys'] as const) {
      mode = next;
      nowMs += 61_000;
      const sent = conditions.length;
      const from = paths.length;
      expect((await client.getToken({ forceRefresh: true })).accessToken).toMatch(/^t\d+$/);
      // Revalidated with the tag, refused, and the token asked of the validated endpoint.
      expect(conditions[sent], next).toBe('"held-tag"');
      expect(paths.slice(from), next).toEqual([
        '/.well-known/oauth-authorization-server',
        '/token',
      ]);
      expect(warnings, next).toHaveLength(next === 'not-modified-other-tag' ? 1 : 2);
    }
    expect((warnings[0] as TokenClientError).errorDescription).toMatch(/another entity tag/);
    // The 304 with content never reaches the SDK's code: undici refuses the exchange.
    expect(warnings[1]).toMatchObject({ code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' });
  });

  it('a 304 with keys in it or naming another tag never replaces the held set', async () => {
    mode = 'full';
    const jwks = remoteJwks(`${base}/jwks`, {
      ca: ca.root.certPem,
      cooldownSeconds: 0,
      failureCooldownSeconds: 0,
    });
    const good = await mint(privateKey, 'held');
    expect((await verifyAccessToken(good, { issuer: base, audience, jwks })).kid).toBe('held');

    mode = 'not-modified-with-keys';
    const forged = await mint(smuggled.privateKey, 'smuggled');
    const refused = await verifyAccessToken(forged, { issuer: base, audience, jwks }).catch(
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(ResourceError);
    expect(conditions.at(-1)).toBe('"held-tag"');
    // Whatever the 304 carried, the set is the validated one.
    expect((await verifyAccessToken(good, { issuer: base, audience, jwks })).kid).toBe('held');

    mode = 'not-modified-other-tag';
    await expect(jwks.reload()).rejects.toThrow(/naming another entity tag/);
  });
});
