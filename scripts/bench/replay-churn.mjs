/**
 * CHURN (round 27): how long one claim of the memory replay store can take at production size.
 *
 * Fills a `MemoryReplayStore` (from a build's `replay/index.js`) to ENTRIES live claims, then
 * makes CHURN more claims while the oldest expire, one per simulated millisecond on the store's
 * own `clock` (every claim lives ENTRIES ms), so the live set stays at ENTRIES and expiry is
 * deterministic. The store has room for a quarter more (as production's defaults), so it is never
 * full. Every claim is timed on its own and put in one of three classes: it overlapped a GC pause
 * (perf_hooks 'gc' entries); or, slower than 0.5 ms, its thread spent over half of it waiting for
 * the core (Linux's run-queue wait, /proc/thread-self/schedstat: another process, or this
 * process's own GC and compiler threads, which share the pinned core); or neither: the store's
 * `own` time, where a stall of the store itself shows (a `Set` copying its table, an array
 * growing). Every 8192 claims the loop yields to the event loop, as a server would, outside the
 * timings.
 *
 * Without --in-process, runs one pinned child process (core 0, `taskset` when it works) per
 * build and round, builds alternating (A B A B ...), prints each child's JSON line on stdout and
 * a summary on stderr: a same-run comparison of two builds. With --in-process, measures in this
 * process and prints one JSON line (what `npm run bench`'s CHURN row runs, pinned by run.mjs).
 *
 * Bounded: ENTRIES + CHURN claims, and --max-seconds per measurement (the measurement stops
 * early and says `truncated`), and a kill timer on every child.
 */
import { openSync, readSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hasTaskset, parseScriptArgs, percentile, spawnPinned, usageError } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

const usage = `Usage: npm run replay-churn -- [options]     (node scripts/bench/replay-churn.mjs [options])

The memory replay store under churn: per-claim time at production size, GC pauses apart
(docs/benchmarks.md, round 27).

  --entries N        live claims held (default 800000; 1000..20000000)
  --churn M          claims made at that size while the oldest expire (default 800000;
                     1000..20000000)
  --dist DIR         the build to measure (default dist); give it twice or more to compare
                     builds in one run, alternating (keep copies inside the repo, e.g.
                     bench-results/base/dist, so node_modules resolves)
  --rounds R         measurements per build, alternating (default 1; 1..20)
  --max-seconds S    stop a measurement after S seconds, marked truncated (default 120)
  --in-process       measure in this process, one build, one JSON line (no child, no pinning)
  -h, --help         this help
`;

const args = parseScriptArgs('replay-churn', usage, {
  entries: { type: 'string', default: '800000' },
  churn: { type: 'string', default: '800000' },
  dist: { type: 'string', multiple: true },
  rounds: { type: 'string', default: '1' },
  'max-seconds': { type: 'string', default: '120' },
  'in-process': { type: 'boolean', default: false },
});
const entries = Number(args.entries);
const churn = Number(args.churn);
const rounds = Number(args.rounds);
const maxSeconds = Number(args['max-seconds']);
const dists = args.dist ?? ['dist'];
const inRange = (value, low, high) => Number.isSafeInteger(value) && value >= low && value <= high;
if (!inRange(entries, 1_000, 20_000_000))
  usageError('replay-churn', '--entries must be 1000..20000000');
if (!inRange(churn, 1_000, 20_000_000))
  usageError('replay-churn', '--churn must be 1000..20000000');
if (!inRange(rounds, 1, 20)) usageError('replay-churn', '--rounds must be 1..20');
if (!(maxSeconds > 0 && maxSeconds <= 3_600)) {
  usageError('replay-churn', '--max-seconds must be in (0, 3600]');
}
if (args['in-process'] && dists.length !== 1) {
  usageError('replay-churn', '--in-process measures one build: give --dist at most once');
}

let schedstat;
const schedstatBuffer = Buffer.alloc(128);

