/**
 * Seeded fuzzing of the client SDK against a hostile authorization server: a real HTTPS server
 * on 127.0.0.1 answers each token request (and, for some clients, the RFC 8414 discovery
 * request) with a random status, random headers (content types, `Retry-After`, `DPoP-Nonce`) and
 * a random body: token responses whose every member may have any JSON type or value, error
 * responses with hostile codes and descriptions, JSON that is not an object, truncated JSON,
 * bytes, deep nesting and bodies over the response cap.
 *
 * The oracle is what a service embedding the SDK relies on: `getToken()` settles (retries end),
 * rejects with a TokenClientError and nothing else, and resolves only with what RFC 6749 §5.1 and
 * §7.1 allow the client to use: a 200 answer whose `access_token` is a non-empty string and whose
 * `token_type` is Bearer (case-insensitive), with a finite expiry.
 *
 * Reproduce or widen: `TOLLGATE_FUZZ_SEED=N TOLLGATE_FUZZ_CASES=N npx vitest run test/client/fuzz.test.ts`.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenClient, TokenClientError } from '../../src/client/index.js';
import {
  createDevCa,
  type DevCa,
  generateSigningJwk,
  type SigningJwk,
} from '../../src/dev-ca/index.js';
import { below, fuzzRun, hostileJson, hostileStrings, pick, type Rng } from '../helpers/fuzz.js';

interface Scripted {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

describe('fuzzing the client SDK with a hostile server', () => {
  let ca: DevCa;
  let key: SigningJwk;
  let server: Server;
  let origin: string;
  /** What the server answers next (set per case), and what it answered last. */
  let next: (path: string) => Scripted;
  let last: Scripted | undefined;

  beforeAll(async () => {
    ca = await createDevCa();
    key = await generateSigningJwk('ES256');
    const identity = await ca.issueServer();
    server = createServer({ cert: identity.chainPem, key: identity.keyPem }, (req, res) => {
      req.resume();
      req.on('end', () => {
        const path = (req.url ?? '/').split('?')[0] as string;
        const answer = next(path);
        // Metadata may name any token endpoint on this server: every other path is one.
        if (path !== '/.well-known/oauth-authorization-server') last = answer;
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server?.closeAllConnections();
        server?.close(() => resolve());
      }),
  );

  it('settles every getToken() in a TokenClientError or a usable Bearer token', async () => {
    const { seed, cases, rng } = fuzzRun(300);
    let resolved = 0;
    for (let i = 0; i < cases; i++) {
      const label = `seed ${seed} case ${i}`;
      const discover = below(rng, 5) === 0;
      next = (path) =>
        path === '/.well-known/oauth-authorization-server'
          ? metadataAnswer(rng, origin)
          : tokenAnswer(rng);
      last = undefined;
      const client = new TokenClient({
        issuer: origin,
        ...(discover ? {} : { tokenEndpoint: `${origin}/token` }),
        auth: { method: 'private_key_jwt', clientId: 'svc-fuzz', key: key.privateJwk },
        ca: ca.root.certPem,
        retry: { maxAttempts: 2 },
        // Retries are real; their waits are not (a hostile Retry-After must not stall the test).
        sleep: () => Promise.resolve(),
        onWarning: () => {},
      });
      let token: Awaited<ReturnType<TokenClient['getToken']>> | undefined;
      try {
        token = await client.getToken();
      } catch (error) {
        if (!(error instanceof TokenClientError)) {
          throw new Error(`${label}: threw ${(error as Error)?.stack}`, { cause: error });
        }
      } finally {
        await client.close();
      }
      if (token === undefined) continue;
      resolved++;
      const answer = last as Scripted | undefined;
      const detail = `${label}: ${answer?.status} ${answer?.body.toString().slice(0, 300)}`;
      expect(answer?.status, detail).toBe(200);
      const body = JSON.parse(answer?.body.toString() ?? '') as Record<string, unknown>;
      expect(token.accessToken, detail).toBe(body.access_token);
      expect(typeof body.access_token === 'string' && body.access_token !== '', detail).toBe(true);
      expect(String(body.token_type).toLowerCase(), detail).toBe('bearer');
      expect(Number.isFinite(token.expiresAtMs), detail).toBe(true);
    }
    // Some answers in the corpus are usable: the success path was checked, not only refusals.
    expect(resolved).toBeGreaterThan(0);
  }, 600_000); // bounded by the case count; a corpus run by hand may take minutes
});

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) ?? 'null');
}

