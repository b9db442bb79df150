/**
 * TokenClient failure paths against a scripted HTTPS server: which failures are retried, how
 * long it waits (injected sleep, nothing really waits), the clock offset from `Date`, discovery.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { metadataUrl, TokenClient, TokenClientError } from '../../src/client/index.js';
import {
  createDevCa,
  type DevCa,
  generateSigningJwk,
  type SigningJwk,
} from '../../src/dev-ca/index.js';
import { freePort } from '../helpers/net.js';
import { type Stub, type StubAnswer, startStub, tokenAnswer } from './stub-server.js';

let ca: DevCa;
let key: SigningJwk;
let stub: Stub | undefined;

beforeAll(async () => {
  ca = await createDevCa();
  key = await generateSigningJwk('ES256');
});
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

/** A client on the stub with recorded sleeps and mid-range jitter. */
function clientFor(
  origin: string,
  extra: Partial<ConstructorParameters<typeof TokenClient>[0]> = {},
) {
  const sleeps: number[] = [];
  const client = new TokenClient({
    issuer: origin,
    tokenEndpoint: `${origin}/token`,
    auth: { method: 'private_key_jwt', clientId: 'svc-retry', key: key.privateJwk },
    ca: ca.root.certPem,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...extra,
  });
  return { client, sleeps };
}

function oauthError(
  status: number,
  error: string,
  description?: string,
  headers?: Record<string, string>,
): StubAnswer {
  return {
    status,
    body: { error, ...(description === undefined ? {} : { error_description: description }) },
    ...(headers === undefined ? {} : { headers }),
  };
}

