/**
 * A fresh attacker's pass over the running server (round 19): each attack is performed over real
 * TLS sockets on 127.0.0.1 against a Tollgate started from the project's own code, with the dev
 * CA's server certificate, and each of them failed on the code before its fix.
 *
 * - Pipelining: Node hands every pipelined request to the handlers as soon as it is parsed, so
 *   one connection put a whole TLS record of token requests (about a hundred) into the handlers
 *   at once, where docs/security.md promised one per connection; Fastify then answered only the
 *   first of them and closed the connection.
 * - Refusals made before any route (bytes Node's parser refuses, a path with malformed
 *   percent-encoding) were answered in Fastify's JSON shape, echoing the path, not in OAuth form;
 *   Node answered a request without Host, and an unknown `Expect`, with an empty body, and let a
 *   request with two Host fields through.
 * - A failed request's audit line carried the whole client_id it claimed (kilobytes).
 * - RSA keys with a public exponent of any length passed the key policy: a DPoP proof key (chosen
 *   by whoever sends the proof) with a 3072-bit exponent costs 7 ms per verification, not 0.05.
 */
import type { KeyObject } from 'node:crypto';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { isSafeDescription } from '../../src/errors/index.js';
import { maxPipelinedRequests } from '../../src/http/connections.js';
import { rawJws, signAssertion } from '../helpers/assertions.js';
import { capturingLogger, rawProof } from '../helpers/dpop.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { rsaKeyWithExponent } from '../helpers/rsa.js';
import { sources } from '../helpers/sources.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

/** How long a test waits for the server to close a connection it must close: generous. */
const closeWithinMs = 15_000;

/** One raw HTTP/1.1 response, split. */
interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The responses in `text`, in order (bodies by Content-Length, as this server sends them). */
function responsesIn(text: string): RawResponse[] {
  const responses: RawResponse[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = rest.slice(end + 4, end + 4 + length);
    if (body.length < length) break;
    responses.push({ status: Number(statusLine.split(' ')[1]), headers, body });
    rest = rest.slice(end + 4 + length);
  }
  return responses;
}

/** An RFC 6749 §5.2 error body: `error` and a printable `error_description`, nothing else. */
function expectOAuthError(response: RawResponse | undefined, status: number): void {
  expect(response?.status).toBe(status);
  expect(response?.headers['content-type']).toMatch(/^application\/json/);
  expect(response?.headers['cache-control']).toBe('no-store');
  const body = JSON.parse(response?.body ?? '') as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(body.error).toBe('invalid_request');
  expect(isSafeDescription(body.error_description as string)).toBe(true);
}