/** A token endpoint answer: mostly almost right, with hostile members, status and headers. */
function tokenAnswer(rng: Rng): Scripted {
  const body: Record<string, unknown> = {
    access_token: `at-${below(rng, 1e6)}`,
    token_type: pick(rng, ['Bearer', 'bearer', 'BEARER']),
    expires_in: 300,
  };
  for (let changes = below(rng, 3); changes > 0; changes--) {
    body[
      pick(rng, [
        'access_token',
        'token_type',
        'expires_in',
        'scope',
        'error',
        'error_description',
        '__proto__',
      ])
    ] = pick(rng, [hostileJson(rng), 'DPoP', 'N_A', -1, 0, 1e308, '300', 2 ** 53, undefined]);
  }
  const bytes = pick(rng, [
    () => json(body),
    () => json(body),
    () => json(body),
    () => json({ error: pick(rng, hostileStrings), error_description: pick(rng, hostileStrings) }),
    () =>
      json({
        error: pick(rng, [
          'invalid_client',
          'temporarily_unavailable',
          'slow_down',
          'invalid_grant',
        ]),
      }),
    () => json(hostileJson(rng)),
    () => json(body).subarray(0, below(rng, 40)),
    () => Buffer.from([0xff, 0xfe, 0x7b, 0x00]),
    () => Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`),
    () => json({ ...body, pad: 'x'.repeat(200_000) }),
    () => Buffer.alloc(0),
  ])();
  return {
    status: pick(rng, [200, 200, 200, 200, 201, 204, 302, 400, 401, 403, 429, 500, 503]),
    headers: headers(rng),
    body: bytes,
  };
}

/** RFC 8414 metadata: this issuer's, another's, or broken. */
function metadataAnswer(rng: Rng, origin: string): Scripted {
  const metadata: Record<string, unknown> = {
    issuer: origin,
    token_endpoint: `${origin}/token`,
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
  };
  if (below(rng, 2) === 0) {
    metadata[
      pick(rng, [
        'issuer',
        'token_endpoint',
        'mtls_endpoint_aliases',
        'token_endpoint_auth_signing_alg_values_supported',
      ])
    ] = pick(rng, [
      hostileJson(rng),
      'http://127.0.0.1/token',
      'https://evil.example/token',
      `${origin}/`,
      undefined,
    ]);
  }
  return {
    status: pick(rng, [200, 200, 200, 404, 500]),
    headers: headers(rng),
    body: below(rng, 6) === 0 ? json(hostileJson(rng)) : json(metadata),
  };
}

function headers(rng: Rng): Record<string, string> {
  const out: Record<string, string> = {
    'content-type': pick(rng, [
      'application/json',
      'application/json',
      'application/json; charset=utf-8',
      'text/html',
      'application/x-www-form-urlencoded',
      'application/json; charset=utf-16',
    ]),
  };
  if (below(rng, 3) === 0) {
    out['retry-after'] = pick(rng, [
      '0',
      '1',
      '-1',
      '999999999',
      'Wed, 21 Oct 2015 07:28:00 GMT',
      'soon',
      '1e9',
      '',
    ]);
  }
  if (below(rng, 5) === 0) out['dpop-nonce'] = pick(rng, ['n-1', '', 'a b', 'x'.repeat(5000)]);
  if (below(rng, 5) === 0) out['cache-control'] = pick(rng, ['no-store', 'max-age=3600', 'public']);
  return out;
}
