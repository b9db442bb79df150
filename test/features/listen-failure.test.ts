/**
 * Start-up fails closed when one listener cannot bind: a port already in use for the admin
 * listener (the last one opened) must not leave the token listener serving without the process's
 * signal handling and drain. The process exits 1 and names the listener and the fix (before, it
 * kept serving tokens on the port it had opened, without a SIGTERM handler).
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { freePort } from '../helpers/net.js';
import { spawnServe } from '../helpers/process.js';
import { makeJwtClient } from '../helpers/tollgate.js';

/** Bounds for starting a TypeScript process, never measurements. */
const processTestTimeoutMs = 180_000;

describe('a listener that cannot bind', () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it.each([
    ['one process', []],
    [
      '--workers 2 (a worker that fails a later listener is a failed start, not restarted)',
      ['--workers', '2'],
    ],
  ])(
    'stops start-up: exit 1, the listener and the fix named (%s)',
    async (_name: string, extraArgs: string[]) => {
      const ca = await createDevCa();
      const server = await ca.issueServer();
      const client = await makeJwtClient('svc-listen');
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-listen-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      // Another process's socket on the admin port.
      const squatter: Server = createServer();
      squatter.listen(0, '127.0.0.1');
      await once(squatter, 'listening');
      cleanups.push(() => new Promise((resolve) => squatter.close(resolve)));
      const adminPort = (squatter.address() as { port: number }).port;
      const port = await freePort();
      const key = await generateSigningJwk('ES256');
      writeSigningKeyFile(join(dir, 'keys.json'), { active_kid: key.kid as string, keys: [key] });
      await writeFile(join(dir, 'server.pem'), server.chainPem);
      await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
      await writeFile(
        join(dir, 'tollgate.json'),
        JSON.stringify({
          issuer: `https://localhost:${port}`,
          tls: { host: '127.0.0.1', port, certFile: 'server.pem', keyFile: 'server-key.pem' },
          signingKeys: { file: 'keys.json' },
          registry: { file: null, clients: [client.metadata] },
          admin: { host: '127.0.0.1', port: adminPort },
          log: { level: 'warn' },
        }),
      );

      const serve = spawnServe(join(dir, 'tollgate.json'), {}, extraArgs);
      cleanups.push(() => serve.kill());
      const timer = setTimeout(() => serve.kill(), 120_000);
      const code = await serve.exited;
      clearTimeout(timer);
      expect(code, serve.output()).toBe(1);
      expect(serve.output()).toContain(
        `the admin listener cannot listen on 127.0.0.1:${adminPort}`,
      );
      expect(serve.output()).toMatch(/set admin\.port to a free one/);
    },
    processTestTimeoutMs,
  );
});
