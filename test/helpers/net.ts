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
 * A port is handed out once per machine while its taker lives: a lock file named after it,
 * holding the taker's pid, is created exclusively first. So two test processes (two vitest
 * workers, or two suites run at once from two checkouts) never pick the same port, even one
 * that is checked free minutes before it is listened on (the docs sandbox's). A lock whose pid
 * is gone is taken over; ours are removed when this process exits.
 */
const firstPort = 20_000;
const portCount = 12_000;
const lockDir = join(tmpdir(), 'tollgate-test-ports');
const held: string[] = [];
let next = Math.floor(Math.random() * portCount);

/** A TCP port free on 127.0.0.1 right now, reserved for this process (see above). */
export async function freePort(): Promise<number> {
  mkdirSync(lockDir, { recursive: true });
  for (let tried = 0; tried < portCount; tried++) {
    const port = firstPort + (next++ % portCount);
    if (reserve(port) && (await canListen(port))) return port;
  }
  throw new Error(`no free port in ${firstPort}-${firstPort + portCount - 1}`);
}

/** Takes `port`'s lock file, unless a live process holds it. */
function reserve(port: number): boolean {
  const path = join(lockDir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      if (held.length === 0) process.once('exit', release);
      held.push(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (holderAlive(path)) return false;
      // A dead taker's lock: remove it and race the others for it once (`wx` picks one winner).
      try {
        unlinkSync(path);
      } catch {}
    }
  }
  return false;
}

function holderAlive(path: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
  // A lock being written has no pid yet: treat it as held.
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function release(): void {
  for (const path of held.splice(0)) {
    try {
      unlinkSync(path);
    } catch {}
  }
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
