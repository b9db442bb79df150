/**
 * Runs `tollgate serve` as a real child process (through tsx, no build needed), and waits for
 * what it does: the server answering, a line in its output, its exit.
 *
 * Waits are for events, not wall-clock budgets. Starting a Tollgate process costs about 2.5 s of
 * CPU before it serves anything (tsx compiles and loads every module through an off-thread
 * loader; `node -e 0` costs 0.1 s), and three starts at once are usual in this suite (a primary
 * and two workers, or two servers side by side). On the two-core machine at a load average of
 * 15 to 20 (the whole suite beside other jobs) that took longer than the 40 and 60 s budgets the
 * tests used to give a start-up (measured 2026-12-06: `tollgate serve` with no arguments, which
 * only loads the code and prints a hint, took 13 to 18 s of wall-clock time for 2.1 to 2.7 s of
 * CPU at a load average of 10). So a wait ends when the event happens, fails at once with the
 * process's output when the process exits first, and otherwise gives up only at
 * {@link startGuardMs}: a guard against a hang, far beyond any start-up seen.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';

const mainTs = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// Absolute, so that a child started in an empty folder (no node_modules) still finds tsx.
const tsxLoader = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

/**
 * How long a wait on a spawned process (its start, a line, its exit) may last before the test
 * gives up: a guard against a hang, not a budget (see the header).
 */
export const startGuardMs = 300_000;

/**
 * The timeout of a test that starts processes: a guard like {@link startGuardMs}, above it, so
 * that a wait that gives up reports the process's output instead of vitest's bare timeout.
 */
export const processTestTimeoutMs = 600_000;

export interface ServeProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote so far, stdout and stderr interleaved as read. */
  readonly output: () => string;
  /**
   * Resolves with the exit code (null when killed by a signal) once the process has exited and
   * its output has been read to the end (Node's `close`, not `exit`: at `exit` the pipes may
   * still hold what it wrote last). Unbounded: bound it with {@link ServeProcess.waitForExit}.
   */
  readonly exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
  /**
   * Resolves once the output has matched `pattern` `count` times (a global copy of it is used to
   * count). Rejects, with the output, when the process ends first or after `guardMs`.
   */
  waitForOutput(pattern: RegExp, count?: number, guardMs?: number): Promise<void>;
  /** The exit code, waited for up to `guardMs`; past it the process is killed (SIGKILL). */
  waitForExit(guardMs?: number): Promise<number | null>;
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
  const watched = watchOutput(child);
  const kill = (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  return {
    child,
    output: watched.output,
    exited: watched.closed,
    kill,
    waitForOutput: watched.waitForOutput,
    waitForExit: async (guardMs = startGuardMs) => {
      const timer = setTimeout(() => kill(), guardMs);
      try {
        return await watched.closed;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A child's output, read as it comes, and waits on it. */
export interface WatchedOutput {
  /** Everything written so far, stdout and stderr interleaved as read. */
  readonly output: () => string;
  /** Resolves with the exit code once the process has exited and its pipes are read out. */
  readonly closed: Promise<number | null>;
  /** See {@link ServeProcess.waitForOutput}. */
  waitForOutput(pattern: RegExp, count?: number, guardMs?: number): Promise<void>;
}

/**
 * Collects `child`'s stdout and stderr, and wakes the waits on every chunk: a wait ends on the
 * chunk that completes it, not on a polling tick, and at once when the process has ended.
 */
export function watchOutput(child: ChildProcess, name = 'the process'): WatchedOutput {
  let output = '';
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const append = (chunk: Buffer | string) => {
    output += chunk;
    wake();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  // `close`, not `exit`: Node documents that at `exit` the child's pipes may still be open, so
  // what it wrote last could be missing from `output` (an exit-code test reads it right after).
  const closedPromise = new Promise<number | null>((resolve) =>
    child.once('close', (code: number | null) => {
      closed = true;
      resolve(code);
      wake();
    }),
  );
  return {
    output: () => output,
    closed: closedPromise,
    waitForOutput: (pattern, count = 1, guardMs = startGuardMs) =>
      new Promise<void>((resolve, reject) => {
        const global = new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`);
        const what = `${count} × ${pattern} in the output of ${name}`;
        const check = () => {
          if ((output.match(global) ?? []).length >= count) finish(undefined);
          else if (closed) finish(new Error(`${name} exited before ${what}:\n${output}`));
        };
        const timer = setTimeout(
          () => finish(new Error(`no ${what} within ${guardMs} ms (a guard):\n${output}`)),
          guardMs,
        );
        const finish = (error: Error | undefined) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error === undefined) resolve();
          else reject(error);
        };
        waiters.add(check);
        check();
      }),
  };
}

/**
 * Polls an https URL until it answers 200. With `serve`, fails at once (with its output) when
 * that process exits first: a server that could not start is not waited for. `timeoutMs` is a
 * guard against a hang (see the header), by default {@link startGuardMs}.
 */
export async function waitForHttps(
  url: string,
  ca: string,
  timeoutMs = startGuardMs,
  serve?: ServeProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (serve !== undefined && (serve.child.exitCode !== null || serve.child.signalCode !== null)) {
      const code = await serve.exited;
      throw new Error(`the process exited (${code}) before ${url} answered:\n${serve.output()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      // Each poll bounded too, so that a connection that never answers cannot hold the wait
      // past its guard; a refused connection (not listening yet) fails at once.
      const req = request(url, { ca, timeout: Math.max(1, deadline - Date.now()) }, (res) => {
        res.resume();
        last = `HTTP ${res.statusCode}`;
        resolve(res.statusCode === 200);
      });
      req.on('timeout', () => req.destroy(new Error('no answer')));
      req.on('error', (error: NodeJS.ErrnoException) => {
        last = error.code ?? error.message;
        resolve(false);
      });
      req.end();
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `${url} did not answer within ${timeoutMs} ms (last: ${last})${serve === undefined ? '' : `:\n${serve.output()}`}`,
  );
}
