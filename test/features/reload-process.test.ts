/**
 * Hot reload of a real `tollgate serve` process: a registry change is picked up on SIGHUP at
 * once (polling itself is tested in-process, test/http/reload.test.ts); an invalid registry
 * keeps the old one.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { freePort } from '../helpers/net.js';
import { type ServeProcess, spawnServe, waitForHttps } from '../helpers/process.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

describe('hot reload of a running process', () => {
  let serve: ServeProcess | undefined;
  afterAll(() => serve?.kill());

  it('picks up a registry change on SIGHUP, and keeps the old registry when the new one is invalid', async () => {
    const ca: DevCa = await createDevCa();
    const server = await ca.issueServer();
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-reload-'));
    const first = await makeJwtClient('svc-first');
    const second = await makeJwtClient('svc-second');
    const third = await makeJwtClient('svc-third');
    const port = await freePort();
    const issuer = `https://localhost:${port}`;
    const key = await generateSigningJwk('ES256');
    writeSigningKeyFile(join(dir, 'keys.json'), { active_kid: key.kid as string, keys: [key] });
    await writeFile(join(dir, 'server.pem'), server.chainPem);
    await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
    const registry = join(dir, 'registry.json');
    const writeRegistry = (clients: unknown[]) => writeFile(registry, JSON.stringify({ clients }));
    await writeRegistry([first.metadata]);
    await writeFile(
      join(dir, 'tollgate.json'),
      JSON.stringify({
        issuer,
        tls: { host: '127.0.0.1', port, certFile: 'server.pem', keyFile: 'server-key.pem' },
        signingKeys: { file: 'keys.json' },
        registry: { file: 'registry.json' },
        clientCertificates: { trustAnchorFiles: [], intermediateFiles: [], crlFiles: [] },
        // Long enough that the SIGHUP step cannot be mistaken for a poll.
        reload: { pollIntervalSeconds: 3600 },
        admin: { port: 0 },
        underPressure: { maxEventLoopDelayMs: 0 },
        log: { level: 'warn' },
      }),
    );
    serve = spawnServe(join(dir, 'tollgate.json'));
    await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem);

    const token = async (client: JwtClient) =>
      postTokenRequest({
        tokenEndpoint: `https://127.0.0.1:${port}/token`,
        params: {
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: await createClientAssertion({
            clientId: client.clientId,
            audience: issuer,
            key: client.key.privateJwk,
          }),
        },
        ca: ca.root.certPem,
      });
    const eventually = async (client: JwtClient) => {
      for (let i = 0; i < 50; i++) {
        if ((await token(client)).ok) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return false;
    };

    expect((await token(first)).ok).toBe(true);
    expect((await token(second)).ok).toBe(false);

    await writeRegistry([first.metadata, second.metadata]);
    serve.kill('SIGHUP');
    expect(await eventually(second), serve.output()).toBe(true);

    // An invalid registry (a secret-based client) is refused; the running one keeps serving.
    await writeRegistry([{ ...third.metadata, token_endpoint_auth_method: 'client_secret_post' }]);
    serve.kill('SIGHUP');
    for (let i = 0; i < 30 && !/reload failed/.test(serve.output()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await token(first)).ok).toBe(true);
    expect((await token(second)).ok).toBe(true);
    expect(serve.output()).toMatch(/reload failed: keeping the previous state/);
    expect(serve.child.exitCode).toBeNull();
  });
});
