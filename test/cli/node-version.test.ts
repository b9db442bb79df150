/**
 * package.json's `engines` at the CLI's door: on an older Node.js `tollgate` says which version
 * it needs, in one sentence and exit 1, before anything else loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem } from '../../src/cli/node-version.js';

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tsxLoader = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));
const engines = (
  JSON.parse(
    await readFile(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8'),
  ) as { engines: { node: string } }
).engines.node;

describe('Node.js version check', () => {
  it('compares major, minor and patch against engines.node', () => {
    expect(engines).toBe('>=20.19.0');
    for (const old of ['18.20.4', 'v20.18.3', '19.9.0']) {
      expect(nodeVersionProblem(old, engines)).toMatch(
        /^tollgate needs Node\.js 20\.19\.0 or later; this is Node\.js (18\.20\.4|20\.18\.3|19\.9\.0) /,
      );
    }
    for (const fine of ['20.19.0', '20.20.2', 'v22.1.0', '24.0.0']) {
      expect(nodeVersionProblem(fine, engines)).toBeUndefined();
    }
    expect(nodeVersionProblem('20.0.0', 'unparseable')).toBeUndefined();
  });

  it('a real `tollgate serve` on an older Node.js stops with the sentence, exit 1, before reading its config', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-old-node-'));
    try {
      // The process believes it runs Node.js 20.18.0 from its first line on.
      const pretend = `data:text/javascript,Object.defineProperty(process,'versions',{value:{...process.versions,node:'20.18.0'}})`;
      const result = spawnSync(
        process.execPath,
        // (Not --dev: without the check this would start a server; here it reads a missing file.)
        ['--import', pretend, '--import', tsxLoader, mainTs, 'serve', '--config', 'missing.json'],
        { cwd: dir, encoding: 'utf8', timeout: 60_000 },
      );
      expect(result.status, result.stderr).toBe(1);
      expect(result.stderr).toMatch(
        /^tollgate needs Node\.js 20\.19\.0 or later; this is Node\.js 20\.18\.0 \(.+\)\. Install a newer Node\.js/,
      );
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.stdout).toBe('');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
