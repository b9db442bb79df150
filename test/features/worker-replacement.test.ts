/**
 * `serve --workers 2` when a worker dies: it is replaced and the other keeps serving, and a
 * replacement that cannot start (a file broken since start-up: the running workers refused it on
 * reload and keep their loaded state) leaves the other worker serving and is retried, instead
 * of stopping every worker.
 */
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa } from '../../src/dev-ca/index.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';
import { form, makeJwtClient } from '../helpers/tollgate.js';

/** Worker pids the primary logged as ready that are still alive. */
function liveWorkers(output: string): number[] {
  const pids = [...output.matchAll(/"pid":(\d+),"msg":"worker ready"/g)].map((m) => Number(m[1]));
  return [...new Set(pids)].filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
}

describe('serve --workers 2: a worker that dies', () => {
  let serve: ServeProcess | undefined;
  afterAll(() => serve?.kill());

  it(
    'is replaced while the other keeps serving, and a replacement that cannot start is retried without stopping the other',
    async () => {
      const ca = await createDevCa();
      const client = await makeJwtClient('svc-replacement');
      const { dir, port, issuer, configFile, writeRegistry } = await prepareServeDir({
        ca,
        clients: [client.metadata],
        config: { reload: { pollIntervalSeconds: 3600 }, log: { level: 'info' } },
        prefix: 'tollgate-worker-replacement-',
      });
      const running = spawnServe(configFile, {}, ['--workers', '2']);
      serve = running;
      // Each worker loads every module on its own (seconds of CPU each): wait for both to say so.
      // Ready lines are logged by the primary, buffered and flushed every second.
      await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem, undefined, running);
      const readyLine = /"msg":"worker ready"/g;
      await running.waitForOutput(readyLine, 2);

      /** A token request on a connection of its own, so the cluster may hand it to any worker. */
      const token = async () =>
        new Promise<number>((resolve) => {
          const req = request(
            `https://127.0.0.1:${port}/token`,
            {
              method: 'POST',
              ca: ca.root.certPem,
              agent: false,
              headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
            },
            (res) => {
              res.resume();
              res.once('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.once('error', () => resolve(0));
          createClientAssertion({
            clientId: client.clientId,
            audience: issuer,
            key: client.key.privateJwk,
          })
            .then((assertion) =>
              req.end(
                form({
                  grant_type: 'client_credentials',
                  client_assertion_type: jwtBearerAssertionType,
                  client_assertion: assertion,
                }),
              ),
            )
            .catch(() => resolve(0));
        });
      /** Waits for the `count`th line matching `pattern`, then checks there is no more. */
      const waitFor = async (pattern: RegExp, count: number) => {
        await running.waitForOutput(pattern, count);
        expect((running.output().match(pattern) ?? []).length, running.output()).toBe(count);
      };

      // 1. A worker dies: it is replaced; the other answers meanwhile.
      const [victim] = liveWorkers(running.output());
      process.kill(victim as number, 'SIGKILL');
      await waitFor(/worker died: replacing it/g, 1);
      expect(await token()).toBe(200);
      await waitFor(readyLine, 3);
      expect(liveWorkers(running.output()).length).toBe(2);

      // 2. The registry is broken on disk (running workers would refuse it on reload and keep
      // their state), then a worker dies: its replacement cannot start. The other keeps serving.
      await writeFile(join(dir, 'registry.json'), '{"clients": [');
      const [second] = liveWorkers(running.output());
      process.kill(second as number, 'SIGKILL');
      await waitFor(/replacement worker failed to start/g, 1);
      expect(running.child.exitCode, running.output()).toBeNull();
      expect(running.output()).not.toMatch(/stopping every worker/);
      const answers = await Promise.all(Array.from({ length: 4 }, () => token()));
      expect(answers).toEqual([200, 200, 200, 200]);

      // 3. Fixed on disk: the next retry starts a worker; SIGTERM then drains both, exit 0.
      await writeRegistry([client.metadata]);
      await waitFor(readyLine, 4);
      expect(liveWorkers(running.output()).length).toBe(2);
      running.kill('SIGTERM');
      expect(await running.waitForExit(), running.output()).toBe(0);
    },
    processTestTimeoutMs,
  );
});
