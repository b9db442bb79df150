/**
 * Shared helpers for the dev-ca tests: temp dirs, running the dev-ca CLI, and running the real
 * `openssl` binary, which is the referee for every certificate and CRL the dev CA makes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDevCaCli } from '../../src/dev-ca/index.js';

export interface RunResult {
  readonly code: number;
  readonly output: string;
}

/** Runs openssl with `args`; never throws on a non-zero exit. */
export function openssl(args: readonly string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('openssl', [...args], { cwd }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** A fresh temp dir and its cleanup. */
export async function tempDir(
  prefix = 'tollgate-dev-ca-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `files` (name → content) under `dir` and returns their paths by name. */
export async function writeAll(
  dir: string,
  files: Record<string, string>,
): Promise<Record<string, string>> {
  const paths: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    await writeFile(path, content);
    paths[name] = path;
  }
  return paths;
}

/** Output streams that drop everything. */
export const quiet = { stdout: { write: () => true }, stderr: { write: () => true } };

/** Runs the dev-ca CLI on the PKI in `dir`; resolves to its exit code and what it printed. */
export async function cli(
  dir: string,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io = {
    stdout: {
      write: (text: string) => {
        out += text;
        return true;
      },
    },
    stderr: {
      write: (text: string) => {
        err += text;
        return true;
      },
    },
  };
  const code = await runDevCaCli([...args, '--dir', dir], io);
  return { code, out, err };
}
