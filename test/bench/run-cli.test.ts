/**
 * `npm run bench -- --help` (README.md, docs/benchmarks.md), `npm run overload -- --help`
 * (docs/security.md), `npm run replay-churn -- --help` (docs/benchmarks.md) and command-line
 * mistakes: usage on stdout, or one line naming the mistake and exit 2, never a Node stack trace.
 * Nothing here runs a benchmark: every case stops before the build or the measurement.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const runMjs = fileURLToPath(new URL('../../scripts/bench/run.mjs', import.meta.url));
const overloadMjs = fileURLToPath(new URL('../../scripts/bench/overload.mjs', import.meta.url));
const churnMjs = fileURLToPath(new URL('../../scripts/bench/replay-churn.mjs', import.meta.url));

function bench(...args: string[]) {
  return script(runMjs, args);
}

function script(file: string, args: string[]) {
  const result = spawnSync(process.execPath, [file, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('npm run bench: the command line', () => {
  it('--help prints every option and the scenarios, exit 0', () => {
    const result = bench('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run bench -- \[options\]/);
    for (const option of [
      '--quick',
      '--only LIST',
      '--json FILE',
      '--no-build',
      '--profile',
      '--churn-entries N',
      '--quiet-warmup-max SEC',
    ]) {
      expect(result.stdout).toContain(option);
    }
    expect(result.stdout).toMatch(/Scenarios: S1 .* IPC CHURN\n/);
    expect(result.stderr).toBe('');
  });

  it.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['--only', 'S9'], 'unknown scenario S9 (scenarios: S1, '],
    [['--duration', '0'], '--duration must be in (0, 600] s'],
    [['--connections', '0'], '--connections must be 1..1024'],
    [['--churn-entries', '999'], '--churn-entries must be 1000..20000000'],
    [['--quiet-warmup-max', '121'], '--quiet-warmup-max must be in [0, 120] s'],
    [['--quiet-warmup-max', 'soon'], '--quiet-warmup-max must be in [0, 120] s'],
  ])('%j: one line naming the mistake, exit 2, no stack trace', (args, message) => {
    const result = bench(...args);
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(`bench: ${message}`)).toBe(true);
    expect(result.stderr).toMatch(/\nSee: npm run bench -- --help\n$/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('npm run overload: --help and mistakes the same way', () => {
    const help = script(overloadMjs, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run overload -- \[options\]/);
    for (const [args, message] of [
      [['--bogus'], "Unknown option '--bogus'"],
      [['--after', '999'], '--after must be in [0, 300] s'],
    ] as const) {
      const result = script(overloadMjs, [...args]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`overload: ${message}\nSee: npm run overload -- --help\n`);
    }
  });

  it('replay-churn.mjs: --help and mistakes the same way, before it measures anything', () => {
    const help = script(churnMjs, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: npm run replay-churn -- \[options\]/);
    for (const option of ['--entries N', '--churn M', '--dist DIR', '--rounds R', '--in-process']) {
      expect(help.stdout).toContain(option);
    }
    for (const [args, message] of [
      [['--bogus'], "Unknown option '--bogus'"],
      [['--entries', '999'], '--entries must be 1000..20000000'],
      [['--churn', '1e9'], '--churn must be 1000..20000000'],
      [['--rounds', '0'], '--rounds must be 1..20'],
      [['--max-seconds', '0'], '--max-seconds must be in (0, 3600]'],
      [
        ['--in-process', '--dist', 'a', '--dist', 'b'],
        '--in-process measures one build: give --dist at most once',
      ],
    ] as const) {
      const result = script(churnMjs, [...args]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`replay-churn: ${message}\nSee: npm run replay-churn -- --help\n`);
      expect(result.stdout).toBe('');
    }
  });
});
