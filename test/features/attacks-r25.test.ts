/**
 * An attacker's pass on the current main (round 25), availability first: each attack is
 * performed over real sockets on 127.0.0.0/8 against a Tollgate started from the project's own
 * code, and each failed on the code before its fix.
 *
 * - A reader that never reads switched a listener off: a client that sends small requests and
 *   reads no answer (a receive window of zero) fills the kernel's buffers between it and the
 *   server after a few dozen answers; the next answer cannot leave the process, and Node applies
 *   no timeout to writing one. That request counted as "in its handler" until its answer left,
 *   so its connection was never evicted and never timed out: `maxConnections / perAddress`
 *   addresses holding such connections made a full listener refuse every newcomer, for as long
 *   as they liked, with no traffic after the first requests. Now an answer written in full no
 *   longer keeps its connection from eviction, and must leave within
 *   `limits.requestTimeoutSeconds`, or the connection is closed.
 * - Behind a layer-4 balancer that connects from its own address (the deployment docs/deployment.md
 *   recommends for mutual TLS: pass-through; Kubernetes Services with `externalTrafficPolicy:
 *   Cluster`, HAProxy or nginx `stream` in TCP mode), every client arrived from the balancer's
 *   address, and every per-address limit was one limit shared by all: an outsider holding
 *   `limits.connectionsPerAddress` idle connections through the balancer, or failing
 *   `rateLimits.failedAuthPerAddress` times, switched Tollgate off for every client. Tollgate
 *   had no way to learn the client's address. Now `proxy.proxyProtocol` reads the balancer's
 *   PROXY header (HAProxy's v1 or v2) on the TLS listeners, from `proxy.trustedCidrs` peers
 *   only, and every limit counts the client it names.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { capturingLogger } from '../helpers/dpop.js';
import { findHaproxy, type RunningHaproxy, startHaproxy } from '../helpers/haproxy.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { sources } from '../helpers/sources.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const slowReader = fileURLToPath(new URL('../helpers/slow-reader.py', import.meta.url));
const metadataPath = '/.well-known/oauth-authorization-server';

/** The slow-read attacker (test/helpers/slow-reader.py), driven one command at a time. */
function startSlowReader(server: MtlsTollgate) {
  const child: ChildProcessWithoutNullStreams = spawn('/usr/bin/python3', [
    slowReader,
    new URL(server.base).port,
    server.files.root,
  ]);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async (command: string): Promise<string> => {
    child.stdin.write(`${command}\n`);
    const { value, done } = await lines.next();
    if (done === true) throw new Error(`slow reader ended: ${stderr}`);
    return String(value);
  };
  return { ask, kill: () => child.kill() };
}

/** Metadata answers the server has written out to their peers (counted when they left). */
async function metadataServed(server: MtlsTollgate): Promise<number> {
  const metrics = await server.tg.adminApp?.inject({ url: '/metrics' });
  const served = new RegExp(
    `tollgate_http_requests_total\\{route="${metadataPath.replaceAll('.', '\\.')}",method="GET",status="200"\\} (\\d+)`,
  ).exec(metrics?.body ?? '');
  return Number(served?.[1] ?? 0);
}

/** The value of a counter on /metrics. */
async function counter(server: MtlsTollgate, name: string): Promise<number> {
  const metrics = await server.tg.adminApp?.inject({ url: '/metrics' });
  return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics?.body ?? '')?.[1] ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens a connection from `from` and sends metadata requests on it, one at a time, each once the
 * one before it has been written out, until one is not: the connection then holds an answer that
 * cannot leave the server. Returns how many requests it took (at most 200).
 */
async function stickConnection(
  server: MtlsTollgate,
  reader: ReturnType<typeof startSlowReader>,
  from: string,
): Promise<number> {
  const opened = await reader.ask(`open ${from}`);
  const index = opened.split(' ')[1];
  for (let sent = 1; sent <= 200; sent++) {
    const before = await metadataServed(server);
    expect(await reader.ask(`send ${index} ${metadataPath}`)).toBe('sent');
    // A metadata answer takes well under a millisecond; a second without it is not coming.
    let after = before;
    for (let waited = 0; waited < 50 && after === before; waited++) {
      await sleep(20);
      after = await metadataServed(server);
    }
    if (after === before) return sent;
  }
  return 201;
}

