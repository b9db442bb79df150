/**
 * Seeded fuzzing of the running server over real TLS: token requests whose every parameter,
 * header, assertion header and claim, DPoP proof and body may be hostile, introspection calls,
 * discovery fetches and requests to paths and with methods nobody serves. Some assertions and
 * proofs are properly signed with the registered client's key around hostile claims, so the
 * checks behind the signature are reached too; some requests come over a connection that
 * presents a registered client certificate.
 *
 * The oracle is what any client may rely on, whatever it sends:
 * - no 5xx and no dropped request: every request gets an answer;
 * - every refusal at /token and /introspect is an RFC 6749 §5.2 JSON error with a registered
 *   code, `Cache-Control: no-store` and a printable description;
 * - a token is issued only to a caller holding real key material (the client's signing key or a
 *   registered certificate), for that client, and for an assertion that meets RFC 7523 §3
 *   (iss = sub = the client, an audience of this server, a numeric `exp` in the future, a `jti`);
 * - the well-formed requests mixed into the corpus all get their token (hostile traffic around
 *   them changes nothing for a registered client);
 * - nothing is logged at error level, and the server still serves both clients at the end.
 *
 * Reproduce or widen: `TOLLGATE_FUZZ_SEED=N TOLLGATE_FUZZ_CASES=N npx vitest run
 * test/features/request-fuzz.test.ts`.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { Agent, request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { isSafeDescription } from '../../src/errors/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { capturingLogger, rawEs256 } from '../helpers/dpop.js';
import { below, fuzzRun, hostileJson, hostileStrings, pick, type Rng } from '../helpers/fuzz.js';
import { getJson } from '../helpers/instances.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { redisAvailable, startRedis, type TestRedis } from '../helpers/redis.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

/** Error codes a client of this server may see (RFC 6749 §5.2, RFC 9449 §5 and §8, RFC 6750 §3.1). */
const registeredErrors = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'temporarily_unavailable',
  'invalid_token',
]);

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer | undefined;
  /** Over the connection that presents the registered client certificate. */
  readonly withCertificate: boolean;
  /** The assertion, when signed with the registered client's real key. */
  readonly signedAssertion: string | undefined;
  /** A well-formed request of a registered client: refusing it is a failure too. */
  readonly mustSucceed?: boolean;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * The corpus against each store backend: the memory stores, and Redis for the replay and
 * rate-limit stores (hostile `jti` values and client_ids become Redis keys there). The Redis run
 * is shorter: the memory one covers the protocol, this one the stores' handling of hostile keys.
 */
const backends: readonly { stores: 'memory' | 'redis'; cases: number }[] = [
  { stores: 'memory', cases: 1200 },
  ...(redisAvailable({ needBinary: true }) ? [{ stores: 'redis' as const, cases: 300 }] : []),
];

