/**
 * A `--require` preload that records what a bench process did, for lining up a slow request with
 * what the server and the generator were doing at that moment (round 26, the open-loop tail).
 * Off unless BENCH_TRACE_DIR is set; writes BENCH_TRACE_DIR/<role>-<pid>.json at exit.
 *
 *   BENCH_TRACE_DIR="$PWD/bench-results/trace" BENCH_SERVER_NODE_FLAGS="--require $PWD/scripts/bench/trace-preload.cjs" \
 *   BENCH_GENERATOR_NODE_FLAGS="--require $PWD/scripts/bench/trace-preload.cjs" \
 *   npm run bench -- --only L80
 *   node scripts/bench/trace-analyze.mjs bench-results/trace
 *
 * Every time is process.hrtime (CLOCK_MONOTONIC, the same clock in every process of the machine)
 * in microseconds, so the server's and the generator's records line up.
 *
 * - every 100 ms: event-loop utilization, event-loop delay (monitorEventLoopDelay, resolution
 *   BENCH_TRACE_ELD_MS, default 10), CPU, involuntary context switches and the main thread's
 *   run-queue wait (/proc/self/schedstat: time runnable but not running);
 * - every GC pause (PerformanceObserver 'gc'): start, duration, kind;
 * - server: every HTTP request from `request` (headers parsed) to the response's `finish`, its
 *   connection's remote port, and which event-loop turn it started in (turns end at setImmediate);
 * - generator: every undici request's create, headers written, response head and body done, and,
 *   through `globalThis.__benchTrace`, loadgen's scheduled time and completion.
 */
