/**
 * Metric conventions operators rely on: a counter moves only when something happened (a reload
 * check that finds nothing new is not counted; `tollgate_reloads_total{outcome="unchanged"}` used
 * to grow every poll interval), and prom-client's process metrics keep their standard names.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeJwtClient, makeTollgate, type TestTollgate } from '../helpers/tollgate.js';

describe('metric conventions', () => {
  let tg: TestTollgate;
  let registryFile: string;

  beforeAll(async () => {
    const client = await makeJwtClient('svc-conventions');
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-conventions-'));
    registryFile = join(dir, 'registry.json');
    await writeFile(registryFile, JSON.stringify({ clients: [client.metadata] }));
    tg = await makeTollgate({
      clients: [],
      registryFile,
      tollgate: { processMetrics: true },
    });
  });
  afterAll(() => tg?.dispose());

  const admin = () => tg.adminApp as NonNullable<typeof tg.adminApp>;
  const reloadSamples = async () => {
    const body = (await admin().inject({ method: 'GET', url: '/metrics' })).body;
    return body.split('\n').filter((line) => line.startsWith('tollgate_reloads_total'));
  };

  it('does not count reload checks that find nothing new', async () => {
    const before = await reloadSamples();
    for (let i = 0; i < 5; i++) {
      const outcomes = await tg.reload(false);
      expect(outcomes.every((o) => o.outcome === 'unchanged')).toBe(true);
    }
    expect(await reloadSamples()).toEqual(before);
    expect(before.filter((line) => line.includes('unchanged'))).toEqual([]);
  });

  it('counts a reload that changed something', async () => {
    const client = await makeJwtClient('svc-conventions-2');
    await writeFile(registryFile, JSON.stringify({ clients: [client.metadata] }));
    expect(await tg.reload(false)).toContainEqual({ part: 'registry', outcome: 'reloaded' });
    expect(await reloadSamples()).toContain(
      'tollgate_reloads_total{part="registry",outcome="reloaded"} 1',
    );
  });

  it('exports Node process metrics under their standard names', async () => {
    const body = (await admin().inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toMatch(/^process_cpu_seconds_total \d/m);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(body).not.toMatch(/^tollgate_(?:process|nodejs)_/m);
  });
});
