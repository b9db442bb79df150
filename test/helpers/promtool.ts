/**
 * promtool (Debian package `prometheus`) for the alerting-rule tests: skip with a notice when it
 * is missing on a developer machine, fail in CI (`CI` set), where `.ci/run` installs it.
 */
import { spawnSync } from 'node:child_process';

export function promtoolAvailable(): boolean {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return true;
  if (process.env.CI)
    throw new Error('promtool is not installed (CI): .ci/run should have installed it');
  console.warn(
    'promtool not found: skipping the Prometheus rule tests (apt-get install prometheus)',
  );
  return false;
}

/** Runs promtool; resolves with its exit status and output. */
export function promtool(args: readonly string[], cwd: string) {
  const result = spawnSync('promtool', [...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
