/**
 * RFC 9449 read as an outsider's conformance suite, for what dpop-token.test.ts does not already
 * cover: the token endpoint's duties when DPoP is off (§5, §5.2), DPoP next to a required
 * certificate binding (RFC 8705 §3), the nonce headers (§8, §8.2), the resource server's
 * challenges (§7.1, §7.2 Figures 16 to 19, §9), and the client SDK's side of §5, §7.2 and §9
 * against servers that answer as the RFC allows (a third-party API is a scripted HTTPS server).
 * Everything runs over real TLS sockets on 127.0.0.1 with dev CA certificates.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenClient, TokenClientError } from '../../src/client/index.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { tollgateResource } from '../../src/resource/index.js';
import { type Stub, startStub } from '../client/stub-server.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  athOf,
  capturingLogger,
  lastReason,
  makeProof,
  makeProofKey,
  type ProofKey,
} from '../helpers/dpop.js';
import { startDpopIssuer } from '../helpers/dpop-issuer.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { findNginx, type RunningNginx, startNginxServer } from '../helpers/nginx.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { call } from '../resource/http.js';
import { encode, expectOAuthError, formType, type RawResponse, rawRequest } from './support.js';

const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const orders = 'https://api.test/orders';
/** RFC 9449 §8.1 / RFC 6749 Appendix A: nonce = 1*NQCHAR. */
const nqchars = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** A token request by `client`, with the given DPoP header(s) and optional certificate. */
async function tokenRequest(
  server: MtlsTollgate,
  ca: DevCa,
  client: JwtClient,
  options: {
    dpop?: string | string[];
    base?: string;
    cert?: { chainPem: string; keyPem: string };
  } = {},
): Promise<RawResponse> {
  return rawRequest(options.base ?? server.base, ca.root.certPem, {
    path: '/token',
    headers: {
      'content-type': formType,
      ...(options.dpop === undefined ? {} : { dpop: options.dpop }),
    },
    body: encode({
      grant_type: 'client_credentials',
      client_assertion_type: assertionType,
      client_assertion: await signAssertion(client.key.privateJwk, client.clientId, server.issuer),
    }),
    ...(options.cert === undefined
      ? {}
      : { cert: options.cert.chainPem, key: options.cert.keyPem }),
  });
}

