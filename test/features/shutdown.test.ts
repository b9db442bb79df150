/**
 * Graceful shutdown of a real `tollgate serve` process: SIGTERM stops accepting, lets the
 * request in flight finish, and exits 0. The in-flight request is held open by a deliberately
 * slow jwks_uri (a local HTTPS server), so no sleep is injected into Tollgate itself.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, generateSigningJwk } from '../../src/dev-ca/index.js';
import {
  generateSigningJwk as generateServerKey,
  writeSigningKeyFile,
} from '../../src/tokens/index.js';
import { freePort } from '../helpers/net.js';
import { type ServeProcess, spawnServe, waitForHttps } from '../helpers/process.js';

describe('graceful shutdown', () => {
  let serve: ServeProcess | undefined;
  const cleanups: (() => void)[] = [];
  afterAll(() => {
    serve?.kill();
    for (const cleanup of cleanups) cleanup();
  });

  it('finishes the request in flight on SIGTERM, refuses new connections, exits 0', async () => {
    const ca = await createDevCa();
    const server = await ca.issueServer();
    const clientKey = await generateSigningJwk('ES256');
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-shutdown-'));

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

    const port = await freePort();
    const issuer = `https://localhost:${port}`;
    const serverKey = await generateServerKey('ES256');
    writeSigningKeyFile(join(dir, 'keys.json'), {
      active_kid: serverKey.kid as string,
      keys: [serverKey],
    });
    await writeFile(join(dir, 'server.pem'), server.chainPem);
    await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
    await writeFile(join(dir, 'root.pem'), ca.root.certPem);
    await writeFile(
      join(dir, 'registry.json'),
      JSON.stringify({
        clients: [
          {
            client_id: 'svc-slow',
            token_endpoint_auth_method: 'private_key_jwt',
            jwks_uri: `https://localhost:${jwksPort}/jwks`,
          },
        ],
      }),
    );
    await writeFile(
      join(dir, 'tollgate.json'),
      JSON.stringify({
        issuer,
        tls: { host: '127.0.0.1', port, certFile: 'server.pem', keyFile: 'server-key.pem' },
        signingKeys: { file: 'keys.json' },
        registry: { file: 'registry.json' },
        clientCertificates: { trustAnchorFiles: [], intermediateFiles: [], crlFiles: [] },
        log: { level: 'warn' },
      }),
    );
    // The jwks_uri fetch trusts the system store; the dev root is added the standard Node way.
    serve = spawnServe(join(dir, 'tollgate.json'), { NODE_EXTRA_CA_CERTS: join(dir, 'root.pem') });
    await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem);

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
  });
});
