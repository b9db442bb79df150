/** Network helpers for tests: loopback only. */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ports {@link freePort} hands out: below Linux's default ephemeral range (32768-60999), so the
 * local port of an outgoing connection (any test's client, Redis, a spawned process's) cannot
 * take a port between the check here and the test's own listen, which the OS-chosen port 0 of
 * the check could (seen as EADDRINUSE in a CI run).
 *
 * Between the check and the listen another test process could take the port too: another vitest
 * worker, or another test run on the same machine (worker ids repeat from one run to the next,
 * so per-worker slices collided when two runs shared the machine: EADDRINUSE again). So a port
 * handed out is first reserved machine-wide with a lock file (created exclusively, holding the
 * pid) and stays this process's until it exits; a lock whose process has exited is taken over.
 * Each process starts at its own place in the range, so processes rarely even meet.
 */
const firstPort = 20_000;
const rangeSize = 12_000;
const lockDir = join(tmpdir(), 'tollgate-test-ports');
/** Ports this process has reserved (released when it exits). */
const held = new Set<number>();
let next = Math.floor(Math.random() * rangeSize);
let exitHook = false;

/** A TCP port free on 127.0.0.1 right now and reserved for this process (see above). */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < rangeSize; tried++) {
    const port = firstPort + (next++ % rangeSize);
    if (reserve(port) && (await canListen(port))) return port;
  }
  throw new Error(`no free port in ${firstPort}-${firstPort + rangeSize - 1}`);
}

/** Whether this process holds (or now takes) the lock on `port`. */
function reserve(port: number, retry = true): boolean {
  if (held.has(port)) return true;
  mkdirSync(lockDir, { recursive: true });
  const path = join(lockDir, String(port));
  try {
    const fd = openSync(path, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    held.add(port);
    releaseOnExit();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (!retry || isAlive(ownerOf(path))) return false;
  // Its process has exited: take the port over (one attempt; a process racing us for it wins).
  try {
    unlinkSync(path);
  } catch {
    return false;
  }
  return reserve(port, false);
}

function ownerOf(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8'));
  } catch {
    return 0;
  }
}

/** An owner still running (a lock being written, pid 0 or unreadable, counts as running). */
function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function releaseOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const port of held) {
      try {
        unlinkSync(join(lockDir, String(port)));
      } catch {
        // Already gone: nothing to release.
      }
    }
  });
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as AddressInfo;
      server.close(() => resolve(bound === port));
    });
  });
}
