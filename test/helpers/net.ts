/** Network helpers for tests: loopback only. */
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
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
 * is gone is taken over; ours are removed when this process exits (vitest ends its workers with
 * SIGTERM, which skips `exit`: theirs stay until a later taker finds their pid gone).
 *
 * The locks live in the machine's temporary folder, not in `os.tmpdir()`: every suite runs with a
 * TMPDIR of its own (test/global-setup.ts), so locks kept there bound only that suite, and two
 * suites at once both handed out the same port (the docs sandbox's API port was then served by
 * the other suite: UNABLE_TO_GET_ISSUER_CERT_LOCALLY). The folder is world-writable and sticky,
 * as /tmp is, so suites of two users share it too.
 *
 * A port is free only when nothing listens on it on 127.0.0.1 nor on ::1: a server on
 * `localhost` (Fastify, `tollgate serve`) binds both where `localhost` names both, and a client
 * calling `localhost` may reach either.
 */
const firstPort = 20_000;
const portCount = 12_000;
/**
 * The environment variable through which test/global-setup.ts passes the machine's temporary
 * folder (the one before it points TMPDIR at the suite's own) to the test processes.
 */
export const machineTmpdirVariable = 'TEST_MACHINE_TMPDIR';
/** Read at each use: global-setup.ts imports this module before it sets the variable. */
const lockDir = (): string =>
  join(process.env[machineTmpdirVariable] ?? tmpdir(), 'tollgate-test-ports');
const held: string[] = [];
let next = Math.floor(Math.random() * portCount);

/** A TCP port free on 127.0.0.1 and ::1 right now, reserved for this process (see above). */
export async function freePort(): Promise<number> {
  makeLockDir();
  for (let tried = 0; tried < portCount; tried++) {
    const port = firstPort + (next++ % portCount);
    if (await claimPort(port)) return port;
  }
  throw new Error(`no free port in ${firstPort}-${firstPort + portCount - 1}`);
}

/**
 * Claims `port` for this process: true when no live test process holds its lock (see above)
 * and nothing listens on it right now. {@link freePort} is this over its range.
 */
export async function claimPort(port: number): Promise<boolean> {
  makeLockDir();
  if (!reserve(port)) return false;
  if (await canListen(port)) return true;
  unreserve(port);
  return false;
}

function makeLockDir(): void {
  // mkdir returns the folder's path only when it created it: then open it to every user.
  if (mkdirSync(lockDir(), { recursive: true }) !== undefined) {
    try {
      chmodSync(lockDir(), 0o1777);
    } catch {}
  }
}

/** Takes `port`'s lock file, unless a live process holds it. */
function reserve(port: number): boolean {
  const path = join(lockDir(), String(port));
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

function unreserve(port: number): void {
  const path = join(lockDir(), String(port));
  const at = held.indexOf(path);
  if (at >= 0) held.splice(at, 1);
  try {
    unlinkSync(path);
  } catch {}
}

function release(): void {
  for (const path of held.splice(0)) {
    try {
      unlinkSync(path);
    } catch {}
  }
}

/** Nothing listens on `port` on either loopback address (a machine without ::1 has one). */
async function canListen(port: number): Promise<boolean> {
  return (await canListenOn(port, '127.0.0.1')) && (await canListenOn(port, '::1'));
}

function canListenOn(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      // No IPv6 on this machine: nothing can listen there either.
      resolve(host === '::1' && (error.code === 'EADDRNOTAVAIL' || error.code === 'EAFNOSUPPORT')),
    );
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      server.close(() => resolve(bound === port));
    });
  });
}