describe('RFC 9449 at the token endpoint: the duties around the proof', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let off: MtlsTollgate;
  let plain: JwtClient;
  let dpopOnly: JwtClient;
  let certBound: JwtClient;
  let key: ProofKey;
  const log = capturingLogger();
  const offLog = capturingLogger();

  beforeAll(async () => {
    ca = await createDevCa();
    plain = await makeJwtClient('rfc9449-plain');
    dpopOnly = await makeJwtClient('rfc9449-dpop-only', 'ES256', {
      dpop_bound_access_tokens: true,
    });
    certBound = await makeJwtClient('rfc9449-cert-bound', 'ES256', {
      tls_client_certificate_bound_access_tokens: true,
    });
    key = await makeProofKey('ES256');
    server = await startMtlsTollgate({
      ca,
      clients: [plain.metadata, dpopOnly.metadata, certBound.metadata],
      mtls: true,
      config: { rateLimits: { enabled: false }, dpop: { nonce: { required: true } } },
      tollgate: { logger: log.logger },
    });
    off = await startMtlsTollgate({
      ca,
      clients: [plain.metadata, dpopOnly.metadata],
      config: { rateLimits: { enabled: false }, dpop: { enabled: false } },
      tollgate: { logger: offLog.logger },
    });
  });
  afterAll(async () => {
    await server?.dispose();
    await off?.dispose();
  });

  /** A proof for `server`'s token endpoint carrying its current nonce (learned the RFC way). */
  const noncedProof = async (at: MtlsTollgate, htu = `${at.issuer}/token`) => {
    const first = await tokenRequest(at, ca, plain, {
      dpop: await makeProof(key, { htu }),
      ...(htu === `${at.issuer}/token` ? {} : { base: at.mtlsBase as string }),
    });
    const nonce = first.headers['dpop-nonce'];
    expect(typeof nonce, first.text).toBe('string');
    return (spec: { htu?: string } = {}) =>
      makeProof(key, { htu: spec.htu ?? htu, nonce: nonce as string });
  };

  describe('§8 nonces from the authorization server', () => {
    it('a proof without a nonce: 400 use_dpop_nonce, exactly one DPoP-Nonce of NQCHARs, no-store', async () => {
      const res = await tokenRequest(server, ca, plain, {
        dpop: await makeProof(key, { htu: `${server.issuer}/token` }),
      });
      expectOAuthError(res, 400, 'use_dpop_nonce');
      const nonce = res.headers['dpop-nonce'];
      // Node joins repeated headers with ", ": one header means no comma-joined pair.
      expect(typeof nonce).toBe('string');
      expect(nonce as string).toMatch(nqchars);
    });

    it('§8.2: the 200 carries the next nonce, once, and is not cacheable', async () => {
      const proof = await noncedProof(server);
      const res = await tokenRequest(server, ca, plain, { dpop: await proof() });
      expect(res.status, res.text).toBe(200);
      expect(res.json?.token_type).toBe('DPoP');
      expect(res.headers['dpop-nonce'] as string).toMatch(nqchars);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBe('no-cache');
    });

    it('§8: a nonce that is not one the server supplied is refused with a fresh one', async () => {
      const res = await tokenRequest(server, ca, plain, {
        dpop: await makeProof(key, { htu: `${server.issuer}/token`, nonce: 'made-up-nonce' }),
      });
      expectOAuthError(res, 400, 'use_dpop_nonce');
      expect(lastReason(log.lines)).toBe('dpop_nonce_invalid');
      expect(res.headers['dpop-nonce'] as string).toMatch(nqchars);
    });
  });

  describe('RFC 8705 §3 and RFC 9449 §5: a proof next to a required certificate binding', () => {
    it('the certificate binds: cnf.x5t#S256 only, token_type Bearer, the proof checked and spent', async () => {
      const leaf = await ca.issueClient({ clientId: certBound.clientId });
      const proof = await noncedProof(server, server.tg.endpoints.mtlsToken as string);
      const once = await proof();
      const res = await tokenRequest(server, ca, certBound, {
        dpop: once,
        base: server.mtlsBase as string,
        cert: leaf,
      });
      expect(res.status, res.text).toBe(200);
      expect(res.json?.token_type).toBe('Bearer');
      expect(claimsOf(String(res.json?.access_token)).cnf).toEqual({
        'x5t#S256': thumbprintOf(leaf.certPem),
      });
      // §5: a DPoP header must hold a valid proof, so it was checked, and its jti spent.
      const again = await tokenRequest(server, ca, certBound, {
        dpop: once,
        base: server.mtlsBase as string,
        cert: leaf,
      });
      expectOAuthError(again, 400, 'invalid_dpop_proof');
      expect(lastReason(log.lines)).toBe('dpop_replayed');
    });

    it('a proof does not stand in for the certificate the client requires', async () => {
      const proof = await noncedProof(server);
      const res = await tokenRequest(server, ca, certBound, { dpop: await proof() });
      expectOAuthError(res, 400, 'invalid_request');
      expect(lastReason(log.lines)).toBe('binding_certificate_required');
    });
  });

  describe('§5 and §5.2 with DPoP turned off', () => {
    it('metadata does not announce dpop_signing_alg_values_supported (§5.1)', async () => {
      const res = await rawRequest(off.base, ca.root.certPem, {
        method: 'GET',
        path: '/.well-known/oauth-authorization-server',
      });
      expect(res.status).toBe(200);
      expect(res.json).not.toHaveProperty('dpop_signing_alg_values_supported');
    });

    it('a proof from an ordinary client is not honoured: token_type Bearer, no cnf (§5 MAY)', async () => {
      const res = await tokenRequest(off, ca, plain, {
        dpop: await makeProof(key, { htu: `${off.issuer}/token` }),
      });
      expect(res.status, res.text).toBe(200);
      expect(res.json?.token_type).toBe('Bearer');
      expect(claimsOf(String(res.json?.access_token)).cnf).toBeUndefined();
    });

    it('a dpop_bound_access_tokens client never gets a token that is not DPoP-bound (§5.2 MUST)', async () => {
      for (const dpop of [undefined, await makeProof(key, { htu: `${off.issuer}/token` })]) {
        const res = await tokenRequest(off, ca, dpopOnly, dpop === undefined ? {} : { dpop });
        expectOAuthError(res, 400, 'invalid_request');
        expect(lastReason(offLog.lines)).toBe('dpop_unavailable');
      }
    });
  });
});

