/**
 * Start-up fails closed when one listener cannot bind: a port already in use for the admin
 * listener (the last one opened) must not leave the token listener serving without the process's
 * signal handling and drain. The process exits 1 and names the listener and the fix (before, it
 * kept serving tokens on the port it had opened, without a SIGTERM handler).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import { processTestTimeoutMs, spawnServe } from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';
import { makeJwtClient } from '../helpers/tollgate.js';

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
      const client = await makeJwtClient('svc-listen');
      // Another process's socket on the admin port.
      const squatter: Server = createServer();
      squatter.listen(0, '127.0.0.1');
      await once(squatter, 'listening');
      cleanups.push(() => new Promise((resolve) => squatter.close(resolve)));
      const adminPort = (squatter.address() as { port: number }).port;
      const { configFile } = await prepareServeDir({
        ca,
        config: {
          registry: { file: null, clients: [client.metadata] },
          admin: { host: '127.0.0.1', port: adminPort },
        },
        prefix: 'tollgate-listen-',
      });

      const serve = spawnServe(configFile, {}, extraArgs);
      cleanups.push(() => serve.kill());
      // Bounded by the process guard (startGuardMs), not by a budget of its own.
      expect(await serve.waitForExit(), serve.output()).toBe(1);
      expect(serve.output()).toContain(
        `the admin listener cannot listen on 127.0.0.1:${adminPort}`,
      );
      expect(serve.output()).toMatch(/set admin\.port to a free one/);
    },
    processTestTimeoutMs,
  );
});
