/**
 * Issue 12, attack 6: slow clients over real TLS sockets. Headers and body of a request must
 * arrive within `limits.requestTimeoutSeconds` (2 s here, so the suite stays fast) or the
 * connection is closed within that time + 1 s: header dribbling, body dribbling and headers
 * without a body alike. Idle keep-alive connections close after their own timeout, and one
 * address cannot hold more than `limits.connectionsPerAddress` connections.
 *
 * Before the fix, with a 15 s timeout, these connections were dropped at about 30 s (headers)
 * and 90 s (body, no body): Node checks request timeouts every 30 s by default.
 */
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { sources } from '../helpers/sources.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const requestTimeoutMs = 2_000;
const keepAliveTimeoutMs = 1_000;
/** The documented promise: closed within the timeout plus one second. */
const slackMs = 1_000;
/**
 * What the request-timeout test holds the server to: far below the 30 to 90 s that Node's
 * default 30 s check interval gave (the bug this guards), far above what a busy machine adds to
 * the documented timeout + 1 s (timers there fire late; a latency figure is for the bench).
 */
const requestCloseBoundMs = 15_000;

describe('slow clients (issue 12, attack 6)', () => {
  let ca: DevCa;
  let client: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  let server: MtlsTollgate;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('svc-slow-victim');
    mtlsCert = await ca.issueClient({ clientId: 'svc-slow-mtls' });
    server = await startMtlsTollgate({
      ca,
      clients: [
        client.metadata,
        {
          client_id: 'svc-slow-mtls',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: mtlsCert.subject,
        },
      ],
      config: {
        limits: {
          requestTimeoutSeconds: requestTimeoutMs / 1000,
          keepAliveTimeoutSeconds: keepAliveTimeoutMs / 1000,
          connectionsPerAddress: 4,
        },
      },
    });
  });
  afterAll(() => server?.dispose());

  /** Opens a TLS connection from `localAddress`; resolves once the handshake is done. */
  const open = (localAddress = '127.0.0.1') =>
    new Promise<TLSSocket>((resolve, reject) => {
      const port = Number(new URL(server.base).port);
      const options = {
        host: '127.0.0.1',
        port,
        localAddress,
        ca: ca.root.certPem,
        servername: 'localhost',
      };
      // localAddress is a net option that tls.connect passes on (its type omits it).
      const socket = connect(options as ConnectionOptions);
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
    });

  /** Milliseconds from `since` until the server closes `socket`, and what it sent. */
  const closedAfter = (socket: TLSSocket, since: number) =>
    new Promise<{ ms: number; received: string }>((resolve) => {
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk;
      });
      socket.on('error', () => {});
      socket.once('close', () => resolve({ ms: Date.now() - since, received }));
    });

  /** Writes `text` one byte every 200 ms, until the socket closes. */
  const dribble = (socket: TLSSocket, text: string) => {
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || i >= text.length) clearInterval(timer);
      else socket.write(text[i++] as string);
    }, 200);
    socket.once('close', () => clearInterval(timer));
  };

  const head = (contentLength: number) =>
    `POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${contentLength}\r\n\r\n`;

  it('closes header dribbling, body dribbling and headers without a body at the request timeout (not before it, nor at the 30 s of the default check interval)', async () => {
    const [headers, body, noBody] = await Promise.all([open(), open(), open()]);
    const started = Date.now();
    const outcomes = Promise.all(
      [headers, body, noBody].map((socket) => closedAfter(socket, started)),
    );
    dribble(headers, `${head(10)}${'x'.repeat(200)}`);
    body.write(head(500));
    dribble(body, 'a'.repeat(500));
    noBody.write(head(500));
    for (const outcome of await outcomes) {
      expect(outcome.ms).toBeLessThan(requestCloseBoundMs);
      // Closed by the timeout, not early: a slow but honest client gets the whole budget.
      expect(outcome.ms).toBeGreaterThanOrEqual(requestTimeoutMs - 100);
      expect(outcome.received === '' || outcome.received.startsWith('HTTP/1.1 408')).toBe(true);
    }
  });

  it('closes an idle keep-alive connection after its own timeout', async () => {
    const socket = await open();
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: await signAssertion(client.key.privateJwk, client.clientId, server.issuer),
    }).toString();
    const answered = new Promise<number>((resolve) => {
      socket.once('data', () => resolve(Date.now()));
    });
    const closed = closedAfter(socket, 0);
    socket.write(`${head(Buffer.byteLength(body))}${body}`);
    const answeredAt = await answered;
    const { ms: closedAt, received } = await closed;
    expect(received).toMatch(/^HTTP\/1.1 200/);
    // Node keeps an idle connection up to 1 s past keepAliveTimeout (its documented buffer for
    // clients that race the timeout); docs/security.md states the bound with it.
    expect(closedAt - answeredAt).toBeGreaterThanOrEqual(keepAliveTimeoutMs - 100);
    expect(closedAt - answeredAt).toBeLessThan(keepAliveTimeoutMs + 1_000 + slackMs);
  });

  it('refuses connections past the per-address cap at once, and only for that address', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => open('127.0.0.9')));
    const extra = await open('127.0.0.9').then(
      (socket) =>
        new Promise<string>((resolve) => {
          socket.on('error', () => resolve('reset'));
          socket.once('close', () => resolve('closed'));
          socket.write(head(0));
        }),
      () => 'refused',
    );
    expect(['reset', 'closed', 'refused']).toContain(extra);
    // Another address, and the victim client, are unaffected while the four are held.
    const net = sources(ca.root.certPem);
    try {
      const answer = await net.post('127.0.0.10', `${server.base}/token`, {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(
          client.key.privateJwk,
          client.clientId,
          server.issuer,
        ),
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      const mtls = await net.post(
        '127.0.0.1',
        `${server.base}/token`,
        { grant_type: 'client_credentials', client_id: 'svc-slow-mtls' },
        { identity: { cert: mtlsCert.chainPem, key: mtlsCert.keyPem } },
      );
      expect(mtls.status, JSON.stringify(mtls.body)).toBe(200);
    } finally {
      net.close();
      for (const socket of held) socket.destroy();
    }
  });
});