describe('RFC 9449 §7 and §9 at the resource-server plugin', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let key: ProofKey;
  let api: FastifyInstance;
  let base: string;
  let token: string;
  const algs = 'algs="ES256 ES384 ES512 PS256 EdDSA Ed25519"';

  beforeAll(async () => {
    ({ ca, server, key, token } = await startDpopIssuer('rfc9449-api', orders));
    const identity = await ca.issueServer();
    api = Fastify({
      https: { cert: identity.chainPem, key: identity.keyPem },
    }) as unknown as FastifyInstance;
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    await api.register(tollgateResource, {
      issuer: server.issuer,
      audience: orders,
      jwksUri: `${server.issuer}/jwks`,
      ca: ca.root.certPem,
      dpop: { publicOrigin: base, nonce: { secret: randomBytes(32) } },
    });
    api.get('/orders', { config: { tollgate: {} } }, async () => ({ ok: true }));
    await api.listen({ host: '127.0.0.1', port });
  });
  afterAll(async () => {
    await api?.close();
    await server?.dispose();
  });

  const get = (headers: Record<string, string | string[]>) =>
    call(`${base}/orders`, { ca: ca.root.certPem, headers });
  /** Each challenge as its own string (Node joins repeated WWW-Authenticate with ", "). */
  const challenges = (headers: IncomingHttpHeaders) => String(headers['www-authenticate']);

  it('Figure 17: no credentials: a Bearer and a DPoP challenge, neither with an error', async () => {
    const res = await get({});
    expect(res.status).toBe(401);
    expect(challenges(res.headers)).toBe(`Bearer, DPoP ${algs}`);
  });

  it('Figure 18: a bad Bearer token: the error in the Bearer challenge, DPoP algs beside it', async () => {
    const res = await get({ authorization: 'Bearer a.b.c' });
    expect(res.status).toBe(401);
    expect(challenges(res.headers)).toMatch(
      new RegExp(`^Bearer error="invalid_token", error_description="[^"]+", DPoP ${algs}$`),
    );
  });

  it('Figure 19: two Authorization headers: 400 invalid_request, the error in both challenges', async () => {
    const res = await get({ authorization: ['Bearer x.y.z', `DPoP ${token}`] });
    expect(res.status).toBe(400);
    const value = challenges(res.headers);
    expect(value).toMatch(/^Bearer error="invalid_request", error_description="[^"]+", DPoP /);
    expect(value).toMatch(/DPoP error="invalid_request", error_description="[^"]+", algs="/);
  });

  it('§9: a proof without the nonce: 401, DPoP error="use_dpop_nonce", one DPoP-Nonce; then 200', async () => {
    const htu = `${base}/orders`;
    const first = await get({
      authorization: `DPoP ${token}`,
      dpop: await makeProof(key, { htm: 'GET', htu, accessToken: token }),
    });
    expect(first.status).toBe(401);
    expect(first.json?.error).toBe('use_dpop_nonce');
    expect(challenges(first.headers)).toMatch(/^DPoP error="use_dpop_nonce", .*algs="ES256 /);
    const nonce = first.headers['dpop-nonce'];
    expect(typeof nonce).toBe('string');
    expect(nonce as string).toMatch(nqchars);
    const second = await get({
      authorization: `DPoP ${token}`,
      dpop: await makeProof(key, { htm: 'GET', htu, accessToken: token, nonce: nonce as string }),
    });
    expect(second.status, second.text).toBe(200);
    // §8.2 (which §9 applies to resource servers): a response with a nonce is not cacheable.
    expect(second.headers['dpop-nonce'] as string).toMatch(nqchars);
    expect(second.headers['cache-control']).toBe('no-store');
  });

  it('Figure 16: a failed key binding answers only a DPoP challenge, with the error and algs', async () => {
    const thief = await makeProofKey('ES256');
    const first = await get({
      authorization: `DPoP ${token}`,
      dpop: await makeProof(thief, { htm: 'GET', htu: `${base}/orders`, accessToken: token }),
    });
    const nonce = first.headers['dpop-nonce'] as string;
    const res = await get({
      authorization: `DPoP ${token}`,
      dpop: await makeProof(thief, {
        htm: 'GET',
        htu: `${base}/orders`,
        accessToken: token,
        nonce,
      }),
    });
    expect(res.status).toBe(401);
    expect(challenges(res.headers)).toMatch(
      new RegExp(`^DPoP error="invalid_dpop_proof", error_description="[^"]+", ${algs}$`),
    );
  });

  /** The API's current nonce, learned the RFC 9449 §9 way (a proof without one). */
  const apiNonce = async () => {
    const res = await get({
      authorization: `DPoP ${token}`,
      dpop: await makeProof(key, { htm: 'GET', htu: `${base}/orders`, accessToken: token }),
    });
    expect(res.status).toBe(401);
    return res.headers['dpop-nonce'] as string;
  };
  const proof = async (spec: Partial<Parameters<typeof makeProof>[1]> = {}, nonce?: string) =>
    makeProof(key, {
      htm: 'GET',
      htu: `${base}/orders`,
      accessToken: token,
      nonce: nonce ?? (await apiNonce()),
      ...spec,
    });
  const refusedProof = (res: { status: number; json: Record<string, unknown> | undefined }) => {
    expect(res.status).toBe(401);
    expect(res.json?.error).toBe('invalid_dpop_proof');
  };

  it('§7.1: the DPoP scheme name is case-insensitive (RFC 9110 §11.1); the proof is the same', async () => {
    const res = await get({ authorization: `dpop ${token}`, dpop: await proof() });
    expect(res.status, res.text).toBe(200);
  });

  it('§4.3 check 1: two DPoP headers, each a valid proof, are refused', async () => {
    const nonce = await apiNonce();
    const res = await get({
      authorization: `DPoP ${token}`,
      dpop: [await proof({}, nonce), await proof({}, nonce)],
    });
    refusedProof(res);
  });

  it('§4.3 checks 5 and 7: alg none, and a jwk carrying the private key, are refused', async () => {
    const nonce = await apiNonce();
    const claims = {
      jti: `none-${Date.now()}`,
      htm: 'GET',
      htu: `${base}/orders`,
      iat: Math.floor(Date.now() / 1000),
      ath: athOf(token),
      nonce,
    };
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const none = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })}.${b64(claims)}.`;
    refusedProof(await get({ authorization: `DPoP ${token}`, dpop: none }));
    refusedProof(
      await get({
        authorization: `DPoP ${token}`,
        dpop: await proof({ header: { jwk: key.privateJwk } }, nonce),
      }),
    );
  });

  it('§4.3 check 9: query and fragment are ignored; another path is refused', async () => {
    const nonce = await apiNonce();
    for (const htu of [`${base}/orders?page=2`, `${base}/orders#top`]) {
      const res = await get({ authorization: `DPoP ${token}`, dpop: await proof({ htu }, nonce) });
      expect(res.status, `${htu}: ${res.text}`).toBe(200);
    }
    refusedProof(
      await get({
        authorization: `DPoP ${token}`,
        dpop: await proof({ htu: `${base}/orders/1` }, nonce),
      }),
    );
  });

  it('§4.3 check 12 and §11.1: a proof for another token, and a replayed proof, are refused', async () => {
    const nonce = await apiNonce();
    refusedProof(
      await get({
        authorization: `DPoP ${token}`,
        dpop: await proof({ accessToken: `${token}x` }, nonce),
      }),
    );
    const once = await proof({}, nonce);
    expect((await get({ authorization: `DPoP ${token}`, dpop: once })).status).toBe(200);
    refusedProof(await get({ authorization: `DPoP ${token}`, dpop: once }));
  });
});