'use strict';
const dir = process.env.BENCH_TRACE_DIR;
if (dir !== undefined && dir !== '') {
  const { performance, monitorEventLoopDelay, PerformanceObserver } = require('node:perf_hooks');
  const dc = require('node:diagnostics_channel');
  const fs = require('node:fs');
  const path = require('node:path');

  const hr = () => Number(process.hrtime.bigint() / 1000n);
  // performance.now() (ms since timeOrigin) to hr microseconds.
  const perfOffset = hr() - performance.now() * 1000;
  const epochOffset = hr() - (performance.timeOrigin + performance.now()) * 1000;
  const maxRecords = 400_000;

  const gc = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (gc.length < maxRecords) {
        gc.push([
          Math.round(entry.startTime * 1000 + perfOffset),
          Math.round(entry.duration * 1000),
          entry.detail?.kind ?? entry.kind,
        ]);
      }
    }
  }).observe({ entryTypes: ['gc'] });

  const resolution = Number(process.env.BENCH_TRACE_ELD_MS ?? 10);
  const eld = monitorEventLoopDelay({ resolution });
  eld.enable();
  const schedstat = () => {
    try {
      const [run, wait] = fs.readFileSync('/proc/self/schedstat', 'utf8').split(' ').map(Number);
      return { run: run / 1000, wait: wait / 1000 };
    } catch {
      return { run: 0, wait: 0 };
    }
  };
  // Every thread's run time (ns in /proc/self/task/*/schedstat): the main thread, V8's platform
  // workers (GC, compilation) and libuv's pool (the audit log's writes) share a pinned core.
  const threadRun = () => {
    const run = new Map();
    try {
      for (const tid of fs.readdirSync('/proc/self/task')) {
        run.set(
          tid,
          Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]),
        );
      }
    } catch {}
    return run;
  };
  let lastThreads = threadRun();
  const buckets = [];
  let lastElu = performance.eventLoopUtilization();
  let lastCpu = process.cpuUsage();
  let lastRu = process.resourceUsage();
  let lastSched = schedstat();
  const bucketTimer = setInterval(() => {
    const elu = performance.eventLoopUtilization(lastElu);
    lastElu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage(lastCpu);
    lastCpu = process.cpuUsage();
    const ru = process.resourceUsage();
    const sched = schedstat();
    if (buckets.length < maxRecords) {
      buckets.push({
        t: hr(),
        elu: Math.round(elu.utilization * 1000) / 1000,
        eldMaxUs: Math.round(eld.max / 1000),
        eldP99Us: Math.round(eld.percentile(99) / 1000),
        cpuUs: cpu.user + cpu.system,
        invCs: ru.involuntaryContextSwitches - lastRu.involuntaryContextSwitches,
        volCs: ru.voluntaryContextSwitches - lastRu.voluntaryContextSwitches,
        runUs: Math.round(sched.run - lastSched.run),
        waitUs: Math.round(sched.wait - lastSched.wait),
      });
    }
    const threads = threadRun();
    const others = {};
    for (const [tid, ns] of threads) {
      const us = Math.round((ns - (lastThreads.get(tid) ?? ns)) / 1000);
      if (us > 0 && tid !== String(process.pid)) others[tid] = us;
    }
    if (buckets.length > 0) buckets[buckets.length - 1].threadsUs = others;
    lastThreads = threads;
    lastRu = ru;
    lastSched = sched;
    eld.reset();
  }, 100);
  bucketTimer.unref();

  // Event-loop turns: a request that starts while no turn marker is pending opens a new turn; the
  // marker (setImmediate) runs after the poll phase that delivered the request.
  let turn = 0;
  let turnOpen = false;
  const closeTurn = () => {
    turnOpen = false;
  };
  const currentTurn = () => {
    if (!turnOpen) {
      turnOpen = true;
      turn++;
      setImmediate(closeTurn);
    }
    return turn;
  };

  // Server side: node:http's own channels (Fastify answers through res.end).
  const requests = [];
  const open = new WeakMap();
  dc.subscribe('http.server.request.start', ({ request, socket }) => {
    const id = Number(request.headers['x-bench-trace'] ?? -1);
    const record = [hr(), 0, socket?.remotePort ?? 0, currentTurn(), id, 0];
    open.set(request, record);
  });
  // When the handler hands the response to the socket (res.end), before the write completes.
  const http = require('node:http');
  const end = http.ServerResponse.prototype.end;
  http.ServerResponse.prototype.end = function traceEnd(...args) {
    const record = open.get(this.req);
    if (record !== undefined && record[5] === 0) record[5] = hr();
    return end.apply(this, args);
  };
  dc.subscribe('http.server.response.finish', ({ request }) => {
    const record = open.get(request);
    if (record === undefined) return;
    record[1] = hr();
    if (requests.length < maxRecords) requests.push(record);
  });

  // Generator side: undici's channels, joined to loadgen's record by the x-bench-trace header
  // (a request queued in the Pool is created only when a connection takes it).
  const client = [];
  const live = new Map();
  const byRequest = new WeakMap();
  let nextId = 0;
  dc.subscribe('undici:request:create', ({ request }) => {
    const headers = request.headers;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'x-bench-trace') {
        const record = live.get(Number(headers[i + 1]));
        if (record !== undefined) {
          record.create = hr();
          byRequest.set(request, record);
        }
        return;
      }
    }
  });
  dc.subscribe('undici:client:sendHeaders', ({ request, socket }) => {
    const record = byRequest.get(request);
    if (record === undefined) return;
    record.sent = hr();
    record.port = socket?.localPort ?? 0;
    record.turn = currentTurn();
  });
  dc.subscribe('undici:request:headers', ({ request }) => {
    const record = byRequest.get(request);
    if (record !== undefined) {
      record.head = hr();
      record.headTurn = currentTurn();
    }
  });
  const ticks = [];
  globalThis.__benchTrace = {
    /** Called by loadgen just before pool.request; `scheduledEpochMs` is when it was due. */
    begin(scheduledEpochMs) {
      const record = {
        id: String(nextId++),
        scheduled: Math.round(scheduledEpochMs * 1000 + epochOffset),
        issued: hr(),
      };
      live.set(Number(record.id), record);
      return record;
    },
    end(record, status) {
      if (record === undefined) return;
      live.delete(Number(record.id));
      record.done = hr();
      record.status = status;
      if (client.length < maxRecords) client.push(record);
    },
    tick(dueCount) {
      if (ticks.length < maxRecords) ticks.push([hr(), dueCount]);
    },
  };

  const role = process.argv.some((a) => a.endsWith('loadgen.mjs'))
    ? 'generator'
    : path.basename(process.argv[1] ?? 'node', '.js') === 'main'
      ? 'tollgate'
      : path.basename(process.argv[1] ?? 'node').replace(/\.m?js$/, '');
  process.on('exit', () => {
    const file = path.join(dir, `${role}-${process.pid}.json`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      file,
      JSON.stringify({
        role,
        pid: process.pid,
        argv: process.argv.slice(1),
        resolutionMs: resolution,
        buckets,
        gc,
        requests,
        client: client.map((r) => [
          Number(r.id),
          r.scheduled,
          r.issued,
          r.create ?? 0,
          r.sent ?? 0,
          r.head ?? 0,
          r.done,
          r.port ?? 0,
          r.status,
          r.turn ?? 0,
          r.headTurn ?? 0,
        ]),
        ticks: ticks.slice(0, maxRecords),
      }),
    );
  });
}
