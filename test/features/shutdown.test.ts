/**
 * Graceful shutdown of a real `tollgate serve` process: SIGTERM stops accepting, lets the
 * request in flight finish, and exits 0. The in-flight request is held open by a deliberately
 * slow jwks_uri (a local HTTPS server), so no sleep is injected into Tollgate itself.
 *
 * Issue 12, attack 8: SIGTERM under keep-alive load used to reset one request per keep-alive
 * connection, answer `Connection: keep-alive` during the drain, and let half-sent connections
 * keep the process alive until the shutdown timeout (exit 1).
 */
import { writeFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, generateSigningJwk } from '../../src/dev-ca/index.js';
import { getJson } from '../helpers/instances.js';
import { type ServeProcess, spawnServe, waitForHttps } from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';

describe('graceful shutdown', () => {
  let serve: ServeProcess | undefined;
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    serve?.kill();
    serve = undefined;
  });
  afterAll(() => {
    serve?.kill();
    for (const cleanup of cleanups) cleanup();
  });

  it('finishes the request in flight on SIGTERM, refuses new connections, exits 0', async () => {
    const ca = await createDevCa();
    const server = await ca.issueServer();
    const clientKey = await generateSigningJwk('ES256');

    // A jwks_uri that answers after 1.5 s: the token request that needs it stays in flight.
    let jwksRequests = 0;
    const slowJwks = createServer({ cert: server.chainPem, key: server.keyPem }, (_req, res) => {
      jwksRequests++;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [clientKey.publicJwk] }));
      }, 1500);
    });
    await new Promise<void>((resolve) => slowJwks.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => slowJwks.close());
    const jwksPort = (slowJwks.address() as AddressInfo).port;

    const { dir, port, issuer, configFile } = await prepareServeDir({
      ca,
      server,
      clients: [
        {
          client_id: 'svc-slow',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: `https://localhost:${jwksPort}/jwks`,
        },
      ],
      config: { shutdownDrainSeconds: 1 },
      prefix: 'tollgate-shutdown-',
    });
    await writeFile(join(dir, 'root.pem'), ca.root.certPem);
    // The jwks_uri fetch trusts the system store; the dev root is added the standard Node way.
    serve = spawnServe(configFile, { NODE_EXTRA_CA_CERTS: join(dir, 'root.pem') });
    await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem, 40_000);

    const assertion = await createClientAssertion({
      clientId: 'svc-slow',
      audience: issuer,
      key: clientKey.privateJwk,
    });
    const inFlight = postTokenRequest({
      tokenEndpoint: `https://127.0.0.1:${port}/token`,
      params: {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      },
      ca: ca.root.certPem,
    });
    // Wait until the request is inside Tollgate (it has asked for the client's keys), then stop.
    for (let i = 0; i < 100 && jwksRequests === 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(jwksRequests).toBe(1);
    serve.kill('SIGTERM');

    const result = await inFlight;
    expect(result.ok, JSON.stringify(result)).toBe(true);

    const exitCode = await Promise.race([
      serve.exited,
      new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000)),
    ]);
    expect(exitCode, serve.output()).toBe(0);

    const refused = await postTokenRequest({
      tokenEndpoint: `https://127.0.0.1:${port}/token`,
      params: { grant_type: 'client_credentials' },
      ca: ca.root.certPem,
    }).catch((error: NodeJS.ErrnoException) => error.code);
    expect(refused).toBe('ECONNREFUSED');
  }, 60_000);

  it('under keep-alive load: readyz 503 and Connection: close while draining, 0 resets, half-sent connections closed, exit 0', async () => {
    const ca = await createDevCa();
    const client = await ca.issueClient({ clientId: 'svc-load' });
    const { port, configFile } = await prepareServeDir({
      ca,
      trustDevCa: true,
      clients: [
        {
          client_id: 'svc-load',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: client.subject,
        },
      ],
      config: {
        unsafeDevDefaults: false,
        rateLimits: { perClient: 1_000_000, perAddress: 1_000_000 },
        shutdownDrainSeconds: 2,
        shutdownTimeoutSeconds: 10,
      },
      prefix: 'tollgate-drain-',
    });
    serve = spawnServe(configFile);
    const base = `https://127.0.0.1:${port}`;
    await waitForHttps(`${base}/healthz`, ca.root.certPem, 40_000);

    // Three connections that sent half their headers and nothing more.
    const halfSent = await Promise.all(
      Array.from(
        { length: 3 },
        () =>
          new Promise<{ closed: Promise<void> }>((resolve, reject) => {
            const socket = connect({
              host: '127.0.0.1',
              port,
              ca: ca.root.certPem,
              servername: 'localhost',
            });
            socket.on('error', () => {});
            socket.once('secureConnect', () => {
              socket.write('POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Le');
              resolve({ closed: new Promise((done) => socket.once('close', () => done())) });
            });
            socket.once('error', reject);
          }),
      ),
    );

    // 16 keep-alive connections in a closed loop of mTLS token requests, each worker on its own
    // connection. A load balancer (this test) polls /readyz: once it answers 503, no new
    // connection is opened, while requests on open connections go on until their response says
    // `Connection: close`, as a real load balancer and keep-alive client do.
    const tally = {
      ok: 0,
      closeHeaders: 0,
      keepAliveDuringDrain: 0,
      resets: [] as string[],
      other: [] as string[],
    };
    let sigterm = false;
    let balancerDrained = false;
    const post = (agent: Agent) =>
      new Promise<'open' | 'closed'>((resolve) => {
        const body = 'grant_type=client_credentials&client_id=svc-load';
        const req = request(
          `${base}/token`,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'content-length': String(body.length),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) tally.ok++;
              else tally.other.push(String(res.statusCode));
              const closing = res.headers.connection === 'close';
              if (sigterm && closing) tally.closeHeaders++;
              if (balancerDrained && !closing) tally.keepAliveDuringDrain++;
              resolve(closing ? 'closed' : 'open');
            });
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => {
          tally.resets.push(`${error.code ?? ''} ${error.message}`);
          resolve('closed');
        });
        req.end(body);
      });
    const workers = Array.from({ length: 16 }, async () => {
      const agent = new Agent({
        keepAlive: true,
        maxSockets: 1,
        ca: ca.root.certPem,
        cert: client.chainPem,
        key: client.keyPem,
      });
      try {
        for (;;) {
          const connection = await post(agent);
          if (connection === 'closed' && balancerDrained) return;
        }
      } finally {
        agent.destroy();
      }
    });
    const balancer = (async () => {
      while (!balancerDrained) {
        const ready = await getJson(`${base}/readyz`, ca.root.certPem).catch(() => undefined);
        if (ready?.status === 503) {
          expect(ready.body).toEqual({ status: 'draining' });
          balancerDrained = true;
        } else await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    // Load running, then SIGTERM.
    while (tally.ok < 100) await new Promise((resolve) => setTimeout(resolve, 20));
    serve.kill('SIGTERM');
    sigterm = true;
    await balancer;
    await Promise.all(workers);

    const exitCode = await Promise.race([
      serve.exited,
      new Promise((resolve) => setTimeout(() => resolve('timeout'), 15_000)),
    ]);
    expect(exitCode, serve.output()).toBe(0);
    expect(tally.resets).toEqual([]);
    expect(tally.other).toEqual([]);
    expect(tally.closeHeaders).toBeGreaterThanOrEqual(16);
    expect(tally.keepAliveDuringDrain).toBe(0);
    await Promise.all(halfSent.map((one) => one.closed));
  }, 90_000);
});
