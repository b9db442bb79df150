/**
 * Hot reload of a real `tollgate serve` process: a registry change is picked up on SIGHUP at
 * once (polling itself is tested in-process, test/http/reload.test.ts); an invalid registry
 * keeps the old one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';
import {
  assertionOf,
  type JwtClient,
  makeJwtClient,
  postWithAssertion,
} from '../helpers/tollgate.js';

describe('hot reload of a running process', { timeout: processTestTimeoutMs }, () => {
  let serve: ServeProcess | undefined;
  afterAll(() => serve?.kill());

  it('picks up a registry change on SIGHUP, and keeps the old registry when the new one is invalid', async () => {
    const ca: DevCa = await createDevCa();
    const first = await makeJwtClient('svc-first');
    const second = await makeJwtClient('svc-second');
    const third = await makeJwtClient('svc-third');
    const { port, issuer, configFile, writeRegistry } = await prepareServeDir({
      ca,
      clients: [first.metadata],
      // Long enough that the SIGHUP step cannot be mistaken for a poll.
      config: { reload: { pollIntervalSeconds: 3600 } },
      prefix: 'tollgate-reload-',
    });
    serve = spawnServe(configFile);
    await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem, undefined, serve);

    const token = async (client: JwtClient) =>
      postWithAssertion(
        `https://127.0.0.1:${port}/token`,
        ca.root.certPem,
        await assertionOf(client, issuer),
      );
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
