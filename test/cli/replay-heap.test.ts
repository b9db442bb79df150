/**
 * A memory replay store that could outgrow the process's heap is refused at start: a real
 * `tollgate serve` under a real V8 heap limit (`NODE_OPTIONS=--max-old-space-size`), not a
 * store left to grow, under load or an attack, into an out-of-memory crash hours later.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';

describe('tollgate serve: the memory replay store must fit in the heap', () => {
  const running: ServeProcess[] = [];
  afterAll(() => {
    for (const serve of running) serve.kill();
  });

  it(
    'refuses the default 1,000,000 claims under a 128 MiB heap, names the fix, and serves under 512 MiB',
    async () => {
      const ca = await createDevCa();
      const { configFile, port } = await prepareServeDir({ ca, prefix: 'tollgate-replay-heap-' });

      const small = spawnServe(configFile, { NODE_OPTIONS: '--max-old-space-size=128' });
      running.push(small);
      expect(await small.waitForExit()).toBe(1);
      expect(small.output()).toMatch(
        /replay\.maxEntries: 1000000 live claims need about 222 MiB of heap when the memory replay store is full .*V8's heap limit: \d+ MiB\): lower replay\.maxEntries, or raise the limit \(NODE_OPTIONS=--max-old-space-size=478\)/,
      );

      const enough = spawnServe(configFile, { NODE_OPTIONS: '--max-old-space-size=512' });
      running.push(enough);
      await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem, undefined, enough);
      expect(enough.output()).not.toContain('replay.maxEntries');
    },
    processTestTimeoutMs,
  );
});
