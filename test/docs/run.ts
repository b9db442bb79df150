/**
 * Runs one documented block in the sandbox: shell blocks with `bash -e -o pipefail` (a failing
 * command fails the block, as it would stop a reader), scripts with Node and tsx (so a `ts`
 * block runs exactly as a user's `npx tsx file.ts` would, imports of `tollgate/...` resolving to
 * the package's own exports). Each block runs in its own process group, bounded in time, and
 * killed whole when it overruns.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { basename, dirname, join } from 'node:path';
import type { DocBlock } from './markdown.js';
import type { Sandbox } from './sandbox.js';

export interface BlockOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly output: string;
}

const maxOutputChars = 200_000;

/** The command line that runs a block, after writing a script block next to its document. */
async function commandOf(
  sandbox: Sandbox,
  file: string,
  block: DocBlock,
): Promise<{ command: string; args: string[] }> {
  const code = sandbox.remap(block.code);
  if (block.language === 'shell')
    return { command: 'bash', args: ['-e', '-o', 'pipefail', '-c', code] };
  // Beside the document, so relative imports resolve the way the document implies.
  const extension = block.tag.startsWith('t') ? 'ts' : 'mjs';
  const script = join(
    sandbox.root,
    dirname(file),
    `.docs-test-${basename(file, '.md')}-L${block.line}.${extension}`,
  );
  await writeFile(script, code);
  return { command: process.execPath, args: ['--import', 'tsx', script] };
}

function spawnBlock(sandbox: Sandbox, command: string, args: string[]): ChildProcess {
  return spawn(command, args, {
    cwd: sandbox.root,
    env: sandbox.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Runs a foreground block to completion (or to `timeoutMs`, then kills its process group). */
export async function runBlock(
  sandbox: Sandbox,
  file: string,
  block: DocBlock,
  timeoutMs: number,
): Promise<BlockOutcome> {
  const { command, args } = await commandOf(sandbox, file, block);
  const child = spawnBlock(sandbox, command, args);
  let output = '';
  const collect = (chunk: Buffer) => {
    if (output.length < maxOutputChars) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child, 'SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  clearTimeout(timer);
  // Whatever the block left running in the background goes with it.
  killGroup(child, 'SIGKILL');
  return { code, signal, timedOut, output };
}

/** A block running in the background: a server the following blocks talk to. */
export interface BackgroundBlock {
  readonly output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts a background block and waits until its port (remapped) accepts TCP connections.
 * Its output goes to `logFile` too (the suite's log audit searches it for secrets).
 *
 * @throws Error with the block's output when it exits or does not listen within `timeoutMs`.
 */
export async function startBackground(
  sandbox: Sandbox,
  file: string,
  block: DocBlock & { readonly mode: { readonly kind: 'background'; readonly port: number } },
  logFile: string,
  timeoutMs: number,
): Promise<BackgroundBlock> {
  const { command, args } = await commandOf(sandbox, file, block);
  const child = spawnBlock(sandbox, command, args);
  const log: WriteStream = createWriteStream(logFile);
  let output = '';
  const collect = (chunk: Buffer) => {
    log.write(chunk);
    if (output.length < maxOutputChars) output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 10_000);
      await closed;
      clearTimeout(timer);
    }
    // Children that ignored SIGTERM while their parent (npm, bash) exited.
    killGroup(child, 'SIGKILL');
    await new Promise<void>((resolve) => log.end(resolve));
  };
  const port = sandbox.ports.get(block.mode.port) ?? block.mode.port;
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(
        `${file}:${block.line}: the background block ${
          Date.now() > deadline ? `did not listen on port ${port} within ${timeoutMs} ms` : 'exited'
        }\n${tail(output)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { output: () => output, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The last lines of an output, for failure messages. */
export function tail(output: string, lines = 40): string {
  return output.trimEnd().split('\n').slice(-lines).join('\n');
}
