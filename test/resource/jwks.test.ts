/**
 * remoteJwks: fetched over https with the dev CA trusted, cached with a cooldown, size-capped;
 * a fetch failure is 503 `temporarily_unavailable` at verification, never `invalid_token`.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import {
  JwksFetchError,
  ResourceError,
  remoteJwks,
  tollgateResource,
  verifyAccessToken,
} from '../../src/resource/index.js';
import { generateKeyPairSync } from '../helpers/keys.js';
import { freePort } from '../helpers/net.js';

const issuer = 'https://tollgate.test';
const audience = 'https://api.test/orders';

describe('remoteJwks', () => {
  let ca: DevCa;
  let server: Server;
  let base: string;
  let served: string;
  let fetches = 0;
  const fetchesByPath = new Map<string, number>();
  let flakyFails = false;
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1', alg: 'ES256' };

  const mint = (kid = 'k1') => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: 'svc', jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject('svc')
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
  };

  beforeAll(async () => {
    ca = await createDevCa();
    const identity = await ca.issueServer();
    served = JSON.stringify({ keys: [jwk] });
    server = createServer({ cert: identity.chainPem, key: identity.keyPem }, (req, res) => {
      fetches += 1;
      const path = req.url ?? '';
      fetchesByPath.set(path, (fetchesByPath.get(path) ?? 0) + 1);
      if (path === '/failing' || (path === '/flaky' && flakyFails)) {
        res.statusCode = 500;
        res.end('{"error":"server_error"}');
        return;
      }
      if (path === '/garbage') {
        res.end('<html>a login page</html>');
        return;
      }
      if (req.url === '/huge') {
        res.end(JSON.stringify({ keys: [jwk], pad: 'x'.repeat(100_000) }));
        return;
      }
      res.setHeader('content-type', 'application/jwk-set+json');
      res.end(served);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('fetches once over https trusting the given CA, then serves from cache', async () => {
    const jwks = remoteJwks(`${base}/jwks`, { ca: ca.root.certPem });
    const before = fetches;
    for (let i = 0; i < 3; i += 1) {
      await expect(
        verifyAccessToken(await mint(), { issuer, audience, jwks }),
      ).resolves.toBeDefined();
    }
    expect(fetches - before).toBe(1);
  });

  it('an unknown kid within the cooldown does not refetch', async () => {
    const jwks = remoteJwks(`${base}/jwks`, { ca: ca.root.certPem, cooldownSeconds: 60 });
    await verifyAccessToken(await mint(), { issuer, audience, jwks });
    const before = fetches;
    const error = await verifyAccessToken(await mint('k2'), { issuer, audience, jwks }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'invalid_token', reason: 'key_not_found' });
    expect(fetches).toBe(before);
  });

  it('an untrusted server certificate is 503, not invalid_token', async () => {
    const jwks = remoteJwks(`${base}/jwks`);
    const error = await verifyAccessToken(await mint(), { issuer, audience, jwks }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResourceError);
    expect(error).toMatchObject({ code: 'temporarily_unavailable', status: 503 });
  });

  it('a JWKS past the size cap is refused', async () => {
    const jwks = remoteJwks(`${base}/huge`, { ca: ca.root.certPem, maxBytes: 65_536 });
    const error = await verifyAccessToken(await mint(), { issuer, audience, jwks }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'temporarily_unavailable' });
    expect((error as ResourceError).cause).toBeInstanceOf(Error);
    // The same document under a larger cap verifies: the size was the only problem.
    const roomy = remoteJwks(`${base}/huge`, { ca: ca.root.certPem, maxBytes: 1_000_000 });
    await expect(
      verifyAccessToken(await mint(), { issuer, audience, jwks: roomy }),
    ).resolves.toBeDefined();
  });

  // Regression: jose's cooldown counts only from a successful fetch, so every request to an API
  // whose issuer failed (or any token with a made-up kid) started a new JWKS fetch.
  it.each([
    ['answers 500', '/failing'],
    ['answers 200 with something else than a JWK Set', '/garbage'],
  ])('an issuer that %s is asked at most once per failureCooldownSeconds', async (_what, path) => {
    let nowMs = 1_000_000;
    const jwks = remoteJwks(`${base}${path}`, {
      ca: ca.root.certPem,
      failureCooldownSeconds: 5,
      now: () => nowMs,
    });
    for (let i = 0; i < 20; i += 1) {
      const kid = i % 2 === 0 ? 'k1' : `made-up-${i}`;
      const error = await verifyAccessToken(await mint(kid), { issuer, audience, jwks }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'temporarily_unavailable', reason: 'jwks_unavailable' });
      expect((error as ResourceError).cause).toBeInstanceOf(JwksFetchError);
    }
    expect(fetchesByPath.get(path)).toBe(1);
    nowMs += 5_000;
    await expect(jwks.reload()).rejects.toBeInstanceOf(JwksFetchError);
    expect(fetchesByPath.get(path)).toBe(2);
  });

  it('serves the keys again once the failure cooldown has passed', async () => {
    let nowMs = 1_000_000;
    const jwks = remoteJwks(`${base}/flaky`, { ca: ca.root.certPem, now: () => nowMs });
    flakyFails = true;
    await expect(verifyAccessToken(await mint(), { issuer, audience, jwks })).rejects.toMatchObject(
      {
        code: 'temporarily_unavailable',
      },
    );
    flakyFails = false;
    nowMs += 4_999;
    await expect(verifyAccessToken(await mint(), { issuer, audience, jwks })).rejects.toMatchObject(
      {
        code: 'temporarily_unavailable',
      },
    );
    expect(fetchesByPath.get('/flaky')).toBe(1);
    nowMs += 1;
    await expect(
      verifyAccessToken(await mint(), { issuer, audience, jwks }),
    ).resolves.toBeDefined();
    expect(fetchesByPath.get('/flaky')).toBe(2);
  });

  it('refuses a jwks_uri that is not https', () => {
    expect(() => remoteJwks('http://127.0.0.1/jwks')).toThrow(TypeError);
  });

  it('takes trust material as a file (caFile) as well as PEM text (ca), like TokenClient', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-jwks-'));
    try {
      await writeFile(join(dir, 'root.pem'), ca.root.certPem);
      const jwks = remoteJwks(`${base}/jwks`, { caFile: join(dir, 'root.pem') });
      await expect(
        verifyAccessToken(await mint(), { issuer, audience, jwks }),
      ).resolves.toBeDefined();
      expect(() => remoteJwks(`${base}/jwks`, { caFile: join(dir, 'missing.pem') })).toThrow(
        /caFile .*missing\.pem cannot be read: ENOENT/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a failed fetch names its cause and the fix in the error the API logs', async () => {
    const untrusted = await verifyAccessToken(await mint(), {
      issuer,
      audience,
      jwks: remoteJwks(`${base}/jwks`),
    }).then(
      () => undefined,
      (e: unknown) => e as ResourceError,
    );
    expect(untrusted?.cause).toBeInstanceOf(JwksFetchError);
    expect(String((untrusted?.cause as Error | undefined)?.message)).toMatch(
      /cannot fetch the issuer's keys from https:.*: its TLS certificate is not trusted \([A-Z_]+\); pass the issuer's CA as `ca` \(PEM\) or `caFile` \(path\)/,
    );
    const refused = await remoteJwks(`https://127.0.0.1:${await freePort()}/jwks`)
      .reload()
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(refused).toBeInstanceOf(JwksFetchError);
    expect(refused?.message).toMatch(/connection refused: is the issuer running/);
  });
});

describe('tollgateResource start-up check', () => {
  let ca: DevCa;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    ca = await createDevCa();
    const identity = await ca.issueServer();
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1', alg: 'ES256' };
    server = createServer({ cert: identity.chainPem, key: identity.keyPem }, (req, res) => {
      if (req.url === '/gone/jwks') res.statusCode = 404;
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const register = async (options: Record<string, unknown>) => {
    const app = Fastify();
    try {
      await app.register(tollgateResource, {
        issuer: base,
        audience: 'https://api.test',
        dpop: { enabled: false },
        ...options,
      });
      await app.ready();
    } finally {
      await app.close();
    }
  };

  it('ready() fails with the reason when the issuer is not trusted, and the fix', async () => {
    await expect(register({})).rejects.toThrow(
      /tollgateResource: cannot fetch the issuer's keys from .*\/jwks: its TLS certificate is not trusted .*`caFile`/,
    );
  });

  it('ready() fails when the issuer answers something else than its keys', async () => {
    await expect(register({ ca: ca.root.certPem, jwksUri: `${base}/gone/jwks` })).rejects.toThrow(
      /answered HTTP 404/,
    );
  });

  it('ready() fails when the issuer cannot be reached', async () => {
    await expect(
      register({ ca: ca.root.certPem, jwksUri: `https://127.0.0.1:${await freePort()}/jwks` }),
    ).rejects.toThrow(/connection refused/);
  });

  it('starts with the issuer trusted through ca, caFile or the deprecated jwksCa', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-jwks-'));
    try {
      await writeFile(join(dir, 'root.pem'), ca.root.certPem);
      await expect(register({ ca: ca.root.certPem })).resolves.toBeUndefined();
      await expect(register({ caFile: join(dir, 'root.pem') })).resolves.toBeUndefined();
      await expect(register({ jwksCa: ca.root.certPem })).resolves.toBeUndefined();
      await expect(register({ ca: ca.root.certPem, jwksCa: ca.root.certPem })).rejects.toThrow(
        TypeError,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lazyJwks: starts without the keys (requests answer 503 until they load)', async () => {
    await expect(register({ lazyJwks: true })).resolves.toBeUndefined();
  });
});
