/**
 * `serve` and `check-config` name the config file in the header of their problem report, and
 * print the same report for the same file, so an operator with several files (or one given by
 * $TOLLGATE_CONFIG) sees which one is wrong. Before, serve printed `invalid configuration:` and
 * check-config `invalid configuration (N problems):`, neither with the file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { serveCommand } from '../../src/cli/serve.js';

const capture = () => {
  const out = { err: '' };
  const io = {
    stdout: { write: () => true },
    stderr: { write: (text: string) => (out.err += text) },
  };
  return { out, io };
};

async function run(argv: string[]) {
  const { out, io } = capture();
  const code = await main(argv, io);
  return { code, err: out.err };
}

describe('the header of a configuration problem report', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-config-header-'));
    file = join(dir, 'tollgate.json');
    await writeFile(file, JSON.stringify({ isuer: 'https://localhost:8443', tls: { port: 'x' } }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each(['serve', 'check-config'])(
    '%s names the file and counts the problems',
    async (command) => {
      const { code, err } = await run([command, '--config', file]);
      expect(code).toBe(1);
      expect(err.split('\n')[0]).toBe(`invalid configuration in ${file} (2 problems):`);
      expect(err).toContain('  - isuer: unknown setting; did you mean issuer?');
      expect(err).toContain('  - tls.port: must be integer, not a string');
    },
  );

  it('names the file that $TOLLGATE_CONFIG gave', async () => {
    const { out, io } = capture();
    expect(await serveCommand([], io, { TOLLGATE_CONFIG: file })).toBe(1);
    expect(out.err.split('\n')[0]).toBe(`invalid configuration in ${file} (2 problems):`);
  });
});
