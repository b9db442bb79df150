/**
 * An attacker's pass over availability on the current main (round 22): each attack is performed
 * over real sockets on 127.0.0.0/8 against a Tollgate started from the project's own code, and
 * each failed on the code before its fix.
 *
 * - A full listener refused every newcomer: `limits.maxConnections` connections that never send
 *   a byte (plain TCP, not even a TLS ClientHello) or send headers and no body, from
 *   `maxConnections / connectionsPerAddress` addresses, each held until the handshake or request
 *   timeout and then simply reopened, switched the listener off for everyone. Now the quietest
 *   connection with no request in a handler makes room for the newcomer.
 * - A refused flood flooded the log: a source blocked for its failed authentications (a Map lookup
 *   per request) or over its request limit still wrote one audit line per request, at whatever
 *   rate it sent them. Now the first refusal of a source by a limit in its window is audited and
 *   the rest are only counted (`tollgate_rate_limited_total`).
 * - Connections ended the process: under an open-file limit below the connection limits (a
 *   systemd service's default soft limit is 1,024; `limits.maxConnections` is 4,096 per
 *   listener), connections from a few addresses exhausted the descriptors, and the next accept,
 *   or the load-shedding timer sampling memory, threw EMFILE where nothing caught it. Now the
 *   listeners share what the limit leaves, and a full listener evicts instead.
 */
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { capturingLogger } from '../helpers/dpop.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { processTestTimeoutMs, spawnServe, waitForHttps } from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';
import { sources } from '../helpers/sources.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const maxConnections = 16;
const connectionsPerAddress = 4;

describe('a full listener (round 22)', () => {
  let ca: DevCa;
  let client: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  let server: MtlsTollgate;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('svc-r22-victim');
    mtlsCert = await ca.issueClient({ clientId: 'svc-r22-victim-mtls' });
    server = await startMtlsTollgate({
      ca,
      clients: [
        client.metadata,
        {
          client_id: 'svc-r22-victim-mtls',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: mtlsCert.subject,
        },
      ],
      config: { limits: { maxConnections, connectionsPerAddress } },
    });
  });
  afterAll(() => server?.dispose());

  /** A TLS connection from `localAddress` that sends request headers and never the body. */
  const headersOnly = (localAddress: string) =>
    new Promise<Socket>((resolve, reject) => {
      const options = {
        host: '127.0.0.1',
        port: Number(new URL(server.base).port),
        localAddress,
        ca: ca.root.certPem,
        servername: 'localhost',
      };
      // localAddress is a net option that tls.connect passes on (its type omits it).
      const socket = tlsConnect(options as ConnectionOptions, () => {
        socket.write(
          'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n',
          () => resolve(socket),
        );
      });
      socket.once('error', reject);
    });

  /** A TCP connection from `localAddress` that never sends anything. */
  const silent = (localAddress: string) =>
    new Promise<Socket>((resolve, reject) => {
      const port = Number(new URL(server.base).port);
      const socket = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
      socket.once('error', reject);
    });

  /**
   * Fills every slot with `attack` connections from four addresses, then asks for a token with
   * private_key_jwt and with tls_client_auth: both must get one on the first try.
   */
  const fillThenServe = async (attack: (from: string) => Promise<Socket>) => {
    // Accepted in order: every attacking connection is in the server's hands before the victims'.
    const held: Socket[] = [];
    for (let source = 2; source < 2 + maxConnections / connectionsPerAddress; source++) {
      for (let i = 0; i < connectionsPerAddress; i++) held.push(await attack(`127.0.22.${source}`));
    }
    const closedByServer = held.map(
      (socket) =>
        new Promise<boolean>((resolve) => {
          socket.on('error', () => {});
          socket.once('close', () => resolve(true));
        }),
    );
    try {
      const jwt = await server.token({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(
          client.key.privateJwk,
          client.clientId,
          server.issuer,
        ),
      });
      expect(jwt.ok).toBe(true);
      const mtls = await server.token(
        { grant_type: 'client_credentials', client_id: 'svc-r22-victim-mtls' },
        { cert: mtlsCert.chainPem, key: mtlsCert.keyPem },
      );
      expect(mtls.ok).toBe(true);
      // Room was made by closing the oldest attacking connections, first come first out.
      expect(await closedByServer[0]).toBe(true);
      expect(await closedByServer[1]).toBe(true);
      expect(held.at(-1)?.destroyed).toBe(false);
    } finally {
      for (const socket of held) socket.destroy();
    }
  };

  it('takes in legitimate clients while connections that never send a byte hold every slot', async () => {
    await fillThenServe(silent);
  });

  it('takes in legitimate clients while connections that sent headers and no body hold every slot', async () => {
    await fillThenServe(headersOnly);
  });
});