describe('RFC 9449 in the client SDK', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let off: MtlsTollgate;
  let client: JwtClient;
  let stub: Stub | undefined;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('rfc9449-sdk', 'ES256', {
      allowed_resources: [orders],
      default_resource: orders,
    });
    server = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      config: { rateLimits: { enabled: false } },
    });
    off = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      config: { rateLimits: { enabled: false }, dpop: { enabled: false } },
    });
  });
  afterAll(async () => {
    await stub?.close();
    await server?.dispose();
    await off?.dispose();
  });

  const sdk = (at: MtlsTollgate, dpop: { key: true; allowBearer?: boolean }) =>
    new TokenClient({
      issuer: at.issuer,
      auth: { method: 'private_key_jwt', clientId: client.clientId, key: client.key.privateJwk },
      ca: ca.root.certPem,
      dpop,
    });

  it('§5: a Bearer answer to a DPoP token request is discarded, unless allowBearer says otherwise', async () => {
    const strict = sdk(off, { key: true });
    const refused = await strict.getToken().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(TokenClientError);
    expect((refused as TokenClientError).error).toBe('invalid_response');
    expect((refused as TokenClientError).errorDescription).toMatch(/token_type Bearer/);
    await strict.close();
    const lenient = sdk(off, { key: true, allowBearer: true });
    expect((await lenient.getToken()).tokenType).toBe('Bearer');
    await lenient.close();
    // Control: a server that binds answers DPoP, and the strict client takes it.
    const bound = sdk(server, { key: true });
    expect((await bound.getToken()).tokenType).toBe('DPoP');
    await bound.close();
  });

  it('§7.2 and §9: use_dpop_nonce in a DPoP challenge after a Bearer one is still honoured', async () => {
    await stub?.close();
    // An API that accepts both schemes and asks for a nonce first, as RFC 9449 §7.2 permits.
    stub = await startStub(ca, (request) =>
      request.headers.dpop !== undefined &&
      proofClaims(String(request.headers.dpop)).nonce === 'api-nonce-1'
        ? { status: 200, body: { ok: true } }
        : {
            status: 401,
            headers: {
              'www-authenticate':
                'Bearer realm="api", DPoP realm="api", error="use_dpop_nonce", algs="ES256"',
              'dpop-nonce': 'api-nonce-1',
            },
            body: { error: 'use_dpop_nonce' },
          },
    );
    const dpop = sdk(server, { key: true });
    const res = await dpop.fetch(`${stub.origin}/orders`);
    expect(res.status).toBe(200);
    expect(stub.requests).toHaveLength(2);
    const [first, second] = stub.requests;
    expect(proofClaims(String(first?.headers.dpop)).nonce).toBeUndefined();
    const retried = proofClaims(String(second?.headers.dpop));
    expect(retried.nonce).toBe('api-nonce-1');
    expect(retried.jti).not.toBe(proofClaims(String(first?.headers.dpop)).jti);
    await dpop.close();
  });

  it('§4.2: htm is the method as it goes on the wire, even for a lower-case extension method', async () => {
    // A raw TLS server reads the request line itself: Node's HTTP parser refuses a lower-case
    // method, but methods are case-sensitive (RFC 9110 §9.1) and other servers take them.
    const identity = await ca.issueServer();
    const seen: { method: string; headers: Map<string, string> }[] = [];
    const raw = createTlsServer({ cert: identity.chainPem, key: identity.keyPem }, (socket) => {
      let head = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        if (head.includes('\r\n\r\n')) return;
        head += chunk;
        if (!head.includes('\r\n\r\n') && head.length < 65_536) return;
        const [requestLine = '', ...lines] = head.split('\r\n\r\n')[0]?.split('\r\n') ?? [];
        const headers = new Map<string, string>();
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
        seen.push({ method: requestLine.split(' ')[0] ?? '', headers });
        socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}');
      });
      socket.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const origin = `https://127.0.0.1:${(raw.address() as AddressInfo).port}`;
    const dpop = sdk(server, { key: true });
    try {
      const token = await dpop.getToken();
      for (const method of ['patch', 'post', 'PATCH', 'get']) {
        const res = await dpop.fetch(`${origin}/orders?x=1`, {
          method,
          ...(method.toLowerCase() === 'get' ? {} : { body: '{}' }),
        });
        expect(res.status).toBe(200);
        await res.body?.cancel();
        const request = seen.at(-1);
        const claims = proofClaims(String(request?.headers.get('dpop')));
        expect(claims.htm, method).toBe(request?.method);
        expect(claims.htu).toBe(`${origin}/orders`);
        expect(claims.ath).toBe(athOf(token.accessToken));
        expect(request?.headers.get('authorization')).toBe(`DPoP ${token.accessToken}`);
      }
      expect(seen.map((request) => request.method)).toEqual(['patch', 'POST', 'PATCH', 'GET']);
    } finally {
      await dpop.close();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    }
  });
});

