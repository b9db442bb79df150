/**
 * Helpers shared by the benchmark processes: free ports, CPU pinning, per-process CPU time from
 * /proc (so the measured server is never touched), percentiles, and the TLS settings every
 * listener of the benchmark uses (the same ones Tollgate's own listener uses).
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setPriority } from 'node:os';
import { connect } from 'node:tls';
import { parseArgs } from 'node:util';

/** BCP 195, exactly as src/http/server.ts configures Tollgate's listeners. */
export const bcp195Ciphers = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Server TLS options of every benchmark listener: Tollgate's (request, never require, a cert). */
export function serverTlsOptions(cert, key) {
  return {
    cert,
    key,
    minVersion: 'TLSv1.2',
    ciphers: bcp195Ciphers,
    honorCipherOrder: true,
    requestCert: true,
    rejectUnauthorized: false,
  };
}

export const jwtBearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

let tasksetChecked;
/** True when `taskset` exists and may set affinity here. */
export function hasTaskset() {
  if (tasksetChecked === undefined) {
    try {
      execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
      tasksetChecked = true;
    } catch {
      tasksetChecked = false;
    }
  }
  return tasksetChecked;
}

/** Spawns `command args` pinned to `core` (when taskset works and core is not null). */
export function spawnPinned(core, command, args, options) {
  if (core !== null && hasTaskset()) {
    return spawn('taskset', ['-c', String(core), command, ...args], options);
  }
  return spawn(command, args, options);
}

/**
 * Moves every thread of process `pid` onto `cores` (a taskset list: "1", "0-3"). Returns the
 * list it had before, or undefined when taskset is missing or refused (nothing changed).
 */
export function pinProcessThreads(pid, cores) {
  if (!hasTaskset()) return undefined;
  try {
    const before = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' })
      .split(':')
      .pop()
      .trim();
    execFileSync('taskset', ['-a', '-c', '-p', cores, String(pid)], { stdio: 'ignore' });
    return before;
  } catch {
    return undefined;
  }
}

/**
 * Gives this process's threads other than the main one (V8's GC and compiler helpers, libuv's
 * pool, workers) the lowest priority: nice 19, per thread on Linux. Best effort: threads that
 * exit meanwhile, and systems without /proc, are left as they are.
 */
export function niceHelperThreads() {
  let tasks = [];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return;
  }
  for (const tid of tasks) {
    if (tid === String(process.pid)) continue;
    try {
      setPriority(Number(tid), 19);
    } catch {
      // Exited, or not allowed: leave it.
    }
  }
}

/** Clock ticks per second of /proc's CPU times. */
export const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** user and system CPU seconds of a process (all its threads) from /proc/<pid>/stat. */
export function procCpuTimes(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may hold spaces; everything after the last ')' is space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return { user: Number(fields[11]) / clockTicks, system: Number(fields[12]) / clockTicks };
}

/** The pids of a process's live descendants, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid) {
  const found = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < 1024) {
    const current = queue.shift();
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${current}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/**
 * user and system CPU seconds of a process and its live descendants (`serve --workers N`: the
 * primary and every worker). A descendant that exits inside the window would be missed: the
 * benchmark's servers keep theirs for the whole run.
 */
export function procTreeCpuTimes(pid) {
  const total = procCpuTimes(pid);
  for (const child of descendants(pid)) {
    try {
      const { user, system } = procCpuTimes(child);
      total.user += user;
      total.system += system;
    } catch {
      // Exited between the listing and the read.
    }
  }
  return total;
}

/**
 * CPU milliseconds a process's threads other than its main thread have run
 * (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds): V8's compiler and GC helper threads and
 * libuv's pool. A thread that exits between two reads takes its time with it; callers clamp
 * a negative difference to 0. NaN when the process is gone.
 */
export function procOtherThreadsMs(pid) {
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return Number.NaN;
  }
  let ns = 0;
  for (const tid of tasks) {
    if (tid === String(pid)) continue;
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // Exited between the listing and the read.
    }
  }
  return ns / 1e6;
}

/**
 * A process's I/O syscall counts (all its threads) from /proc/<pid>/io: `syscw` counts write,
 * writev and sendmsg calls (socket writes as well as the audit log's file writes); undefined
 * when the file cannot be read.
 */
export function procIoCounts(pid) {
  try {
    const fields = Object.fromEntries(
      readFileSync(`/proc/${pid}/io`, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(': ')),
    );
    return { syscr: Number(fields.syscr), syscw: Number(fields.syscw) };
  } catch {
    return undefined;
  }
}

/** user+system CPU seconds of a process (all its threads). */
export function procCpuSeconds(pid) {
  const { user, system } = procCpuTimes(pid);
  return user + system;
}

/** Resident set size of a process in bytes, from /proc/<pid>/status. */
export function procRssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match === null ? Number.NaN : Number(match[1]) * 1024;
}

/** Percentile (0..100) of a sorted Float64Array, nearest rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Waits until a TLS handshake to 127.0.0.1:port succeeds (bounded by `timeoutMs`). */
export async function waitForTls(port, timeoutMs, isAlive = () => true) {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline && attempt < 1000; attempt++) {
    if (!isAlive()) throw new Error(`the process listening on ${port} exited before it was ready`);
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.setTimeout(1000, () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing answered TLS on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A command-line mistake in `npm run <script>`: one line and exit 2, never a stack trace. */
export function usageError(script, message) {
  process.stderr.write(`${script}: ${message}\nSee: npm run ${script} -- --help\n`);
  process.exit(2);
}

/** parseArgs (strict) with `-h, --help` printing `usage` (exit 0); a mistake is a usageError. */
export function parseScriptArgs(script, usage, options) {
  let parsed;
  try {
    parsed = parseArgs({
      options: { help: { type: 'boolean', short: 'h', default: false }, ...options },
      strict: true,
    });
  } catch (error) {
    usageError(script, error.message);
  }
  if (parsed.values.help) {
    process.stdout.write(usage);
    process.exit(0);
  }
  return parsed.values;
}