describe('attacks on the running server (round 19)', () => {
  let ca: DevCa;
  let client: JwtClient;
  let server: MtlsTollgate;
  let log: ReturnType<typeof capturingLogger>;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('svc-r19-victim');
    log = capturingLogger();
    server = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      tollgate: { logger: log.logger },
    });
  });
  afterAll(() => server?.dispose());

  /** A TLS connection from `localAddress` (each attack its own, so limits never mix). */
  const open = (localAddress: string) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const options = {
        host: '127.0.0.1',
        port: Number(new URL(server.base).port),
        localAddress,
        ca: ca.root.certPem,
        servername: 'localhost',
      };
      // localAddress is a net option that tls.connect passes on (its type omits it).
      const socket = connect(options as ConnectionOptions);
      socket.once('secureConnect', () => {
        // The server may reset an attacking connection while the test still writes to it.
        socket.on('error', () => {});
        resolve(socket);
      });
      socket.once('error', reject);
    });

  /** What the server sends on `socket`, and whether it closed it within `withinMs`. */
  const collect = (socket: TLSSocket, withinMs = closeWithinMs) =>
    new Promise<{ closed: boolean; received: string }>((resolve) => {
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        received += chunk;
      });
      socket.on('error', () => {});
      const timer = setTimeout(() => resolve({ closed: false, received }), withinMs);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve({ closed: true, received });
      });
    });

  /** Resolves with the first `count` responses on `socket` (fewer if it closes first). */
  const untilAnswers = (socket: TLSSocket, count: number) =>
    new Promise<RawResponse[]>((resolve) => {
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        text += chunk;
        const answers = responsesIn(text);
        if (answers.length >= count) resolve(answers);
      });
      socket.on('error', () => {});
      socket.once('close', () => resolve(responsesIn(text)));
    });

  const victimGetsToken = async () => {
    const answer = await server.token({
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: await signAssertion(client.key.privateJwk, client.clientId, server.issuer),
    });
    expect(answer.ok, JSON.stringify(answer.body)).toBe(true);
  };

  const tokenRequest = (body: string) =>
    `POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const metadataRequest =
    'GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: localhost\r\n\r\n';

  describe('HTTP/1.1 pipelining', () => {
    it(`control: ${maxPipelinedRequests} pipelined requests are all answered, and the connection stays open`, async () => {
      const socket = await open('127.0.0.1');
      const answers = untilAnswers(socket, maxPipelinedRequests);
      socket.write(metadataRequest.repeat(maxPipelinedRequests));
      expect((await answers).map((answer) => answer.status)).toEqual(
        Array(maxPipelinedRequests).fill(200),
      );
      expect(socket.destroyed).toBe(false);
      socket.destroy();
    });

    it('attack: a thousand token requests pipelined on one connection never enter the handlers together; past the bound the connection is closed', async () => {
      const socket = await open('127.0.0.41');
      const outcome = collect(socket);
      const junk = 'grant_type=client_credentials&client_id=svc-r19-nobody';
      socket.write(tokenRequest(junk).repeat(1000));
      const { closed, received: text } = await outcome;
      expect(closed).toBe(true);
      const answers = responsesIn(text);
      for (const answer of answers) expect([401, 429]).toContain(answer.status);
      // Every request that reached a handler wrote an audit line. Before the fix, each TLS record
      // of the flood (about a hundred requests) entered the handlers at once, and the connection
      // was closed after the first answer.
      const handled = log.lines.filter((line) => line.peer === '127.0.0.41');
      expect(handled.length).toBeGreaterThanOrEqual(answers.length);
      expect(handled.length).toBeLessThanOrEqual(maxPipelinedRequests + 1);
      await victimGetsToken();
    });
  });

  describe('refusals before any route are in OAuth form', () => {
    it('attack: a path with malformed percent-encoding gets an OAuth error that does not echo it', async () => {
      for (const target of ['/token%zz', '/%C3%28', '/.well-known/oauth-authorization-server%']) {
        const socket = await open('127.0.0.44');
        const outcome = collect(socket);
        socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        const { received: text } = await outcome;
        const [answer] = responsesIn(text);
        expectOAuthError(answer, 400);
        expect(answer?.body).not.toContain(target);
        expect(answer?.body).not.toContain('FST_');
      }
    });

    const refused: readonly [string, string, number][] = [
      [
        'Content-Length and Transfer-Encoding together (request smuggling)',
        'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        400,
      ],
      [
        'two different Content-Length values',
        'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
        400,
      ],
      ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
      ['a header with a NUL byte', 'GET /healthz HTTP/1.1\r\nHost: local\u0000host\r\n\r\n', 400],
      ['an HTTP/1.1 request without Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400],
      [
        'two Host headers (RFC 9112 section 3.2)',
        'GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n',
        400,
      ],
      [
        'an Expect other than 100-continue',
        'POST /token HTTP/1.1\r\nHost: localhost\r\nExpect: gimme\r\nContent-Length: 0\r\n\r\n',
        417,
      ],
      [
        'headers over the 16 KiB limit',
        `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
      ],
    ];
    for (const [label, bytes, status] of refused) {
      it(`attack: ${label} gets ${status} in OAuth form and the connection is closed`, async () => {
        const socket = await open('127.0.0.45');
        const outcome = collect(socket);
        socket.write(bytes, 'latin1');
        const { closed, received: text } = await outcome;
        expect(closed).toBe(true);
        const answers = responsesIn(text);
        expect(answers).toHaveLength(1);
        expectOAuthError(answers[0], status);
      });
    }
  });

  it('attack: a claimed client_id of kilobytes is not written whole into the audit line', async () => {
    const sub = `svc-${'x'.repeat(5000)}`;
    const now = Math.floor(Date.now() / 1000);
    const answer = await server.token({
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: rawJws(
        { alg: 'ES256', typ: 'JWT' },
        { sub, aud: server.issuer, iat: now, exp: now + 60, jti: 'r19-long-claim' },
        Buffer.alloc(64, 1),
      ),
    });
    expect(answer.ok).toBe(false);
    expect(answer.status).toBe(401);
    const line = log.lines.filter((one) => one.audit === 'token').at(-1);
    expect(line?.reason).toBe('unknown_client');
    const logged = String(line?.client_id);
    expect(logged.length).toBeLessThanOrEqual(255);
    expect(logged.startsWith('svc-xxxx')).toBe(true);
    expect(logged).toContain(`(${sub.length} characters)`);
  });

  it('attack: a DPoP proof key with a 41-bit RSA public exponent is refused by the key policy', async () => {
    const net = sources(ca.root.certPem);
    try {
      const request = async (key: KeyObject) =>
        net.post(
          '127.0.0.46',
          `${server.base}/token`,
          {
            grant_type: 'client_credentials',
            client_assertion_type: jwtBearerAssertionType,
            client_assertion: await signAssertion(
              client.key.privateJwk,
              client.clientId,
              server.issuer,
            ),
          },
          { headers: { DPoP: rawProof(key, 'PS256', { htu: `${server.issuer}/token` }) } },
        );
      // A correctly signed proof: before the fix it got a DPoP-bound token.
      const refused = await request(rsaKeyWithExponent((1n << 40n) + 1n));
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
      expect(refused.body.error).toBe('invalid_dpop_proof');
      expect(refused.body.error_description).toMatch(/RSA public exponent over 33 bits/);
      // Control: the same construction with 65537 gets its token.
      const accepted = await request(rsaKeyWithExponent(65537n));
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
      expect(accepted.body.token_type).toBe('DPoP');
    } finally {
      net.close();
    }
  });
});