describe.each(backends)(
  'fuzzing the running server ($stores stores)',
  ({ stores, cases: fallbackCases }) => {
    let ca: DevCa;
    let redis: TestRedis | undefined;
    let jwtClient: JwtClient;
    let signingKey: KeyObject;
    let certificate: IssuedClientCertificate;
    let server: MtlsTollgate;
    let log: ReturnType<typeof capturingLogger>;
    let plainAgent: Agent;
    let certificateAgent: Agent;

    beforeAll(async () => {
      if (stores === 'redis') redis = await startRedis();
      ca = await createDevCa();
      jwtClient = await makeJwtClient('svc-fuzz-jwt');
      signingKey = createPrivateKey({ key: jwtClient.key.privateJwk as never, format: 'jwk' });
      certificate = await ca.issueClient({ clientId: 'svc-fuzz-mtls' });
      log = capturingLogger();
      server = await startMtlsTollgate({
        ca,
        clients: [
          jwtClient.metadata,
          {
            client_id: 'svc-fuzz-mtls',
            token_endpoint_auth_method: 'tls_client_auth',
            tls_client_auth_subject_dn: certificate.subject,
            scope: 'read write',
          },
        ],
        config: {
          // Limits would turn most of the corpus into 429s before it reached any deeper check.
          rateLimits: {
            failedAuthPerAddress: 1_000_000,
            failedAuthPerClient: 1_000_000,
            store: stores,
          },
          replay: { store: stores },
          ...(redis === undefined ? {} : { redis: { url: redis.url } }),
        },
        tollgate: { logger: log.logger },
      });
      const common = {
        ca: ca.root.certPem,
        keepAlive: true,
        maxSockets: 4,
        servername: 'localhost',
      };
      plainAgent = new Agent(common);
      certificateAgent = new Agent({
        ...common,
        cert: certificate.chainPem,
        key: certificate.keyPem,
      });
      // Until its stores are connected the server fails assertions closed with 503 (by design,
      // and /readyz says so): start as a load balancer would, once every check is green.
      for (let i = 0; i < 100; i++) {
        const { body } = await getJson(`${server.base}/readyz`, ca.root.certPem);
        if ((body as { status?: string }).status === 'ready') break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });

    afterAll(async () => {
      plainAgent?.destroy();
      certificateAgent?.destroy();
      await server?.dispose();
      await redis?.dispose();
    });

    const send = (sent: Sent) =>
      new Promise<Answer>((resolve, reject) => {
        const req = request(
          `${server.base}${sent.path}`,
          {
            method: sent.method,
            // Node frames a GET, DELETE or OPTIONS body only when told its length; unframed, its
            // bytes would start the next request on the connection.
            headers:
              sent.body === undefined
                ? sent.headers
                : { ...sent.headers, 'content-length': String(sent.body.length) },
            agent: sent.withCertificate ? certificateAgent : plainAgent,
            timeout: 15_000,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
        req.on('error', reject);
        req.end(sent.body);
      });

    it('answers every hostile request in form and issues tokens only to key holders', async () => {
      const { seed, cases, rng } = fuzzRun(fallbackCases);
      const generator = new RequestGenerator(rng, {
        issuer: server.issuer,
        tokenEndpoint: `${server.issuer}/token`,
        clientId: jwtClient.clientId,
        privateJwk: jwtClient.key.privateJwk as Record<string, unknown>,
        signingKey,
      });
      const issued: string[] = [];
      const statuses = new Map<number, number>();
      for (let i = 0; i < cases; i++) {
        const sent = await generator.next(issued);
        const label = `seed ${seed} case ${i}: ${sent.method} ${sent.path.slice(0, 80)}`;
        let answer: Answer;
        try {
          answer = await send(sent);
        } catch (error) {
          const raw = (error as { rawPacket?: Buffer }).rawPacket;
          throw new Error(
            `${label}: ${(error as Error).message}\nsent: ${JSON.stringify(sent.headers)}${raw === undefined ? '' : `\nreceived: ${JSON.stringify(raw.toString('latin1'))}`}`,
            { cause: error },
          );
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expect(answer.status, `${label}: ${answer.body.slice(0, 300)}`).toBeLessThan(500);
        const route = sent.path.split('?')[0];
        if (sent.method === 'POST' && (route === '/token' || route === '/introspect')) {
          expect(answer.headers['cache-control'], label).toBe('no-store');
        }
        if (sent.mustSucceed === true) expect(answer.status, `${label}: ${answer.body}`).toBe(200);
        if (sent.method === 'POST' && route === '/token') {
          if (answer.status === 200) {
            const token = (JSON.parse(answer.body) as { access_token: string }).access_token;
            expectEarned(sent, claimsOf(token), label, jwtClient.clientId, server.issuer);
            if (issued.length < 50) issued.push(token);
          } else {
            expectOAuthError(answer, label);
          }
        }
        if (sent.method === 'POST' && route === '/introspect' && answer.status !== 200) {
          expectOAuthError(answer, label);
        }
      }
      // The corpus must reach past the front door: some tokens issued, many kinds of refusal.
      expect(issued.length, JSON.stringify([...statuses])).toBeGreaterThan(0);
      expect(statuses.size).toBeGreaterThan(3);

      const errors = log.lines.filter((line) => (line.level as number) >= 50);
      expect(errors, JSON.stringify(errors.slice(0, 3))).toEqual([]);
      // Still serving both clients.
      const byJwt = await server.token({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(
          jwtClient.key.privateJwk,
          jwtClient.clientId,
          server.issuer,
        ),
      });
      expect(byJwt.ok, JSON.stringify(byJwt)).toBe(true);
      const byCertificate = await server.token(
        { grant_type: 'client_credentials', client_id: 'svc-fuzz-mtls' },
        { cert: certificate.chainPem, key: certificate.keyPem },
      );
      expect(byCertificate.ok, JSON.stringify(byCertificate)).toBe(true);
    }, 600_000); // bounded by the case count; a corpus run by hand may take minutes
  },
);

/** An RFC 6749 §5.2 error: JSON, a registered code, a printable description. */
function expectOAuthError(answer: Answer, label: string): void {
  expect(answer.headers['content-type'], label).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(registeredErrors.has(body.error as string), `${label}: ${answer.body}`).toBe(true);
  if (body.error_description !== undefined) {
    expect(isSafeDescription(body.error_description as string), label).toBe(true);
  }
}

/**
 * A token was issued: the request held real key material and named no one else, and a signed
 * assertion met RFC 7523 §3 when it was what authenticated.
 */
function expectEarned(
  sent: Sent,
  claims: Record<string, unknown>,
  label: string,
  jwtClientId: string,
  issuer: string,
): void {
  const detail = `${label}: issued to ${String(claims.client_id)} for ${JSON.stringify(sent.headers)} ${sent.body?.toString().slice(0, 600)}`;
  if (claims.client_id === 'svc-fuzz-mtls') {
    expect(sent.withCertificate, detail).toBe(true);
    return;
  }
  expect(claims.client_id, detail).toBe(jwtClientId);
  expect(sent.signedAssertion, detail).toBeDefined();
  const [header, payload] = (sent.signedAssertion as string)
    .split('.')
    .slice(0, 2)
    .map(
      (part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>,
    );
  const now = Date.now() / 1000;
  expect(header?.alg, detail).toBe('ES256');
  expect(payload?.iss, detail).toBe(jwtClientId);
  expect(payload?.sub, detail).toBe(jwtClientId);
  const audiences = Array.isArray(payload?.aud) ? payload.aud : [payload?.aud];
  expect(
    audiences.some((aud) => aud === issuer || aud === `${issuer}/token`),
    detail,
  ).toBe(true);
  expect(typeof payload?.exp === 'number' && payload.exp > now - 60, detail).toBe(true);
  expect(typeof payload?.jti === 'string' && payload.jti !== '', detail).toBe(true);
}

/** A form body; lone surrogates become U+FFFD (URLSearchParams), as a real client would send. */
function fuzzForm(params: Record<string, string | string[] | undefined>): Buffer {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
      body.append(name, one);
    }
  }
  return Buffer.from(body.toString());
}

/** Lone surrogates replaced by U+FFFD (what UTF-8 encoding does), so encodeURIComponent takes it. */
const wellFormed = (text: string) => Buffer.from(text, 'utf8').toString('utf8');

interface Target {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly privateJwk: Record<string, unknown>;
  readonly signingKey: KeyObject;
}

/** Builds the corpus: one request per call, from the seeded random source. */
class RequestGenerator {
  #jtis = 0;
  private readonly rng: Rng;
  private readonly target: Target;

  constructor(rng: Rng, target: Target) {
    this.rng = rng;
    this.target = target;
  }

  async next(issued: readonly string[]): Promise<Sent> {
    const { rng } = this;
    const kind = below(rng, 20);
    if (kind < 11) return this.tokenRequest();
    if (kind < 13) return this.oddBody();
    if (kind < 15) return this.introspection(issued);
    if (kind < 17) return this.discovery();
    return this.stranger();
  }

  /** A token request: each parameter right, missing, repeated or hostile; maybe a DPoP proof. */
  tokenRequest(): Sent {
    const { rng, target } = this;
    if (below(rng, 4) === 0) return this.validTokenRequest();
    const signedAssertion = below(rng, 3) === 0 ? undefined : this.assertion();
    const assertion =
      signedAssertion !== undefined && below(rng, 6) !== 0 ? signedAssertion : this.mangledJws();
    const params: Record<string, string | string[] | undefined> = {
      grant_type: this.maybe('client_credentials', [
        'authorization_code',
        'password',
        'refresh_token',
      ]),
      client_assertion_type: this.maybe(jwtBearerAssertionType, [`${jwtBearerAssertionType} `]),
      client_assertion: below(rng, 8) === 0 ? undefined : assertion,
      client_id: this.maybe(pick(rng, [undefined, target.clientId, 'svc-fuzz-mtls']), [
        'svc-unknown',
        target.clientId.toUpperCase(),
      ]),
      scope: pick(rng, [undefined, 'read', 'read write', 'admin', 'read read', '', ' read']),
      resource: pick(rng, [
        undefined,
        'https://api.example',
        ['https://a.example', 'https://b.example'],
        'not a uri',
        'https://api.example#frag',
      ]),
    };
    for (let extra = below(rng, 3); extra > 0; extra--) {
      params[pick(rng, [...hostileStrings, 'audience', 'client_secret', 'code', 'redirect_uri'])] =
        pick(rng, hostileStrings);
    }
    const headers: Record<string, string | string[]> = {
      'content-type': pick(rng, [
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded; charset=UTF-8',
        'Application/X-WWW-Form-Urlencoded',
      ]),
      ...this.extraHeaders(),
    };
    if (below(rng, 5) === 0) headers.dpop = this.dpopHeader();
    const signedBody = signedAssertion !== undefined && params.client_assertion === signedAssertion;
    return {
      method: 'POST',
      path: pick(rng, [
        '/token',
        '/token',
        '/token',
        '/token?x=1',
        '/token/',
        '//token',
        '/%74oken',
      ]),
      headers,
      body: fuzzForm(params),
      withCertificate: below(rng, 4) === 0,
      signedAssertion: signedBody ? signedAssertion : undefined,
    };
  }

  /** A request that must get a token (the corpus checks it reaches issuance), maybe with DPoP. */
  validTokenRequest(): Sent {
    const { rng } = this;
    const signedAssertion = this.assertion(0);
    const withCertificate = below(rng, 3) === 0;
    const params = withCertificate
      ? { grant_type: 'client_credentials', client_id: 'svc-fuzz-mtls' }
      : {
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: signedAssertion,
          scope: pick(rng, [undefined, 'read']),
        };
    return {
      method: 'POST',
      path: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fuzzForm(params),
      withCertificate,
      signedAssertion: withCertificate ? undefined : signedAssertion,
      mustSucceed: true,
    };
  }

  /** A correct value most of the time, else one of `wrong`, a hostile string, absent or twice. */
  maybe(right: string | undefined, wrong: readonly string[]): string | string[] | undefined {
    const { rng } = this;
    switch (below(rng, 10)) {
      case 0:
        return pick(rng, wrong);
      case 1:
        return pick(rng, hostileStrings);
      case 2:
        return undefined;
      case 3:
        return right === undefined ? undefined : [right, right];
      default:
        return right;
    }
  }

  /** An ES256 assertion signed with the client's key, with some headers and claims hostile. */
  assertion(maxChanges = 4): string {
    const { rng, target } = this;
    const now = Math.floor(Date.now() / 1000);
    const header: Record<string, unknown> = { alg: 'ES256', typ: 'JWT' };
    const claims: Record<string, unknown> = {
      iss: target.clientId,
      sub: target.clientId,
      // rfc7523bis: the issuer identifier alone (the token endpoint only for legacy_audience).
      aud:
        maxChanges === 0
          ? target.issuer
          : pick(rng, [target.issuer, `${target.issuer}/token`, [target.issuer]]),
      iat: now,
      exp: now + 60,
      jti: `fuzz-${process.pid}-${++this.#jtis}`,
    };
    for (let changes = maxChanges === 0 ? 0 : below(rng, maxChanges); changes > 0; changes--) {
      if (below(rng, 3) === 0) {
        header[
          pick(rng, ['alg', 'typ', 'kid', 'jku', 'x5u', 'x5c', 'jwk', 'crit', 'b64', 'zip', 'cty'])
        ] = hostileJson(rng);
      } else {
        const claim = pick(rng, [
          'iss',
          'sub',
          'aud',
          'iat',
          'exp',
          'nbf',
          'jti',
          'cnf',
          'client_id',
          '__proto__',
        ]);
        if (below(rng, 5) === 0) delete claims[claim];
        else claims[claim] = hostileJson(rng);
      }
    }
    return rawEs256(header, claims, target.signingKey);
  }

  /** Something shaped like a JWS that no key signed. */
  mangledJws(): string {
    const { rng } = this;
    const part = () =>
      pick(rng, [
        Buffer.from(JSON.stringify(hostileJson(rng))).toString('base64url'),
        Buffer.from('{"alg":"none"}').toString('base64url'),
        Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url'),
        Buffer.from('{"alg":"ES256","alg":"none"}').toString('base64url'),
        'e30',
        'e30=',
        '!!',
        '',
        'A'.repeat(1 + below(rng, 3000)),
      ]);
    const parts = Array.from({ length: pick(rng, [1, 2, 3, 3, 3, 4, 5]) }, part);
    return parts.join('.');
  }

  /** A DPoP header value: a proof around hostile members, signed or not, or garbage; maybe two. */
  dpopHeader(): string | string[] {
    const { rng, target } = this;
    const header: Record<string, unknown> = {
      typ: 'dpop+jwt',
      alg: 'ES256',
      jwk: Object.fromEntries(
        Object.entries(target.privateJwk).filter(([name]) =>
          ['kty', 'crv', 'x', 'y'].includes(name),
        ),
      ),
    };
    const claims: Record<string, unknown> = {
      jti: `proof-${process.pid}-${++this.#jtis}`,
      htm: 'POST',
      htu: target.tokenEndpoint,
      iat: Math.floor(Date.now() / 1000),
    };
    for (let changes = below(rng, 4); changes > 0; changes--) {
      if (below(rng, 3) === 0) {
        header[pick(rng, ['typ', 'alg', 'jwk', 'kid', 'x5c', 'crit'])] =
          below(rng, 4) === 0 ? { ...target.privateJwk } : hostileJson(rng);
      } else {
        claims[pick(rng, ['jti', 'htm', 'htu', 'iat', 'nonce', 'ath', 'exp'])] = hostileJson(rng);
      }
    }
    const proof =
      below(rng, 5) === 0 ? this.mangledJws() : rawEs256(header, claims, target.signingKey);
    return below(rng, 8) === 0 ? [proof, proof] : proof;
  }

  /** Headers a stranger adds: forwarded certificates and addresses, Authorization, caching. */
  extraHeaders(): Record<string, string> {
    const { rng } = this;
    const headers: Record<string, string> = {};
    for (let count = below(rng, 3); count > 0; count--) {
      const name = pick(rng, [
        'authorization',
        'client-cert',
        'client-cert-chain',
        'x-ssl-client-cert',
        'x-forwarded-client-cert',
        'x-forwarded-for',
        'forwarded',
        'if-none-match',
        'accept',
        'accept-encoding',
        'origin',
        'x-request-id',
      ]);
      const value = pick(rng, [
        ...hostileStrings,
        'Basic c3ZjLWZ1enotand0OnNlY3JldA==',
        'Bearer x',
        'DPoP x',
        ':MIIB:',
        '10.0.0.1',
        'for=10.0.0.1;proto=https',
        '*',
        'W/"x"',
      ]);
      // Node refuses header values with control characters before they leave the client.
      if (/^[\t\x20-\x7e\x80-\xff]*$/.test(value)) headers[name] = value;
    }
    return headers;
  }

  /** /token with bodies and content types no client should send. */
  oddBody(): Sent {
    const { rng } = this;
    const body = pick(rng, [
      Buffer.from(
        JSON.stringify({ grant_type: 'client_credentials', client_id: this.target.clientId }),
      ),
      Buffer.from(JSON.stringify(hostileJson(rng))),
      Buffer.from('grant_type=client_credentials&grant_type'),
      Buffer.from('%%%%=%%%%&=&&=='),
      Buffer.from('a=1&'.repeat(1 + below(rng, 3000))),
      Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc0, 0xaf]),
      Buffer.from('grant_type=client_credentials\u0000&scope=read'),
      Buffer.alloc(0),
      Buffer.from(`client_assertion=${'A'.repeat(70_000)}`),
    ]);
    return {
      method: 'POST',
      path: '/token',
      headers: {
        'content-type': pick(rng, [
          'application/json',
          'text/plain',
          'multipart/form-data; boundary=x',
          'application/x-www-form-urlencoded; charset=latin1',
          'application/x-www-form-urlencoded',
          '',
          'application/x-www-form-urlencoded, application/json',
        ]),
        ...this.extraHeaders(),
      },
      body,
      withCertificate: below(rng, 4) === 0,
      signedAssertion: undefined,
    };
  }

  /** /introspect with a token of ours, a hostile one or none, authenticated or not. */
  introspection(issued: readonly string[]): Sent {
    const { rng } = this;
    const token = pick(rng, [
      issued.length > 0 ? pick(rng, issued) : undefined,
      this.mangledJws(),
      pick(rng, hostileStrings),
      undefined,
    ]);
    const signedAssertion = below(rng, 2) === 0 ? this.assertion() : undefined;
    const params: Record<string, string | string[] | undefined> = {
      token,
      token_type_hint: pick(rng, [undefined, 'access_token', 'refresh_token', ...hostileStrings]),
      client_assertion_type: signedAssertion === undefined ? undefined : jwtBearerAssertionType,
      client_assertion: signedAssertion,
    };
    return {
      method: 'POST',
      path: '/introspect',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.extraHeaders() },
      body: fuzzForm(params),
      withCertificate: below(rng, 3) === 0,
      signedAssertion: undefined,
    };
  }

  /** Metadata and keys, with queries and conditional headers. */
  discovery(): Sent {
    const { rng } = this;
    const path = pick(rng, [
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
      '/.well-known/oauth-authorization-server/x',
      '/jwks',
      '/healthz',
      '/readyz',
      '/metrics',
    ]);
    const query =
      below(rng, 3) === 0 ? `?${encodeURIComponent(wellFormed(pick(rng, hostileStrings)))}=1` : '';
    return {
      method: pick(rng, ['GET', 'GET', 'HEAD', 'POST']),
      path: `${path}${query}`,
      headers: this.extraHeaders(),
      body: undefined,
      withCertificate: below(rng, 4) === 0,
      signedAssertion: undefined,
    };
  }

  /** Methods and paths nobody serves. */
  stranger(): Sent {
    const { rng } = this;
    const method = pick(rng, ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']);
    const path = pick(rng, [
      '/',
      '/token',
      '/TOKEN',
      '/token/../token',
      '/%2e%2e/etc/passwd',
      '/introspect',
      `/${encodeURIComponent(wellFormed(pick(rng, hostileStrings)))}`,
      `/${'a/'.repeat(1 + below(rng, 500))}`,
      '/token;x=1',
      '/%ff',
      '/?%',
    ]);
    return {
      method,
      path,
      headers: this.extraHeaders(),
      body: below(rng, 3) === 0 ? Buffer.from(pick(rng, hostileStrings)) : undefined,
      withCertificate: below(rng, 4) === 0,
      signedAssertion: undefined,
    };
  }
}