/** One measurement in this process: fill, then churn; per-claim times and GC pauses. */
async function measure(dist) {
  const { MemoryReplayStore } = await import(pathToFileURL(join(dist, 'replay/index.js')).href);
  const loadAtStart = loadavg()[0];
  try {
    schedstat = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    schedstat = undefined;
  }
  const gcPauses = [];
  const observer = new PerformanceObserver((list) => collectGc(list.getEntries()));
  const collectGc = (list) => {
    for (const entry of list) {
      gcPauses.push({ start: entry.startTime, end: entry.startTime + entry.duration, entry });
    }
  };
  observer.observe({ entryTypes: ['gc'] });

  const base = Date.UTC(2030, 0, 1);
  let now = base;
  // Room for a quarter more than the live set, as the default maxEntries (1,000,000) has over
  // the 840,000 claims of 3,000 tokens/s with 280 s assertions: never full here.
  const store = new MemoryReplayStore({
    maxEntries: Math.ceil(entries * 1.25),
    clock: () => now,
    sweepIntervalMs: 3_600_000,
  });
  const total = entries + churn;
  const starts = new Float64Array(total);
  const durations = new Float64Array(total);
  const descheduled = new Uint8Array(total);
  const deadline = performance.now() + maxSeconds * 1000;
  let done = 0;
  let churnStartedAt = Number.NaN;
  for (let i = 0; i < total; i++) {
    if ((i & 8191) === 0) {
      await new Promise((resolvePromise) => setImmediate(resolvePromise));
      if (performance.now() > deadline) break;
    }
    if (i === entries) churnStartedAt = performance.now();
    // Claim i at ms i lives ENTRIES ms: from the fill's end on, each claim first frees one.
    now = base + i;
    const jti = `churn-${i}`;
    const wait0 = runQueueWaitNs();
    const t0 = performance.now();
    const fresh = await store.claim('bench-client', jti, now + entries);
    const t1 = performance.now();
    if (!fresh) throw new Error(`claim ${i} was refused as a replay`);
    starts[i] = t0;
    durations[i] = t1 - t0;
    // A slow claim whose thread spent over half of it waiting for the core (another process,
    // or this process's GC helper and compiler threads, which share the pinned core) is not
    // the store's time.
    if (t1 - t0 > 0.5 && (runQueueWaitNs() - wait0) / 1e6 > 0.5 * (t1 - t0)) descheduled[i] = 1;
    done = i + 1;
  }
  const churnSeconds = (performance.now() - churnStartedAt) / 1000;
  // Let the observer's last entries arrive.
  for (let i = 0; i < 3; i++) await new Promise((resolvePromise) => setImmediate(resolvePromise));
  collectGc(observer.takeRecords());
  observer.disconnect();
  const size = store.size;
  await store.close();
  gcPauses.sort((a, b) => a.start - b.start);

  const fillCount = Math.min(done, entries);
  const churnCount = Math.max(0, done - entries);
  return {
    dist,
    entries,
    churn,
    claimsMade: done,
    truncated: done < total,
    sizeAtEnd: size,
    fill: phase(starts, durations, descheduled, 0, fillCount, gcPauses),
    churnPhase: phase(starts, durations, descheduled, entries, entries + churnCount, gcPauses),
    churnClaimsPerSecond: churnCount > 0 ? churnCount / churnSeconds : Number.NaN,
    heapUsedAtEndBytes: process.memoryUsage().heapUsed,
    descheduledKnown: schedstat !== undefined,
    loadAverage1mStart: loadAtStart,
    loadAverage1mEnd: loadavg()[0],
    node: process.version,
  };
}

/**
 * This thread's time waiting on a run queue (ns): the second field of Linux's
 * /proc/thread-self/schedstat, read again from offset 0 on an open descriptor (about 3 us).
 * Always 0 where it cannot be read: then no claim counts as descheduled.
 */
function runQueueWaitNs() {
  if (schedstat === undefined) return 0;
  const n = readSync(schedstat, schedstatBuffer, 0, schedstatBuffer.length, 0);
  let i = 0;
  while (i < n && schedstatBuffer[i] !== 0x20) i++;
  let value = 0;
  for (i++; i < n && schedstatBuffer[i] >= 0x30 && schedstatBuffer[i] <= 0x39; i++) {
    value = value * 10 + (schedstatBuffer[i] - 0x30);
  }
  return value;
}

/**
 * Per-claim figures of claims [from, to): all, and split three ways: overlapping a GC pause,
 * descheduled (waited for the core, no GC), and the rest (`own`: the store's own time).
 */
