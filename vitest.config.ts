import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Bounds, not performance figures: a busy two-core machine (CI, parallel suites) makes
    // process start-up and handshakes slow, and a test that is only slow must not fail.
    testTimeout: 60_000,
    hookTimeout: 90_000,
    pool: 'forks',
    // Most test files wait on processes, sockets and child servers rather than compute, so one
    // file more than the cores keeps the machine busy. Vitest's default (cores - 1) ran the
    // suite one file at a time on a two-core machine: 572 s against 343 s with 3 (clean clone).
    // At most 8: every file may start servers of its own.
    maxWorkers: Math.min(availableParallelism() + 1, 8),
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary'],
      // A gate where security lives (STYLE.md §19), a floor elsewhere; set a little below what the
      // suite reaches so that a drop fails CI without flaking.
      thresholds: {
        branches: 80,
        lines: 88,
        statements: 86,
        functions: 90,
        'src/client-auth/**': { branches: 97, lines: 98, statements: 98, functions: 100 },
        'src/errors/**': { branches: 100, lines: 100, statements: 100, functions: 100 },
        'src/tokens/**': { branches: 96, lines: 96, statements: 96, functions: 95 },
        'src/jws/**': { branches: 96, lines: 96, statements: 96, functions: 100 },
        'src/pki/**': { branches: 97, lines: 98, statements: 98, functions: 98 },
      },
    },
  },
});