describe('TokenClient retries', () => {
  it('waits out 503 + Retry-After, then succeeds', async () => {
    stub = await startStub(ca, (_request, index) =>
      index === 0
        ? oauthError(503, 'temporarily_unavailable', 'busy', { 'retry-after': '2' })
        : tokenAnswer('after-503'),
    );
    const { client, sleeps } = clientFor(stub.origin);
    const token = await client.getToken();
    expect(token.accessToken).toBe('after-503');
    expect(stub.requests).toHaveLength(2);
    expect(sleeps).toHaveLength(1);
    // Retry-After is a floor; the jitter on top stays below one base delay (250 ms).
    expect(sleeps[0]).toBeGreaterThanOrEqual(2000);
    expect(sleeps[0]).toBeLessThan(2250);
    // Every attempt carries a fresh assertion, so a request the server half-processed cannot
    // turn the retry into a replay.
    const jtis = stub.requests.map((r) => decodeJwt(r.form.get('client_assertion') ?? '').jti);
    expect(new Set(jtis).size).toBe(2);
    await client.close();
  });

  it('retries 5xx and temporarily_unavailable with growing backoff, bounded by maxAttempts', async () => {
    stub = await startStub(ca, (_request, index) =>
      index % 2 === 0
        ? oauthError(500, 'server_error')
        : oauthError(400, 'temporarily_unavailable'),
    );
    const { client, sleeps } = clientFor(stub.origin, {
      retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 10_000 },
    });
    const error = await client.getToken().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TokenClientError);
    expect(error).toMatchObject({ error: 'temporarily_unavailable', status: 400, attempts: 4 });
    expect(stub.requests).toHaveLength(4);
    // Full jitter at random() = 0.5: half of 100, 200, 400.
    expect(sleeps).toEqual([50, 100, 200]);
    await client.close();
  });

  it('never retries invalid_client (other than a replay)', async () => {
    stub = await startStub(ca, () =>
      oauthError(401, 'invalid_client', 'client authentication failed'),
    );
    const { client, sleeps } = clientFor(stub.origin);
    const error = await client.getToken().catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({
      name: 'TokenClientError',
      error: 'invalid_client',
      errorDescription: 'client authentication failed',
      status: 401,
      attempts: 1,
    });
    expect(stub.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
    await client.close();
  });

  it('does not retry other OAuth errors', async () => {
    stub = await startStub(ca, () =>
      oauthError(400, 'invalid_scope', 'scope "admin" is not allowed'),
    );
    const { client } = clientFor(stub.origin);
    await expect(client.getToken({ scope: 'admin' })).rejects.toMatchObject({
      error: 'invalid_scope',
      attempts: 1,
    });
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]?.form.get('scope')).toBe('admin');
    await client.close();
  });

  it('retries a replay rejection once, immediately, with a fresh assertion', async () => {
    stub = await startStub(ca, (_request, index) =>
      index === 0
        ? oauthError(
            401,
            'invalid_client',
            'client_assertion was replayed: its jti has already been used',
          )
        : tokenAnswer('after-replay'),
    );
    const { client, sleeps } = clientFor(stub.origin);
    expect((await client.getToken()).accessToken).toBe('after-replay');
    expect(stub.requests).toHaveLength(2);
    expect(sleeps).toEqual([]);
    const [first, second] = stub.requests.map(
      (r) => decodeJwt(r.form.get('client_assertion') ?? '').jti,
    );
    expect(first).not.toBe(second);
    await client.close();
  });

  it('gives up after the second replay rejection', async () => {
    stub = await startStub(ca, () =>
      oauthError(401, 'invalid_client', 'client_assertion was replayed'),
    );
    const { client } = clientFor(stub.origin);
    await expect(client.getToken()).rejects.toMatchObject({ error: 'invalid_client', attempts: 2 });
    expect(stub.requests).toHaveLength(2);
    await client.close();
  });

  it('stops when Retry-After is beyond the total retry budget', async () => {
    stub = await startStub(ca, () =>
      oauthError(503, 'temporarily_unavailable', undefined, { 'retry-after': '120' }),
    );
    const { client, sleeps } = clientFor(stub.origin, { retry: { maxTotalMs: 30_000 } });
    await expect(client.getToken()).rejects.toMatchObject({
      error: 'temporarily_unavailable',
      status: 503,
    });
    expect(stub.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
    await client.close();
  });

  it('retries network errors, then reports network_error', async () => {
    const port = await freePort(); // nothing listens there
    const origin = `https://127.0.0.1:${port}`;
    const { client, sleeps } = clientFor(origin, { retry: { maxAttempts: 3 } });
    const error = await client.getToken().catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(TokenClientError);
    expect(error).toMatchObject({ error: 'network_error', status: undefined, attempts: 3 });
    expect((error as TokenClientError).isNetworkError).toBe(true);
    expect(sleeps).toHaveLength(2);
    expect(client.requestCount).toBe(3);
    await client.close();
  });

  it('does not retry a server certificate it cannot verify', async () => {
    stub = await startStub(ca, () => tokenAnswer());
    const { client, sleeps } = clientFor(stub.origin, { ca: (await createDevCa()).root.certPem });
    await expect(client.getToken()).rejects.toMatchObject({ error: 'network_error', attempts: 1 });
    expect(sleeps).toEqual([]);
    expect(stub.requests).toHaveLength(0);
    await client.close();
  });

  // Regression: the error and its description went as sent into TokenClientError messages and
  // tollgate token's terminal output, so a server could write escape sequences (clear the screen,
  // forge a line) there. RFC 6749 §5.2 limits both to printable ASCII.
  it('never passes control characters of an error response on (RFC 6749 §5.2)', async () => {
    stub = await startStub(ca, (_request, index) =>
      index === 0
        ? oauthError(400, 'invalid_client\u001b[2J\r\ntoken issued: yes', 'ok')
        : oauthError(
            400,
            'invalid_scope',
            'scope \u001b[31mread\u001b[0m\r\n\u202egnp.\u0007 unknown',
          ),
    );
    const { client } = clientFor(stub.origin);
    const forged = await client.getToken().catch((thrown: unknown) => thrown);
    expect(forged).toMatchObject({ error: 'invalid_response', status: 400 });
    expect((forged as Error).message).toBe(
      'invalid_response: HTTP 400 with an error code that is not RFC 6749 §5.2 ASCII',
    );
    const coloured = await client.getToken().catch((thrown: unknown) => thrown);
    expect(coloured).toMatchObject({ error: 'invalid_scope', status: 400 });
    expect((coloured as TokenClientError).errorDescription).toBe(
      'scope \uFFFD[31mread\uFFFD[0m\uFFFD\uFFFD\uFFFDgnp.\uFFFD unknown',
    );
    await client.close();
  });

  // Regression: an answer past maxResponseBytes was a network_error ("no HTTP answer"), fetched
  // again up to maxAttempts times, and tollgate token called the server unreachable (exit 3).
  it('an answer past maxResponseBytes is invalid_response, retried only for a 5xx', async () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    stub = await startStub(ca, (_request, index) =>
      index === 0 ? { status: 200, body: huge } : { status: 502, body: huge },
    );
    const { client } = clientFor(stub.origin, { retry: { maxAttempts: 2 } });
    await expect(client.getToken()).rejects.toMatchObject({
      error: 'invalid_response',
      status: 200,
      attempts: 1,
      message: expect.stringMatching(/is larger than 1048576 bytes$/),
    });
    expect(stub.requests).toHaveLength(1);
    await expect(client.getToken()).rejects.toMatchObject({
      error: 'invalid_response',
      status: 502,
      attempts: 2,
    });
    expect(stub.requests).toHaveLength(3);
    await client.close();
  });

  it('refuses a token type other than Bearer', async () => {
    stub = await startStub(ca, () => ({
      status: 200,
      body: { access_token: 'x', token_type: 'DPoP', expires_in: 60 },
    }));
    const { client } = clientFor(stub.origin);
    await expect(client.getToken()).rejects.toMatchObject({ error: 'invalid_response' });
    await client.close();
  });
});