const nginx = findNginx();
if (nginx === undefined && process.env.CI !== undefined) {
  throw new Error('nginx is required in CI (.ci/run installs it)');
}

// RFC 9449 §9: "the nonces provided by an authorization server and a resource server are
// different and should not be confused with one another since nonces will be only accepted by
// the server that issued them." Behind one gateway (a real nginx here) the token endpoint and an
// API share an origin, so the SDK cannot tell them apart by origin alone.
describe.skipIf(nginx === undefined)(
  'RFC 9449 §9 in the client SDK: one origin, two servers, two nonces',
  () => {
    let ca: DevCa;
    let server: MtlsTollgate;
    let gateway: RunningNginx;
    let api: FastifyInstance;
    let client: JwtClient;
    let origin: string;
    /** What the API saw: the nonce of every proof that reached it, and the nonces it handed out. */
    const received: (string | undefined)[] = [];
    const issued = new Set<string>();
    const statuses: number[] = [];

    beforeAll(async () => {
      ca = await createDevCa();
      const plainPort = await freePort();
      const apiPort = await freePort();
      const identity = await ca.issueServer();
      gateway = await startNginxServer({
        binary: nginx as string,
        files: { 'server.pem': identity.chainPem, 'server-key.pem': identity.keyPem },
        server: (dir, port) => `
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/server.pem;
    ssl_certificate_key ${dir}/server-key.pem;
    location /api/ {
      proxy_pass http://127.0.0.1:${apiPort};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
    }
    location / {
      proxy_pass http://127.0.0.1:${plainPort};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
    }
  }`,
      });
      origin = `https://localhost:${gateway.port}`;
      const resource = `${origin}/api`;
      client = await makeJwtClient('rfc9449-gateway', 'ES256', {
        allowed_resources: [resource],
        default_resource: resource,
      });
      // The authorization server requires its nonces too (RFC 9449 §8), behind the gateway.
      server = await startMtlsTollgate({
        ca,
        clients: [client.metadata],
        config: {
          issuer: origin,
          plain: { enabled: true, host: '127.0.0.1', port: plainPort },
          rateLimits: { enabled: false },
          dpop: { nonce: { required: true } },
        },
      });
      api = Fastify() as unknown as FastifyInstance;
      await api.register(tollgateResource, {
        issuer: origin,
        audience: resource,
        jwksUri: `${server.base}/jwks`,
        ca: ca.root.certPem,
        dpop: { publicOrigin: origin, nonce: { secret: randomBytes(32) } },
      });
      api.addHook('onRequest', async (request) => {
        const proof = request.headers.dpop;
        received.push(
          typeof proof === 'string' ? (claimsOf(proof).nonce as string | undefined) : undefined,
        );
      });
      api.addHook('onSend', async (_request, reply) => {
        const nonce = reply.getHeader('dpop-nonce');
        if (typeof nonce === 'string') issued.add(nonce);
        statuses.push(reply.statusCode);
      });
      api.get('/api/orders', { config: { tollgate: {} } }, async () => ({ ok: true }));
      await api.listen({ host: '127.0.0.1', port: apiPort });
    });
    afterAll(async () => {
      await api?.close();
      await gateway?.stop();
      await server?.dispose();
    });

    it("the token endpoint's nonce never reaches the API, nor the API's the token endpoint", async () => {
      const sdk = new TokenClient({
        issuer: origin,
        auth: { method: 'private_key_jwt', clientId: client.clientId, key: client.key.privateJwk },
        ca: ca.root.certPem,
        dpop: { key: true },
      });
      try {
        // A call, a fresh token (the token endpoint again), and two more calls.
        const first = await sdk.fetch(`${origin}/api/orders`);
        expect(first.status).toBe(200);
        await first.body?.cancel();
        expect((await sdk.getToken({ forceRefresh: true })).tokenType).toBe('DPoP');
        for (let i = 0; i < 2; i++) {
          const res = await sdk.fetch(`${origin}/api/orders`);
          expect(res.status).toBe(200);
          await res.body?.cancel();
        }
      } finally {
        await sdk.close();
      }
      // Every nonce the API received was one it issued (the first proof had none to send).
      expect(received[0]).toBeUndefined();
      for (const nonce of received.slice(1)) expect(issued.has(nonce as string), nonce).toBe(true);
      // One use_dpop_nonce round trip in all: the first call. The renewed token's request, had it
      // carried the API's nonce, would have cost the token endpoint one too, and the next call
      // (carrying the token endpoint's nonce) the API another.
      expect(statuses).toEqual([401, 200, 200, 200]);
    });
  },
);

function proofClaims(proof: string): Record<string, unknown> {
  return claimsOf(proof);
}
