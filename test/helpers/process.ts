/** Runs `tollgate serve` as a real child process (through tsx, no build needed). */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// Absolute, so that a child started in an empty folder (no node_modules) still finds tsx.
const tsxLoader = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (bounded by the caller). */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function spawnServe(
  configFile: string,
  env: NodeJS.ProcessEnv = {},
  extraArgs: readonly string[] = [],
  options: { openFileLimit?: number } = {},
): ServeProcess {
  return spawnTollgate(['serve', '--config', configFile, ...extraArgs], {
    env: { NODE_ENV: 'test', ...env },
    ...options,
  });
}

/**
 * Runs `tollgate <args>` as a child process in `cwd`. The environment is this process's minus
 * NODE_ENV (which vitest sets), plus `env`: what a container that sets nothing would see.
 */
export function spawnTollgate(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; openFileLimit?: number } = {},
): ServeProcess {
  const { NODE_ENV: _unset, ...inherited } = process.env;
  const argv = [process.execPath, '--import', tsxLoader, mainTs, ...args];
  // `ulimit -n` through sh (POSIX), then exec: the child is the server itself, as without it.
  const [command, ...rest] =
    options.openFileLimit === undefined
      ? argv
      : ['sh', '-c', `ulimit -n ${options.openFileLimit} && exec "$0" "$@"`, ...argv];
  const child = spawn(command as string, rest, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...inherited, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    output: () => output,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null) child.kill(signal);
    },
  };
}

/** Polls an https URL until it answers (bounded). */
export async function waitForHttps(url: string, ca: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request(url, { ca }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}
