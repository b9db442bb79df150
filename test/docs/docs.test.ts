/**
 * Docs are tests (STYLE.md §22): every runnable block of README.md, docs/*.md, examples/,
 * certs/README.md and the generated certs/EXAMPLES.md runs as printed, in order, in a throw-away
 * copy of the repository (see sandbox.ts), against servers started the documented way. A block
 * that fails fails the suite; a block marked `<!-- docs-test: skip (reason) -->` is counted and
 * reported with its reason (see markdown.ts for the convention).
 *
 * Documents run one after the other in the same copy, so what one leaves behind (the dev PKI
 * `npm start` made, dist/) is there for the next, as it would be for a reader going through them;
 * servers a document starts are stopped when it ends. A document whose blocks talk to Tollgate
 * (https://localhost:8443) without starting it gets the documented server, `npm start`, first.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DocBlock, runnableBlocks } from './markdown.js';
import { type BackgroundBlock, runBlock, startBackground, tail } from './run.js';
import { createSandbox, type Sandbox } from './sandbox.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The documents, in reading order: README.md, docs/, examples/, then certs/README.md (the dev CA's
 * own manual) and the generated certs/EXAMPLES.md, which exists only once the dev CA has run and
 * so also lists the clients the documents before it made.
 */
function documents(): string[] {
  const markdownIn = (folder: string): string[] =>
    readdirSync(join(repo, folder), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.md'))
      .sort()
      .map((name) => `${folder}/${name}`);
  return [
    'README.md',
    ...markdownIn('docs'),
    ...markdownIn('examples'),
    'certs/README.md',
    'certs/EXAMPLES.md',
  ];
}

const generated = new Set(['certs/EXAMPLES.md']);
// Bounds, not expectations: a block normally takes a second or two, but the machine may be shared.
const blockTimeoutMs = 180_000;
const listenTimeoutMs = 240_000;
/** The documented way to start Tollgate (README, Quickstart). */
const documentedServer = 'npm start\n';

interface DocumentReport {
  readonly file: string;
  readonly run: number;
  readonly skipped: readonly { line: number; reason: string }[];
  readonly failures: readonly string[];
}

const reports: DocumentReport[] = [];
const timings: string[] = [];

describe('docs: every runnable block runs as printed', () => {
  let sandbox: Sandbox;

  beforeAll(async () => {
    sandbox = await createSandbox(repo);
    // Built once here; `npm start` in the documents then finds the incremental build up to date.
    const build = spawnSync('npm', ['run', 'build', '--silent'], {
      cwd: sandbox.root,
      env: sandbox.env,
      encoding: 'utf8',
    });
    if (build.status !== 0)
      throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  }, 600_000);

  afterAll(async () => {
    await sandbox?.dispose();
  });

  // DOCS_TEST_ONLY=docs/clients.md runs one document while writing it (the count check then fails).
  const only = process.env.DOCS_TEST_ONLY;
  for (const file of documents().filter((name) => only === undefined || name === only)) {
    it(file, { timeout: 900_000 }, async () => {
      const report = await runDocument(sandbox, file);
      reports.push(report);
      if (report.failures.length > 0) throw new Error(report.failures.join('\n\n'));
    });
  }

  it('counts the blocks and reports the skipped ones', () => {
    const lines = reports.map(
      (r) =>
        `${r.file}: ${r.run} run, ${r.skipped.length} skipped${r.skipped
          .map((s) => `\n  - ${r.file}:${s.line}: ${s.reason}`)
          .join('')}`,
    );
    const run = reports.reduce((sum, r) => sum + r.run, 0);
    const skipped = reports.reduce((sum, r) => sum + r.skipped.length, 0);
    console.log(`docs test: ${run} blocks run, ${skipped} skipped\n${lines.join('\n')}`);
    if (process.env.DOCS_TEST_TIMINGS) console.log(timings.join('\n'));
    // The harness must be able to fail: a broken extractor that finds nothing is a failure.
    expect(reports.find((r) => r.file === 'README.md')?.run).toBeGreaterThanOrEqual(8);
    expect(reports.find((r) => r.file === 'certs/EXAMPLES.md')?.run).toBeGreaterThanOrEqual(3);
    // The dev CA's manual (sign, X.509-SVIDs, dpop-key) and the workload modes' one-machine path.
    expect(reports.find((r) => r.file === 'certs/README.md')?.run).toBeGreaterThanOrEqual(10);
    expect(reports.find((r) => r.file === 'docs/workload-identity.md')?.run).toBeGreaterThanOrEqual(
      10,
    );
    for (const r of reports) for (const s of r.skipped) expect(s.reason).not.toBe('');
  });
});

async function runDocument(sandbox: Sandbox, file: string): Promise<DocumentReport> {
  // Tracked documents as printed in the checkout; the generated one from the copy.
  const text = generated.has(file)
    ? await readFile(join(sandbox.root, file), 'utf8').catch(() => {
        throw new Error(`${file} was not generated by the documents before it`);
      })
    : readFileSync(join(repo, file), 'utf8');
  const blocks = runnableBlocks(text, file);
  const skipped: { line: number; reason: string }[] = [];
  const failures: string[] = [];
  const servers: BackgroundBlock[] = [];
  const logDir = inject('tollgateLogDir');
  const slug = file.replace(/[^A-Za-z0-9]+/g, '-');
  let run = 0;

  const tollgate = `localhost:${sandbox.ports.get(8443)}`;
  const needsServer =
    !blocks.some((b) => b.mode.kind === 'background') &&
    blocks.some((b) => b.mode.kind === 'run' && sandbox.remap(b.code).includes(tollgate));

  const start = async (block: DocBlock & { mode: { kind: 'background'; port: number } }) => {
    servers.push(
      await startBackground(
        sandbox,
        file,
        block,
        join(logDir, `docs-${slug}-L${block.line}.log`),
        listenTimeoutMs,
      ),
    );
  };

  try {
    if (needsServer) {
      await start({
        line: 0,
        tag: 'sh',
        language: 'shell',
        code: documentedServer,
        mode: { kind: 'background', port: 8443, note: 'the documented server' },
      });
    }
    for (const block of blocks) {
      const mode = block.mode;
      if (mode.kind === 'skip') {
        skipped.push({ line: block.line, reason: mode.reason });
        continue;
      }
      run++;
      const started = Date.now();
      if (mode.kind === 'background') {
        try {
          await start({ ...block, mode });
        } catch (error) {
          failures.push((error as Error).message);
        }
        timings.push(`${file}:${block.line} ${Date.now() - started} ms`);
        continue;
      }
      const outcome = await runBlock(sandbox, file, block, blockTimeoutMs);
      timings.push(`${file}:${block.line} ${Date.now() - started} ms`);
      if (outcome.code !== 0 || outcome.timedOut) {
        failures.push(
          `${file}:${block.line} (${block.tag}) ${
            outcome.timedOut
              ? `did not finish within ${blockTimeoutMs} ms`
              : `exited ${outcome.code ?? outcome.signal}`
          }\n--- block ---\n${block.code}--- output ---\n${tail(outcome.output)}`,
        );
      }
    }
  } finally {
    const stopping = Date.now();
    for (const server of servers.reverse()) await server.stop();
    timings.push(`${file}: servers stopped in ${Date.now() - stopping} ms`);
  }
  if (failures.length > 0 && servers.length > 0) {
    failures.push(`servers' output:\n${servers.map((s) => tail(s.output(), 20)).join('\n---\n')}`);
  }
  return { file, run, skipped, failures };
}