describe('a refused flood (round 22)', () => {
  let ca: DevCa;
  let client: JwtClient;
  let server: MtlsTollgate;
  let log: ReturnType<typeof capturingLogger>;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('svc-r22-logged');
    log = capturingLogger();
    server = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      tollgate: { logger: log.logger },
      // A day-long window: with the default 60 s (windows aligned to the minute) the 36 requests
      // of one source straddled a minute boundary at load 30 and the count restarted (400, not 429).
      config: { rateLimits: { failedAuthPerAddress: 3, perAddress: 6, windowSeconds: 86_400 } },
    });
  });
  afterAll(() => server?.dispose());

  const auditLinesOf = (peer: string) =>
    log.lines.filter((line) => line.audit === 'token' && String(line.peer).endsWith(peer));

  it('audits the first refusal of a blocked or over-limit source, then only counts the rest', async () => {
    const from = sources(ca.root.certPem);
    const url = `${server.base}/token`;
    try {
      // A: fails authentication until blocked, then floods.
      const forged = {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: 'e30.e30.AA',
      };
      // The failure that passes the limit (the fourth) sets the block; the next is refused.
      for (let i = 0; i < 4; i++)
        expect((await from.post('127.0.22.30', url, forged)).status).toBe(401);
      for (let i = 0; i < 30; i++)
        expect((await from.post('127.0.22.30', url, forged)).status).toBe(429);
      // B: malformed requests (no failed authentication) past the per-address limit.
      const malformed = {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
      };
      for (let i = 0; i < 6; i++)
        expect((await from.post('127.0.22.31', url, malformed)).status).toBe(400);
      for (let i = 0; i < 30; i++)
        expect((await from.post('127.0.22.31', url, malformed)).status).toBe(429);
      // The victim is untouched, and audited as always.
      const victim = await from.post('127.0.22.32', url, {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(
          client.key.privateJwk,
          client.clientId,
          server.issuer,
        ),
      });
      expect(victim.status).toBe(200);
    } finally {
      from.close();
    }
    const a = auditLinesOf('127.0.22.30');
    expect(a.map((line) => line.reason)).toEqual([
      'assertion_malformed',
      'assertion_malformed',
      'assertion_malformed',
      'assertion_malformed',
      'rate_limited',
    ]);
    const b = auditLinesOf('127.0.22.31');
    expect(b).toHaveLength(7);
    expect(b.at(-1)?.reason).toBe('rate_limited');
    expect(auditLinesOf('127.0.22.32').map((line) => line.outcome)).toEqual(['issued']);
  });
});

describe('an open-file limit below the connection limits (round 22)', {
  timeout: processTestTimeoutMs,
}, () => {
  it('keeps serving, with a full listener, while silent connections would exhaust the descriptors', async () => {
    const ca = await createDevCa();
    const victim = await makeJwtClient('svc-r22-files');
    const dir = await prepareServeDir({
      ca,
      clients: [victim.metadata],
      config: { log: { level: 'info' } },
      prefix: 'tollgate-files-',
    });
    // A soft limit many services run with (systemd's default is 1024), scaled to the test: the
    // default limits.maxConnections (4,096 per listener) is far above it.
    const serve = spawnServe(dir.configFile, {}, [], { openFileLimit: 160 });
    const held: Socket[] = [];
    try {
      const base = `https://127.0.0.1:${dir.port}`;
      await waitForHttps(`${base}/healthz`, ca.root.certPem, undefined, serve);
      // 360 connections from six addresses (60 each, under the per-address cap of 64).
      for (let source = 0; source < 6; source++) {
        for (let i = 0; i < 60; i++) {
          const socket = connect({
            host: '127.0.0.1',
            port: dir.port,
            localAddress: `127.0.24.${source + 2}`,
          });
          socket.on('error', () => {});
          held.push(socket);
          await new Promise<void>((resolve) => {
            socket.once('connect', () => resolve());
            socket.once('close', () => resolve());
          });
        }
      }
      const result = await postTokenRequest({
        tokenEndpoint: `${base}/token`,
        params: {
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: await signAssertion(victim.key.privateJwk, victim.clientId, dir.issuer),
        },
        ca: ca.root.certPem,
      }).catch((error: Error) => ({ ok: false as const, error: error.message }));
      expect(result.ok, serve.output()).toBe(true);
      expect(serve.child.exitCode, serve.output()).toBe(null);
      // Log lines are buffered and flushed every second: wait for the warning (bounded).
      for (let i = 0; i < 50 && !/maxConnections lowered/.test(serve.output()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(serve.output()).toMatch(
        /limits\.maxConnections lowered to what the open-file limit allows/,
      );
      expect(serve.output()).not.toMatch(/EMFILE/);
    } finally {
      for (const socket of held) socket.destroy();
      serve.kill();
    }
  });
});