describe('TokenClient against a server that trickles its answer', () => {
  /** Each attempt's timeoutMs: see the regression below. */
  const trickleTimeoutMs = 2_000;

  /** Answers 200 at once, then one byte of body every 20 ms, never ending. */
  async function startTrickle() {
    const identity = await ca.issueServer();
    const paths: string[] = [];
    const server = createServer({ cert: identity.chainPem, key: identity.keyPem }, (req, res) => {
      paths.push(req.url ?? '');
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"access_token":"');
      const timer = setInterval(() => res.write('a'), 20);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      paths,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  // Regression: undici's bodyTimeout limits only the silence between two chunks, so a token
  // endpoint or metadata document sending a byte every 20 ms held getToken() (and every caller
  // sharing its request) forever. timeoutMs now bounds each exchange as a whole.
  //
  // The whole exchange includes connecting and the TLS handshake with the trickle server, which
  // runs in this same process. With 300 ms, a busy machine (load average 18) once spent it all
  // on a handshake: that attempt timed out before its request reached the server, and the test
  // saw one request instead of two. 2 s is far more than a loopback handshake needs, and the
  // trickle (a byte every 20 ms) never ends, so the timeout still ends each attempt.
  it.each([
    ['the token endpoint', true],
    ['the metadata document', false],
  ])(
    'gives up on %s after timeoutMs, as a network error',
    async (_what, explicitEndpoint) => {
      const trickle = await startTrickle();
      try {
        const client = new TokenClient({
          issuer: trickle.origin,
          ...(explicitEndpoint ? { tokenEndpoint: `${trickle.origin}/token` } : {}),
          auth: { method: 'private_key_jwt', clientId: 'svc-retry', key: key.privateJwk },
          ca: ca.root.certPem,
          timeoutMs: trickleTimeoutMs,
          retry: { maxAttempts: 2 },
          sleep: async () => undefined,
        });
        const error = await client.getToken().catch((thrown: unknown) => thrown);
        expect(error).toBeInstanceOf(TokenClientError);
        expect(error).toMatchObject({ error: 'network_error', attempts: 2 });
        expect((error as TokenClientError).errorDescription).toMatch(
          new RegExp(
            `^ETIMEDOUT: no complete answer from https://127\\.0\\.0\\.1:\\d+/\\S+ within ${trickleTimeoutMs} ms$`,
          ),
        );
        expect(trickle.paths).toEqual(
          explicitEndpoint
            ? ['/token', '/token']
            : [
                '/.well-known/oauth-authorization-server',
                '/.well-known/oauth-authorization-server',
              ],
        );
        await client.close();
      } finally {
        await trickle.close();
      }
    },
    30_000,
  );
});

describe('TokenClient renewal failures', () => {
  it('serves the cached token while a renewal fails, pauses renewals, and fails once it is unusable', async () => {
    stub = await startStub(ca, (_request, index) =>
      index === 0 ? tokenAnswer('first', 100) : oauthError(500, 'server_error'),
    );
    const start = Date.parse('2030-01-01T00:00:00Z');
    let now = start;
    const warnings: string[] = [];
    const { client } = clientFor(stub.origin, {
      now: () => now,
      random: () => 0,
      retry: { maxAttempts: 1 },
      onWarning: (message) => warnings.push(message),
    });
    expect((await client.getToken()).accessToken).toBe('first');
    now = start + 85_000; // refresh point 80 s; usable until 95 s (5 s minimum validity)
    expect((await client.getToken()).accessToken).toBe('first');
    expect(stub.requests).toHaveLength(2);
    expect(warnings).toEqual(['token renewal failed; using the cached token until it expires']);
    now = start + 89_000; // next renewal waits half the remaining validity: until 90 s
    expect((await client.getToken()).accessToken).toBe('first');
    expect(stub.requests).toHaveLength(2);
    now = start + 91_000;
    expect((await client.getToken()).accessToken).toBe('first');
    expect(stub.requests).toHaveLength(3);
    now = start + 96_000;
    await expect(client.getToken()).rejects.toMatchObject({ error: 'server_error' });
    await client.close();
  });

  it('invalidate() drops cached tokens', async () => {
    stub = await startStub(ca, (_request, index) => tokenAnswer(`token-${index}`));
    const { client } = clientFor(stub.origin);
    expect((await client.getToken()).accessToken).toBe('token-0');
    expect((await client.getToken()).accessToken).toBe('token-0');
    client.invalidate();
    expect((await client.getToken()).accessToken).toBe('token-1');
    await client.close();
  });
});

describe('TokenClient assertions and clock', () => {
  it('signs rfc7523bis assertions: aud = issuer, typ, fresh jti, exp <= 60 s', async () => {
    stub = await startStub(ca, () => tokenAnswer());
    const { client } = clientFor(stub.origin, {
      scope: 'write read',
      resource: 'https://api.example/',
    });
    await client.getToken();
    const form = stub.requests[0]?.form as URLSearchParams;
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('client_assertion_type')).toBe(
      'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
    expect(form.get('scope')).toBe('read write');
    expect(form.getAll('resource')).toEqual(['https://api.example/']);
    const assertion = form.get('client_assertion') ?? '';
    expect(decodeProtectedHeader(assertion)).toMatchObject({
      alg: 'ES256',
      typ: 'client-authentication+jwt',
      kid: key.kid,
    });
    const claims = decodeJwt(assertion);
    expect(claims).toMatchObject({ iss: 'svc-retry', sub: 'svc-retry', aud: stub.origin });
    expect(typeof claims.jti).toBe('string');
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBeLessThanOrEqual(60);
    await client.close();
  });

  it('re-reads a private JWK file when it changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-keyfile-'));
    const keyFile = join(dir, 'client.jwk.json');
    await writeFile(keyFile, JSON.stringify(key.privateJwk), { mode: 0o600 });
    stub = await startStub(ca, () => tokenAnswer());
    const { client } = clientFor(stub.origin, {
      auth: { method: 'private_key_jwt', clientId: 'svc-retry', key: keyFile },
    });
    await client.getToken();
    const next = await generateSigningJwk('ES256');
    await writeFile(keyFile, JSON.stringify(next.privateJwk), { mode: 0o600 });
    await client.getToken({ forceRefresh: true });
    const kids = stub.requests.map(
      (r) => decodeProtectedHeader(r.form.get('client_assertion') ?? '').kid,
    );
    expect(kids).toEqual([key.kid, next.kid]);
    await client.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("learns the clock offset from the server's Date header", async () => {
    const local = Date.parse('2030-01-01T00:00:00Z');
    const serverDate = new Date(local + 3_600_000).toUTCString();
    stub = await startStub(ca, (request) =>
      request.url === '/.well-known/oauth-authorization-server'
        ? {
            status: 200,
            headers: { date: serverDate },
            body: { issuer: stub?.origin, token_endpoint: `${stub?.origin}/token` },
          }
        : { ...tokenAnswer(), headers: { date: serverDate } },
    );
    const client = new TokenClient({
      issuer: stub.origin,
      auth: { method: 'private_key_jwt', clientId: 'svc-clock', key: key.privateJwk },
      ca: ca.root.certPem,
      now: () => local,
    });
    await client.getToken();
    // Discovery came first, so even the first assertion is on the server's time.
    const claims = decodeJwt(stub.requests[1]?.form.get('client_assertion') ?? '');
    expect(claims.iat).toBe(Math.floor((local + 3_600_000 + 500) / 1000));
    expect(client.clockOffsetMs).toBe(3_600_500);
    await client.close();
  });

  it('ignores sub-second offsets (the Date header has one-second resolution)', async () => {
    const local = Date.parse('2030-01-01T00:00:00.700Z');
    stub = await startStub(ca, () => ({
      ...tokenAnswer(),
      headers: { date: new Date(local).toUTCString() },
    }));
    const { client } = clientFor(stub.origin, { now: () => local });
    await client.getToken();
    expect(client.clockOffsetMs).toBe(0);
    await client.close();
  });
});

describe('TokenClient discovery', () => {
  it('builds the RFC 8414 §3 metadata URL, inserting before the issuer path', () => {
    expect(metadataUrl('https://as.example')).toBe(
      'https://as.example/.well-known/oauth-authorization-server',
    );
    expect(metadataUrl('https://as.example/')).toBe(
      'https://as.example/.well-known/oauth-authorization-server',
    );
    expect(metadataUrl('https://as.example/tenant/a')).toBe(
      'https://as.example/.well-known/oauth-authorization-server/tenant/a',
    );
    expect(metadataUrl('https://as.example:8443/t/')).toBe(
      'https://as.example:8443/.well-known/oauth-authorization-server/t',
    );
  });

  it('discovers an issuer with a path at the inserted URL', async () => {
    stub = await startStub(ca, (request) =>
      request.url === '/.well-known/oauth-authorization-server/tenant'
        ? {
            status: 200,
            body: {
              issuer: `${stub?.origin}/tenant`,
              token_endpoint: `${stub?.origin}/tenant/token`,
            },
          }
        : request.url === '/tenant/token'
          ? tokenAnswer('tenant-token')
          : { status: 404 },
    );
    const client = new TokenClient({
      issuer: `${stub.origin}/tenant`,
      auth: { method: 'private_key_jwt', clientId: 'svc-path', key: key.privateJwk },
      ca: ca.root.certPem,
    });
    expect((await client.getToken()).accessToken).toBe('tenant-token');
    expect(decodeJwt(stub.requests[1]?.form.get('client_assertion') ?? '').aud).toBe(
      `${stub.origin}/tenant`,
    );
    await client.close();
  });

  it('refuses metadata for another issuer (RFC 8414 §3.3), without a token request', async () => {
    stub = await startStub(ca, () => ({
      status: 200,
      body: { issuer: 'https://evil.example', token_endpoint: 'https://evil.example/token' },
    }));
    const client = new TokenClient({
      issuer: stub.origin,
      auth: { method: 'private_key_jwt', clientId: 'svc-meta', key: key.privateJwk },
      ca: ca.root.certPem,
      sleep: async () => undefined,
    });
    await expect(client.getToken()).rejects.toMatchObject({ error: 'invalid_metadata' });
    expect(stub.requests).toHaveLength(1);
    await client.close();
  });

  it('refuses a trailing-slash variant of the issuer (exact comparison)', async () => {
    stub = await startStub(ca, () => ({
      status: 200,
      body: { issuer: `${stub?.origin}/`, token_endpoint: `${stub?.origin}/token` },
    }));
    const client = new TokenClient({
      issuer: stub.origin,
      auth: { method: 'private_key_jwt', clientId: 'svc-meta', key: key.privateJwk },
      ca: ca.root.certPem,
    });
    await expect(client.getToken()).rejects.toMatchObject({ error: 'invalid_metadata' });
    await client.close();
  });

  it('rejects misuse at construction with TypeError', () => {
    const auth = { method: 'private_key_jwt', clientId: 'x', key: key.privateJwk } as const;
    expect(() => new TokenClient({ auth })).toThrow(TypeError);
    expect(() => new TokenClient({ tokenEndpoint: 'https://as.example/token', auth })).toThrow(
      /issuer/,
    );
    expect(() => new TokenClient({ issuer: 'http://as.example', auth })).toThrow(/https/);
    expect(
      () => new TokenClient({ issuer: 'https://as.example', auth, assertionLifetimeSeconds: 300 }),
    ).toThrow(/60/);
    expect(
      () =>
        new TokenClient({
          issuer: 'https://as.example',
          auth: { method: 'tls_client_auth', clientId: 'x', certFile: 'a.pem' } as never,
        }),
    ).toThrow(/certFile and keyFile/);
  });
});
