/**
 * RemoteJwksCache over real HTTPS: a server on 127.0.0.1:0 with a certificate generated at test
 * time, reached through the production transport (`createHttpsFetch`) given the test certificate
 * as its only extra trust. Cache ages move on an injected clock; only the timeout waits for real.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createHttpsFetch,
  type JwksFetch,
  JwksFetchError,
  type JwksFetchFailure,
  RemoteJwksCache,
  type RemoteJwksCacheOptions,
} from '../../src/registry/jwks-uri.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let certificate: string;
let handler: Handler;
let requests: string[];

const jwks = (...kids: string[]): string =>
  JSON.stringify({ keys: kids.map((kid) => ({ kty: 'EC', crv: 'P-256', kid, x: 'x', y: 'y' })) });

function serveJwks(body: string, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };
}

/** The registry's validator stand-in: keeps the kids, refuses keys without one. */
function importKids(set: unknown): string[] {
  const keys = (set as { keys: Array<{ kid?: unknown }> }).keys;
  return keys.map((key) => {
    if (typeof key.kid !== 'string') throw new Error('key without kid');
    return key.kid;
  });
}

beforeAll(async () => {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'jwks.test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - 60_000),
    notAfterDate: new Date(now + 24 * 3_600_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  certificate = pems.cert;
  server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests = [];
  handler = serveJwks(jwks('k1'));
});

let now = 0;
const clock = (): number => now;

function cache(options: Partial<RemoteJwksCacheOptions<string[]>> = {}): RemoteJwksCache<string[]> {
  now = Date.UTC(2030, 0, 1);
  return new RemoteJwksCache<string[]>({
    url: `${baseUrl}/jwks`,
    importKeys: importKids,
    fetch: createHttpsFetch({ ca: certificate }),
    clock,
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<JwksFetchFailure> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(JwksFetchError);
  return (error as JwksFetchError).reason;
}

describe('RemoteJwksCache', () => {
  describe('construction', () => {
    it('rejects a non-https jwks_uri', () => {
      for (const url of ['http://127.0.0.1/jwks', 'ftp://example.com/jwks', 'file:///etc/passwd']) {
        expect(() => cache({ url })).toThrow(TypeError);
      }
    });

    it('rejects relative URLs and URLs with credentials', () => {
      expect(() => cache({ url: '/jwks' })).toThrow(TypeError);
      expect(() => cache({ url: 'https://user:pass@example.com/jwks' })).toThrow(TypeError);
    });

    it('rejects bounds that contradict each other', () => {
      expect(() => cache({ timeoutMs: 0 })).toThrow(TypeError);
      expect(() => cache({ maxBytes: 1.5 })).toThrow(TypeError);
      expect(() => cache({ minCacheMs: 10_000, defaultCacheMs: 5_000 })).toThrow(TypeError);
      expect(() => cache({ maxCacheMs: 1_000 })).toThrow(TypeError);
    });
  });

  describe('fetching', () => {
    it('fetches over https and stores what importKeys returns', async () => {
      let seen: unknown;
      const c = cache({
        importKeys: (set) => {
          seen = set;
          return importKids(set);
        },
      });
      expect(await c.get()).toEqual(['k1']);
      expect(seen).toEqual(JSON.parse(jwks('k1')));
      expect(requests).toEqual(['/jwks']);
      expect(c.status()).toMatchObject({ state: 'fresh', fetches: 1, lastSuccessAtMs: now });
    });

    it('accepts application/jwk-set+json with parameters, and an async importKeys', async () => {
      handler = serveJwks(jwks('k1', 'k2'), {
        'content-type': 'Application/JWK-Set+JSON; charset=utf-8',
      });
      const c = cache({ importKeys: async (set) => importKids(set) });
      expect(await c.get()).toEqual(['k1', 'k2']);
    });

    it('refuses other content types', async () => {
      handler = serveJwks(jwks('k1'), { 'content-type': 'text/html' });
      expect(await failure(cache().get())).toBe('content_type');
    });

    it('refuses a non-200 status', async () => {
      handler = (_req, res) => {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{}');
      };
      const error = await cache()
        .get()
        .catch((reason: unknown) => reason);
      expect(error).toMatchObject({ reason: 'http_status', status: 404 });
    });

    it('does not follow a redirect', async () => {
      handler = (req, res) => {
        if (req.url === '/moved') return serveJwks(jwks('evil'))(req, res);
        res.writeHead(302, { location: `${baseUrl}/moved` });
        res.end();
      };
      const error = await cache()
        .get()
        .catch((reason: unknown) => reason);
      expect(error).toMatchObject({ reason: 'redirect', status: 302 });
      expect(requests).toEqual(['/jwks']);
    });

    it('does not follow a redirect with globalThis.fetch either', async () => {
      // Only the policy is under test here: a stub that answers like undici does with 'manual'.
      let init: Parameters<JwksFetch>[1] | undefined;
      const fetch: JwksFetch = async (_url, given) => {
        init = given;
        return new Response(null, { status: 307, headers: { location: 'https://10.0.0.1/' } });
      };
      expect(await failure(cache({ fetch }).get())).toBe('redirect');
      expect(init?.redirect).toBe('manual');
    });

    it('rejects malformed JSON', async () => {
      handler = serveJwks('{"keys": [');
      expect(await failure(cache().get())).toBe('malformed_json');
    });

    it('rejects bodies that are not UTF-8', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(Buffer.from([0x7b, 0xff, 0x7d]));
      };
      expect(await failure(cache().get())).toBe('malformed_json');
    });

    it('rejects JSON that is not a key set', async () => {
      for (const body of ['[]', 'null', '{"keys": {}}', '{"keys": []}', '{"keys": [1]}', '{}']) {
        handler = serveJwks(body);
        expect(await failure(cache().get())).toBe('invalid_jwks');
      }
    });

    it('rejects more than maxKeys keys', async () => {
      handler = serveJwks(jwks('a', 'b', 'c'));
      expect(await failure(cache({ maxKeys: 2 }).get())).toBe('too_many_keys');
    });

    it('reports a set importKeys refuses as invalid_keys', async () => {
      handler = serveJwks(JSON.stringify({ keys: [{ kty: 'EC' }] }));
      expect(await failure(cache().get())).toBe('invalid_keys');
    });

    it('refuses a declared Content-Length above the cap without reading the body', async () => {
      // Headers only: a cache that waited for the body would time out instead ('timeout', not
      // 'too_large': the failure says which, no stopwatch needed).
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 10_000_000 });
        res.flushHeaders();
      };
      expect(await failure(cache({ maxBytes: 1_024, timeoutMs: 10_000 }).get())).toBe('too_large');
    });

    it('stops reading an endless body at the cap', async () => {
      let written = 0;
      let closed = false;
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        const pump = (): void => {
          while (!res.destroyed && written < 1024 ** 3) {
            written += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
        };
        res.on('close', () => {
          closed = true;
        });
        pump();
      };
      expect(await failure(cache({ maxBytes: 64 * 1024, timeoutMs: 10_000 }).get())).toBe(
        'too_large',
      );
      // The server saw the connection go away long before it could send a gigabyte (the poll's
      // timeout is a guard against a hang).
      await expect.poll(() => closed, { timeout: 60_000 }).toBe(true);
      expect(written).toBeLessThan(64 * 1024 * 1024);
    });

    it('times out when the server does not answer', async () => {
      handler = () => {};
      // A cache that waited forever would hold the test until its own timeout.
      expect(await failure(cache({ timeoutMs: 200 }).get())).toBe('timeout');
    });

    it('times out when the body stalls after the headers', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys": [');
      };
      expect(await failure(cache({ timeoutMs: 200 }).get())).toBe('timeout');
    });

    it('times out a stalled body even if the transport ignores the signal once headers are in', async () => {
      const fetch: JwksFetch = async () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"keys": ['));
          },
        });
        return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
      };
      expect(await failure(cache({ fetch, timeoutMs: 100 }).get())).toBe('timeout');
    });

    it('uses the system trust store by default, so the test certificate is refused', async () => {
      const c = new RemoteJwksCache({ url: `${baseUrl}/jwks`, importKeys: importKids });
      const error = await c.get().catch((reason: unknown) => reason);
      expect(error).toMatchObject({ reason: 'network' });
      expect((error as Error).message).not.toContain('127.0.0.1');
    });
  });

  describe('caching', () => {
    it('serves the cached set for the default lifetime, then refetches', async () => {
      const c = cache();
      await c.get();
      now += 5 * 60_000 - 1;
      await c.get();
      expect(requests).toHaveLength(1);
      handler = serveJwks(jwks('k2'));
      now += 1;
      expect(await c.get()).toEqual(['k2']);
      expect(requests).toHaveLength(2);
    });

    it('honours Cache-Control max-age within [60 s, 1 h]', async () => {
      const cases: Array<[string, number]> = [
        ['max-age=600', 600_000],
        ['public, max-age=5', 60_000],
        ['no-store', 60_000],
        ['max-age=86400', 3_600_000],
      ];
      for (const [cacheControl, lifetimeMs] of cases) {
        handler = serveJwks(jwks('k1'), { 'cache-control': cacheControl });
        requests = [];
        const c = cache();
        await c.get();
        now += lifetimeMs - 1;
        await c.get();
        expect(requests, cacheControl).toHaveLength(1);
        now += 1;
        await c.get();
        expect(requests, cacheControl).toHaveLength(2);
      }
    });

    it('shares one fetch among concurrent callers (single flight)', async () => {
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      handler = (req, res) => {
        void gate.then(() => serveJwks(jwks('k1'))(req, res));
      };
      const c = cache();
      const pending = Array.from({ length: 50 }, () => c.get());
      await expect.poll(() => requests.length).toBe(1);
      expect(c.status().fetching).toBe(true);
      release();
      const results = await Promise.all(pending);
      expect(results.every((keys) => keys[0] === 'k1')).toBe(true);
      expect(requests).toHaveLength(1);
    });
  });

  describe('unknown kid', () => {
    it('refetches at most once per minRefetchIntervalMs', async () => {
      const c = cache();
      expect(await c.get()).toEqual(['k1']);
      handler = serveJwks(jwks('k1', 'k2'));
      // Just fetched: a refetch now would learn nothing and could be used to hammer the client.
      expect(await c.refreshForUnknownKid()).toBeUndefined();
      now += 30_000;
      expect(await c.refreshForUnknownKid()).toEqual(['k1', 'k2']);
      expect(await c.get()).toEqual(['k1', 'k2']);
      now += 29_999;
      expect(await c.refreshForUnknownKid()).toBeUndefined();
      expect(requests).toHaveLength(2);
    });

    it('shares one refetch among concurrent unknown-kid lookups', async () => {
      const c = cache();
      await c.get();
      now += 30_000;
      handler = serveJwks(jwks('k2'));
      const results = await Promise.all(Array.from({ length: 20 }, () => c.refreshForUnknownKid()));
      expect(results.every((keys) => keys?.[0] === 'k2')).toBe(true);
      expect(requests).toHaveLength(2);
    });

    it('throws when the refetch fails and keeps the cached set', async () => {
      const c = cache();
      await c.get();
      now += 30_000;
      handler = serveJwks('not json');
      expect(await failure(c.refreshForUnknownKid())).toBe('malformed_json');
      expect(await c.get()).toEqual(['k1']);
    });
  });

  describe('stale on error', () => {
    it('serves the last good set within maxStaleMs while refreshes fail, then fails', async () => {
      const c = cache({ maxStaleMs: 60 * 60_000, errorBackoffMs: 5_000 });
      await c.get();
      const freshUntil = now + 5 * 60_000;
      handler = (_req, res) => {
        res.writeHead(503);
        res.end();
      };
      now = freshUntil;
      expect(await c.get()).toEqual(['k1']);
      expect(requests).toHaveLength(2);
      expect(c.status()).toMatchObject({
        state: 'stale',
        lastError: { reason: 'http_status', status: 503, atMs: now },
        staleUntilMs: freshUntil + 60 * 60_000,
      });

      // Within the backoff no new attempt is made: one timeout per period, not per request.
      now += 4_999;
      expect(await c.get()).toEqual(['k1']);
      expect(requests).toHaveLength(2);

      now = freshUntil + 60 * 60_000;
      expect(await failure(c.get())).toBe('http_status');
      expect(c.status().state).toBe('expired');
      // And the failure itself is cached for the backoff.
      expect(await failure(c.get())).toBe('http_status');
      expect(requests).toHaveLength(3);

      handler = serveJwks(jwks('k3'));
      now += 5_000;
      expect(await c.get()).toEqual(['k3']);
      expect(c.status()).toMatchObject({ state: 'fresh', lastSuccessAtMs: now });
    });

    it('backs off after a failed first fetch', async () => {
      handler = serveJwks('oops');
      const c = cache();
      expect(await failure(c.get())).toBe('malformed_json');
      expect(await failure(c.get())).toBe('malformed_json');
      expect(requests).toHaveLength(1);
      expect(c.status()).toMatchObject({ state: 'empty', lastError: { reason: 'malformed_json' } });
      handler = serveJwks(jwks('k1'));
      now += 5_000;
      expect(await c.get()).toEqual(['k1']);
    });
  });
});
