/**
 * A real haproxy for tests: found on the usual paths (.ci/run installs it; without it, suites
 * skip with a notice), started in the foreground on a configuration the test writes, stopped
 * and cleaned up by `stop()`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from './nginx.js';

/** The haproxy binary, if installed. */
export function findHaproxy(): string | undefined {
  for (const candidate of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  return undefined;
}

export interface RunningHaproxy {
  /** The port `config` listens on (the one passed to it). */
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts haproxy with `config(dir)` (`dir` is a fresh folder for its files, removed on stop),
 * and waits until `port` accepts connections.
 */
export async function startHaproxy(
  binary: string,
  port: number,
  config: (dir: string) => Promise<string> | string,
): Promise<RunningHaproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-haproxy-'));
  await writeFile(join(dir, 'haproxy.cfg'), await config(dir));
  const child = spawn(binary, ['-db', '-f', join(dir, 'haproxy.cfg')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  await waitForPort(port, 10_000, () => child.exitCode !== null).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`haproxy did not start: ${(error as Error).message}\n${output}`);
  });
  return {
    port,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