describe('a reader that never reads (round 25)', () => {
  let ca: DevCa;
  let client: JwtClient;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('svc-r25-victim');
  });

  const tokenFor = async (server: MtlsTollgate) =>
    server
      .token({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(
          client.key.privateJwk,
          client.clientId,
          server.issuer,
        ),
      })
      .then(
        (result) => (result.ok ? 'token' : `refused: ${result.status}`),
        (error: Error) => `failed: ${error.message}`,
      );

  describe('holding every slot of a full listener', () => {
    let server: MtlsTollgate;
    beforeAll(async () => {
      server = await startMtlsTollgate({
        ca,
        clients: [client.metadata],
        // A long request timeout: the listener must stay open through eviction alone.
        config: {
          limits: { maxConnections: 8, connectionsPerAddress: 4, requestTimeoutSeconds: 300 },
        },
      });
    });
    afterAll(() => server?.dispose());

    it('takes in a legitimate client while every connection holds an answer its peer does not read', async () => {
      const reader = startSlowReader(server);
      try {
        for (let i = 0; i < 8; i++) {
          const sent = await stickConnection(server, reader, `127.0.25.${2 + Math.floor(i / 4)}`);
          expect(sent, 'an answer stays in the server').toBeLessThanOrEqual(200);
        }
        // Before: "Client network socket disconnected before secure TLS connection was
        // established", at once and as long as the reader liked.
        expect(await tokenFor(server)).toBe('token');
        expect(await counter(server, 'tollgate_connections_evicted_total')).toBe(1);
        expect(await counter(server, 'tollgate_connections_refused_total')).toBe(0);
      } finally {
        reader.kill();
      }
    });
  });

  describe('a connection whose answer is never read', () => {
    let server: MtlsTollgate;
    beforeAll(async () => {
      server = await startMtlsTollgate({
        ca,
        clients: [client.metadata],
        config: { limits: { requestTimeoutSeconds: 2 } },
      });
    });
    afterAll(() => server?.dispose());

    const openConnections = () =>
      new Promise<number>((resolve, reject) =>
        server.tg.app.server.getConnections((error, count) =>
          error ? reject(error) : resolve(count),
        ),
      );

    it('is closed once its written answer has waited limits.requestTimeoutSeconds', async () => {
      const reader = startSlowReader(server);
      try {
        expect(await stickConnection(server, reader, '127.0.25.9')).toBeLessThanOrEqual(200);
        // Before: open for good (the test times out here).
        while ((await openConnections()) > 0) await sleep(50);
        expect(await tokenFor(server)).toBe('token');
      } finally {
        reader.kill();
      }
    });
  });
});

const haproxy = findHaproxy();
if (haproxy === undefined && process.env.CI !== undefined) {
  throw new Error('haproxy is required in CI (.ci/run installs it)');
}
if (haproxy === undefined)
  console.warn('haproxy not installed: skipping its suite (apt-get install haproxy)');

describe.skipIf(haproxy === undefined)('behind a layer-4 balancer (round 25)', () => {
  let ca: DevCa;
  let victim: JwtClient;
  let server: MtlsTollgate;
  let balancer: RunningHaproxy;
  let log: ReturnType<typeof capturingLogger>;

  beforeAll(async () => {
    ca = await createDevCa();
    victim = await makeJwtClient('svc-r25-behind-l4');
    log = capturingLogger();
    server = await startMtlsTollgate({
      ca,
      clients: [victim.metadata],
      tollgate: { logger: log.logger },
      config: {
        proxy: { trustedCidrs: ['127.0.0.1/32'], proxyProtocol: true },
        limits: { connectionsPerAddress: 4 },
        rateLimits: { failedAuthPerAddress: 3, windowSeconds: 86_400 },
      },
    });
    const port = await freePort();
    // TCP pass-through, as for mutual TLS: haproxy connects to Tollgate from 127.0.0.1.
    balancer = await startHaproxy(haproxy as string, port, () =>
      [
        'global',
        '  maxconn 256',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 30s',
        '  timeout server 30s',
        'frontend l4',
        `  bind 127.0.0.1:${port}`,
        '  default_backend tollgate',
        'backend tollgate',
        `  server t1 127.0.0.1:${new URL(server.base).port} send-proxy-v2`,
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await balancer?.stop();
    await server?.dispose();
  });

  const assertion = () => signAssertion(victim.key.privateJwk, victim.clientId, server.issuer);

  it('counts each client by the address the PROXY header names, so no outsider exhausts a limit shared by all', async () => {
    const through = `https://127.0.0.1:${balancer.port}/token`;
    const from = sources(ca.root.certPem);
    const idle: Socket[] = [];
    try {
      // Connections: more idle ones than connectionsPerAddress, through the balancer.
      for (let i = 0; i < 6; i++) {
        const socket = connect({
          host: '127.0.0.1',
          port: balancer.port,
          localAddress: '127.0.25.20',
        });
        socket.on('error', () => {});
        idle.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
      }
      // Failures: past failedAuthPerAddress, through the balancer.
      const forged = {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: 'e30.e30.AA',
      };
      for (let i = 0; i < 4; i++)
        expect((await from.post('127.0.25.22', through, forged)).status).toBe(401);
      expect((await from.post('127.0.25.22', through, forged)).status).toBe(429);
      // Before: the victim, through the same balancer, shared both limits with the attacker.
      const answer = await from.post('127.0.25.21', through, {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await assertion(),
      });
      expect(answer.status).toBe(200);
    } finally {
      for (const socket of idle) socket.destroy();
      from.close();
    }
    const peers = log.lines.filter((line) => line.audit === 'token').map((line) => line.peer);
    expect(new Set(peers)).toEqual(new Set(['127.0.25.22', '127.0.25.21']));
  });

  it('takes no PROXY header from a peer it does not trust, and none but one from the balancer', async () => {
    const port = Number(new URL(server.base).port);
    // An untrusted peer that starts with a PROXY header naming someone else: TLS refuses it.
    const spoofed = await rawExchange(
      port,
      '127.0.25.23',
      'PROXY TCP4 127.0.25.21 127.0.0.1 5000 443\r\n',
    );
    expect(spoofed).toBe('closed');
    // The trusted balancer's address without a header: closed at once (not a TLS handshake).
    expect(await rawExchange(port, '127.0.0.1', 'GET / HTTP/1.1\r\n\r\n')).toBe('closed');
    // Directly, from an untrusted peer, TLS works as before.
    const from = sources(ca.root.certPem);
    try {
      const direct = await from.post('127.0.25.24', `${server.base}/token`, {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await assertion(),
      });
      expect(direct.status).toBe(200);
    } finally {
      from.close();
    }
  });
});

/** Sends `bytes` from `localAddress` and reports whether the server closed the connection. */
function rawExchange(port: number, localAddress: string, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => socket.write(bytes));
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => resolve('closed'));
  });
}