function phase(starts, durations, descheduled, from, to, gcPauses) {
  const withGc = [];
  const waited = [];
  const own = [];
  let g = 0;
  const slowest = [];
  for (let i = from; i < to; i++) {
    const start = starts[i];
    const end = start + durations[i];
    // Claims are sequential in time: skip the pauses that ended before this claim began.
    while (g < gcPauses.length && gcPauses[g].end < start) g++;
    let overlapped = false;
    for (let k = g; k < gcPauses.length && gcPauses[k].start <= end; k++) {
      if (gcPauses[k].end >= start) {
        overlapped = true;
        break;
      }
    }
    const kind = overlapped ? 'gc' : descheduled[i] === 1 ? 'descheduled' : 'own';
    (kind === 'gc' ? withGc : kind === 'descheduled' ? waited : own).push(durations[i]);
    if (durations[i] >= 1) slowest.push({ claim: i - from, ms: round(durations[i]), kind });
  }
  slowest.sort((a, b) => b.ms - a.ms);
  const window = from < to ? [starts[from], starts[to - 1] + durations[to - 1]] : [0, 0];
  const pauses = gcPauses.filter((p) => p.end >= window[0] && p.start <= window[1]);
  return {
    claims: to - from,
    all: distribution([...withGc, ...waited, ...own]),
    own: distribution(own),
    overlappingGc: distribution(withGc),
    descheduled: distribution(waited),
    slowest: slowest.slice(0, 8),
    gc: gcSummary(pauses),
  };
}

function distribution(values) {
  const sorted = Float64Array.from(values).sort();
  let over1 = 0;
  let over5 = 0;
  for (const value of sorted) {
    if (value > 1) over1++;
    if (value > 5) over5++;
  }
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 50), 4),
    p99Ms: round(percentile(sorted, 99), 4),
    p999Ms: round(percentile(sorted, 99.9), 4),
    maxMs: round(sorted.length > 0 ? sorted[sorted.length - 1] : Number.NaN),
    over1Ms: over1,
    over5Ms: over5,
  };
}

const gcKinds = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function gcSummary(pauses) {
  const byKind = {};
  let totalMs = 0;
  let maxMs = 0;
  for (const { entry } of pauses) {
    const kind = gcKinds[entry.detail?.kind] ?? String(entry.detail?.kind);
    byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 };
    const row = byKind[kind];
    row.count++;
    row.totalMs += entry.duration;
    row.maxMs = Math.max(row.maxMs, entry.duration);
    totalMs += entry.duration;
    maxMs = Math.max(maxMs, entry.duration);
  }
  for (const row of Object.values(byKind)) {
    row.totalMs = round(row.totalMs);
    row.maxMs = round(row.maxMs);
  }
  return { count: pauses.length, totalMs: round(totalMs), maxMs: round(maxMs), byKind };
}

function round(value, digits = 2) {
  return Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
}

/** Alternates builds over rounds, one pinned child each; JSON lines out, a summary on stderr. */
async function compare() {
  const results = [];
  const log = (line) => process.stderr.write(`${line}\n`);
  log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  for (let round = 0; round < rounds; round++) {
    for (const dist of dists) {
      const result = await child(dist);
      results.push(result);
      process.stdout.write(`${JSON.stringify(result)}\n`);
      const c = result.churnPhase;
      log(
        `round ${round + 1} ${dist}: churn max ${c.all.maxMs} ms; the store's own: max ` +
          `${c.own.maxMs} ms, p99.9 ${c.own.p999Ms} ms, ${c.own.over1Ms} over 1 ms, ` +
          `${c.own.over5Ms} over 5 ms; overlapping GC max ${c.overlappingGc.maxMs} ms ` +
          `(${c.overlappingGc.count}); descheduled ${c.descheduled.count}; ` +
          `fill own max ${result.fill.own.maxMs} ms; ` +
          `${result.churnClaimsPerSecond.toFixed(0)} claims/s`,
      );
    }
  }
  log(
    `load average at end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

function child(dist) {
  const childArgs = [
    fileURLToPath(import.meta.url),
    '--in-process',
    '--dist',
    resolve(root, dist),
    '--entries',
    String(entries),
    '--churn',
    String(churn),
    '--max-seconds',
    String(maxSeconds),
  ];
  const process_ = spawnPinned(hasTaskset() ? 0 : null, process.execPath, childArgs, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  process_.stdout.on('data', (chunk) => (stdout += chunk));
  const timer = setTimeout(() => process_.kill('SIGKILL'), maxSeconds * 1000 + 60_000);
  return new Promise((resolvePromise, reject) => {
    process_.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`the measurement of ${dist} failed (${code})`));
      else resolvePromise(JSON.parse(stdout));
    });
  });
}

// Last: the functions above use module constants (gcKinds) that must be initialized first.
if (args['in-process']) {
  process.stdout.write(`${JSON.stringify(await measure(resolve(root, dists[0])))}\n`);
} else {
  await compare();
}
