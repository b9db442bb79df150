/**
 * The load generator: a separate process (pinned to its own core by run.mjs) that drives one
 * listener and prints one JSON result line.
 *
 * - `keepalive`: an undici Pool of N keep-alive connections; closed loop (N requests in flight),
 *   or open loop at a fixed `rate` (latency measured from each request's scheduled send time,
 *   so queueing is not hidden: no coordinated omission).
 * - `newconn`: N loops, each opening a fresh TLS connection per request (`Connection: close`),
 *   optionally resuming the previous connection's TLS session (`resume`).
 *
 * Bounded in time (warm-up plus the timed window) and in count (the pre-signed pool, and
 * `maxRequests`). Every response is checked: status 200 and a parseable token response; a
 * sample of tokens is verified against the server's JWKS afterwards (signature, client, expiry,
 * `cnf.x5t#S256` when bound). Server CPU comes from /proc/<serverPid>/stat around the window.
 *
 * Usage: node loadgen.mjs SPEC.json   (see run.mjs for the spec)
 */
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { connect } from 'node:tls';
import { Pool } from 'undici';
import {
  clockTicks,
  niceHelperThreads,
  percentile,
  procCpuTimes,
  procIoCounts,
  procOtherThreadsMs,
  procTreeCpuTimes,
} from './lib.mjs';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const pem = (file) => (file === undefined ? undefined : readFileSync(file));
const tlsFiles = {
  ca: pem(spec.tls.caFile),
  cert: pem(spec.tls.certFile),
  key: pem(spec.tls.keyFile),
};
const bodies =
  spec.bodiesFile === undefined
    ? undefined
    : readFileSync(spec.bodiesFile, 'utf8').split('\n').filter(Boolean);
// `cycleBodies`: the pool is reused round-robin (workload tokens, which a client sends until they
// rotate); otherwise each pre-signed body is sent once and the pool bounds the count.
const maxRequests = Math.min(
  spec.maxRequests ?? 2_000_000,
  spec.cycleBodies === true ? Infinity : (bodies?.length ?? Infinity),
);
const sampleEvery = spec.check?.sampleEvery ?? 50;

let next = 0;
/** The next request body, or undefined when the count bound is reached. */
function takeBody() {
  if (next >= maxRequests) return undefined;
  const body = bodies === undefined ? spec.body : bodies[next % bodies.length];
  next++;
  return body;
}

// Results of the timed window only.
const latencies = new Float64Array(Math.min(maxRequests, 4_000_000));
// Open loop: how late each request of the window left the generator after it was due (ms).
const sendLateness = new Float64Array(spec.rate === undefined ? 0 : latencies.length);
let lateCount = 0;
let measured = 0;
let inWindowErrors = 0;
let failures = 0;
const failureKinds = new Map();
const samples = [];
let resumed = 0;
let handshakes = 0;
let phase = 'warmup';
let windowStart = 0;
let windowEnd = 0;
// The generator's own GC pauses in the window (open loop: a pause delays sends and holds
// responses, and both count in the latency): how many, their total and the longest, in ms.
const generatorGc = { count: 0, totalMs: 0, maxMs: 0 };
if (spec.rate !== undefined) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const started = performance.timeOrigin + entry.startTime;
      if (windowStart === 0 || started < windowStart || started >= windowEnd) continue;
      generatorGc.count++;
      generatorGc.totalMs += entry.duration;
      generatorGc.maxMs = Math.max(generatorGc.maxMs, entry.duration);
    }
  }).observe({ entryTypes: ['gc'] });
}

function fail(kind) {
  failures++;
  failureKinds.set(kind, (failureKinds.get(kind) ?? 0) + 1);
  if (phase === 'measure') inWindowErrors++;
}

/** Checks one response; records latency (ms) when it completed inside the timed window. */
function record(status, text, startedMs, doneMs) {
  if (status !== 200) {
    fail(`status ${status}: ${String(text).slice(0, 160)}`);
    return;
  }
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    fail('unparseable body');
    return;
  }
  if (spec.check.kind === 'token') {
    if (typeof json.access_token !== 'string' || json.access_token.split('.').length !== 3) {
      fail('no JWT access_token');
      return;
    }
    // RFC 9449 §5: a DPoP-bound token is token_type DPoP; every other scenario expects Bearer.
    const tokenType = spec.check.dpop === true ? 'dpop' : 'bearer';
    if (
      String(json.token_type).toLowerCase() !== tokenType ||
      typeof json.expires_in !== 'number'
    ) {
      fail('bad token_type/expires_in');
      return;
    }
  } else if (typeof json !== 'object' || json === null) {
    fail('not a JSON object');
    return;
  }
  if (phase !== 'measure' || doneMs < windowStart || doneMs > windowEnd) return;
  if (measured < latencies.length) latencies[measured] = doneMs - startedMs;
  measured++;
  if (spec.check.kind === 'token' && (measured - 1) % sampleEvery === 0 && samples.length < 2000) {
    samples.push(json.access_token);
  }
}

const now = () => performance.timeOrigin + performance.now();

// ---- keep-alive (undici) ----
function makePool() {
  return new Pool(`https://127.0.0.1:${spec.port}`, {
    connections: spec.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    connect: {
      servername: spec.servername,
      ...(tlsFiles.ca === undefined ? { rejectUnauthorized: false } : { ca: tlsFiles.ca }),
      ...(tlsFiles.cert === undefined ? {} : { cert: tlsFiles.cert, key: tlsFiles.key }),
    },
  });
}

const headers = { 'content-type': 'application/x-www-form-urlencoded' };

async function keepAliveRequest(pool, line, startedMs) {
  // A pre-signed DPoP scenario line is `<proof>\t<body>` (see presign.mjs).
  const tab = line.indexOf('\t');
  const body = tab === -1 ? line : line.slice(tab + 1);
  let requestHeaders = tab === -1 ? headers : { ...headers, dpop: line.slice(0, tab) };
  // BENCH_TRACE_DIR (scripts/bench/trace-preload.cjs): per-request timings, off otherwise; a
  // traced request carries its id in a header so that the server's record joins the client's.
  const trace = globalThis.__benchTrace;
  const traced = trace?.begin(startedMs);
  if (traced !== undefined) requestHeaders = { ...requestHeaders, 'x-bench-trace': traced.id };
  try {
    const response = await pool.request({
      method: 'POST',
      path: spec.path,
      headers: requestHeaders,
      body,
    });
    const text = await response.body.text();
    record(response.statusCode, text, startedMs, now());
    trace?.end(traced, response.statusCode);
  } catch (error) {
    fail(`request error: ${error.code ?? error.message}`);
  }
}

async function closedLoop(requestOnce, endMs) {
  const loops = Array.from({ length: spec.connections }, async () => {
    while (now() < endMs) {
      const body = takeBody();
      if (body === undefined) return;
      await requestOnce(body, now());
    }
  });
  await Promise.all(loops);
}

/**
 * Issues requests until `endMs`; resolves then with a promise of the requests still in flight,
 * so that the caller reads the server's CPU at the window's end and not after the drain (a
 * server that fell behind keeps working after the window: counting that work over the window's
 * length read as 111% of one pinned core in round 24).
 */
async function openLoop(pool, endMs) {
  // Requests are due at start + i/rate; each latency counts from when it was due.
  const start = now();
  let issued = 0;
  let inflight = 0;
  const maxInflight = spec.maxInflight ?? 4096;
  const pending = new Set();
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const t = now();
      if (t >= endMs) {
        clearInterval(timer);
        resolve();
        return;
      }
      // Request i is due at start + i/rate, so by t every i <= (t - start) * rate is due: one
      // more than the floor (round 26: counting the floor sent each request one interval late,
      // 0.3 ms at 3,000/s, and counted that in its latency).
      const due = Math.floor(((t - start) / 1000) * openRate) + 1;
      globalThis.__benchTrace?.tick(due - issued);
      while (issued < due) {
        const scheduled = start + (issued / openRate) * 1000;
        issued++;
        // How late the generator itself sent it (its 1 ms timer, its own event loop): part of
        // the latency measured from `scheduled`, reported apart so that it can be told from the
        // server's share.
        if (phase === 'measure' && lateCount < sendLateness.length) {
          sendLateness[lateCount++] = t - scheduled;
        }
        if (inflight >= maxInflight) {
          fail('open loop: too many in flight (server cannot keep up)');
          continue;
        }
        const body = takeBody();
        if (body === undefined) {
          clearInterval(timer);
          resolve();
          return;
        }
        inflight++;
        const promise = keepAliveRequest(pool, body, scheduled).finally(() => {
          inflight--;
          pending.delete(promise);
        });
        pending.add(promise);
      }
    }, 1);
  });
  return Promise.all(pending);
}

// ---- one TLS connection per request ----
const requestHead = (body) =>
  `POST ${spec.path} HTTP/1.1\r\nHost: ${spec.servername}:${spec.port}\r\n` +
  `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
  'Connection: close\r\n\r\n';

let lastSession;

function newConnectionRequest(body, startedMs) {
  return new Promise((resolve) => {
    const chunks = [];
    let settled = false;
    const finish = (status, text) => {
      if (settled) return;
      settled = true;
      if (status === 0) fail(text);
      else record(status, text, startedMs, now());
      socket.destroy();
      resolve();
    };
    const socket = connect({
      host: '127.0.0.1',
      port: spec.port,
      servername: spec.servername,
      // The client's own verification of the server chain is not what is measured; the handshake
      // still carries and checks the server's CertificateVerify signature.
      rejectUnauthorized: false,
      ...(tlsFiles.cert === undefined ? {} : { cert: tlsFiles.cert, key: tlsFiles.key }),
      ...(spec.resume && lastSession !== undefined ? { session: lastSession } : {}),
    });
    if (spec.resume) socket.on('session', (session) => (lastSession = session));
    socket.setTimeout(10_000, () => finish(0, 'timeout'));
    socket.once('secureConnect', () => {
      handshakes++;
      if (socket.isSessionReused()) resumed++;
      socket.write(requestHead(body) + body);
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      const data = Buffer.concat(chunks);
      const split = data.indexOf('\r\n\r\n');
      if (split < 0) return;
      const head = data.subarray(0, split).toString('latin1');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length === null) return; // chunked or close-delimited: wait for the end
      const end = split + 4 + Number(length[1]);
      if (data.length < end) return;
      finish(Number(head.slice(9, 12)), data.subarray(split + 4, end).toString('utf8'));
    });
    socket.once('end', () => {
      const data = Buffer.concat(chunks);
      const split = data.indexOf('\r\n\r\n');
      if (split < 0) return finish(0, 'connection closed before a response');
      const head = data.subarray(0, split).toString('latin1');
      let body = data.subarray(split + 4);
      if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) body = dechunk(body);
      finish(Number(head.slice(9, 12)), body.toString('utf8'));
    });
    socket.once('error', (error) => finish(0, `socket error: ${error.code ?? error.message}`));
  });
}

function dechunk(buffer) {
  const parts = [];
  let offset = 0;
  while (offset < buffer.length) {
    const lineEnd = buffer.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = Number.parseInt(buffer.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

// ---- token verification (after the window, so it never slows the run) ----
function verifySamples() {
  const keys = new Map();
  for (const jwk of spec.check.jwks?.keys ?? []) {
    keys.set(jwk.kid, { jwk, key: createPublicKey({ key: jwk, format: 'jwk' }) });
  }
  let verified = 0;
  const problems = [];
  const nowSeconds = Math.floor(Date.now() / 1000);
  for (const token of samples) {
    const [h, p, s] = token.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const entry = keys.get(header.kid);
    if (entry === undefined) {
      problems.push(`unknown kid ${header.kid}`);
      continue;
    }
    const ec = header.alg.startsWith('ES');
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${p}`),
      ec ? { key: entry.key, dsaEncoding: 'ieee-p1363' } : entry.key,
      Buffer.from(s, 'base64url'),
    );
    if (!ok) problems.push('bad signature');
    else if (payload.client_id !== spec.check.clientId)
      problems.push(`client_id ${payload.client_id}`);
    else if (!(payload.exp > nowSeconds)) problems.push('expired');
    else if (spec.check.x5tS256 !== undefined && payload.cnf?.['x5t#S256'] !== spec.check.x5tS256)
      problems.push('cnf.x5t#S256 missing or wrong');
    else if (spec.check.dpop === true && typeof payload.cnf?.jkt !== 'string')
      problems.push('cnf.jkt missing');
    else verified++;
  }
  return { verified, problems: problems.slice(0, 5), problemCount: problems.length };
}

// ---- what else ran on the pinned cores during the window ----
/** Per-core busy and steal seconds from /proc/stat (cpuN lines), or undefined off Linux. */
function coreTimes() {
  try {
    const cores = new Map();
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const match = /^cpu(\d+) (.*)$/.exec(line);
      if (match === null) continue;
      // user nice system idle iowait irq softirq steal (guest time is inside user already)
      const [user, nice, system, , , irq, softirq, steal] = match[2].split(' ').map(Number);
      cores.set(Number(match[1]), {
        busy: (user + nice + system + irq + softirq) / clockTicks,
        steal: (steal ?? 0) / clockTicks,
      });
    }
    return cores;
  } catch {
    return undefined;
  }
}

/**
 * How much of the window the pinned cores spent on anything but the measured processes. Only
 * meaningful when the server (`spec.serverCore`) and this generator (`spec.generatorCore`) are
 * pinned, each alone on its core; undefined otherwise.
 */
function coreUse(start, end, seconds, serverCpuSeconds, generatorCpu) {
  const other = (core, ownSeconds) => {
    if (core === undefined || core === null || start === undefined || end === undefined) return;
    const a = start.get(core);
    const b = end.get(core);
    if (a === undefined || b === undefined || !(seconds > 0)) return;
    return Math.max(0, (b.busy - a.busy - ownSeconds) / seconds);
  };
  const steal = (core) => {
    const a = start?.get(core);
    const b = end?.get(core);
    return a === undefined || b === undefined || !(seconds > 0)
      ? undefined
      : (b.steal - a.steal) / seconds;
  };
  return {
    serverCoreOther: other(spec.serverCore, serverCpuSeconds),
    generatorCoreOther: other(spec.generatorCore, (generatorCpu.user + generatorCpu.system) / 1e6),
    serverCoreSteal: spec.serverCore === undefined ? undefined : steal(spec.serverCore),
  };
}

// ---- run ----
/**
 * The generator's own threads besides its main one (V8's GC and compiler helpers, libuv's pool)
 * get the lowest priority (nice 19, per thread on Linux). They share the generator's pinned core
 * with the main thread, which sends on schedule: round 27 found the generator's concurrent
 * marking (a major GC of its heap of pre-signed bodies, every ~8 s) taking 35-60 ms of a 100 ms
 * span from the main thread, sending a burst of requests 20-40 ms late, and that lateness is
 * counted in the latency (from the due time, as it must be). Best effort: not on other systems.
 */
niceHelperThreads();

let pool = spec.mode === 'keepalive' ? makePool() : undefined;
const requestOnce =
  spec.mode === 'keepalive'
    ? (body, started) => keepAliveRequest(pool, body, started)
    : newConnectionRequest;

/** Runs until `endMs`; resolves with the in-flight drain (open loop) or nothing (closed loop). */
async function runPhase(endMs) {
  if (spec.rate === undefined) {
    await closedLoop(requestOnce, endMs);
    return { drained: Promise.resolve() };
  }
  return { drained: await openLoop(pool, endMs) };
}

// Open loop: the server is first warmed in a closed loop (`closedWarmupMs`, the same pool and
// connections) and only then driven at the fixed rate. Started cold at the rate, a fresh server
// (code not yet optimized, V8 compiling on its pinned core) fell ~1 s behind in the first second,
// and at 0.8 of its peak such a backlog drains at a fifth of real time, into the window: the
// window measured what was left of a start-up (round 26). Steady state is what the open loop's
// p99 is about; `--cold-open-loop` keeps the start-up measurement.
//
// How long: V8 keeps compiling (and after a deoptimization, recompiling) the token path for many
// thousands of requests, on threads pinned to the server's own core, so every compilation takes
// the core from the main thread and shows in the open loop's tail. A fixed 2 s was too short on a
// slow host (round 27: the server's other threads ran 180-335 ms a second for the first seconds
// of the open loop, and the window's p99 was 20-26 ms where its quiet last 4 s gave 5.3 ms). So
// with `quiet` the closed loop runs at least `closedWarmupMs` and then until the server's
// threads other than its main one ran at most `quiet.fraction` of its CPU in two seconds in a
// row, or `quiet.maxMs` passed, or the pool has no more to spare than the open loop needs.
//
// At what rate: `spec.rate` is planned from S1's peak, measured minutes earlier in another
// process. This host's speed moved by a third between minutes (round 27: S1 1,341-2,042 tokens/s
// in runs five minutes apart), so "0.8x" of it put L80's server at 72-95% of its core. With
// `peakFraction` the rate is that fraction of the peak the warm-up's own closed loop (S1's load,
// the same server, warm) reached in its last two seconds, at most 1.25x the planned rate (the
// pool's bound).
let closedWarmup;
let openRate = spec.rate;
if (spec.rate !== undefined && (spec.closedWarmupMs ?? 0) > 0) {
  closedWarmup = spec.quiet === undefined ? await fixedWarmup() : await quietWarmup(spec.quiet);
  if (spec.peakFraction !== undefined && closedWarmup.peakRate > 0) {
    openRate = Math.min(spec.peakFraction * closedWarmup.peakRate, 1.25 * spec.rate);
  }
  // The warm-up's connections are closed and the open loop starts a new pool: a server sees
  // connections end all the time, and the first ends of its life (end of stream, destroy,
  // close on a TLS socket) deoptimized Node's stream code and recompiled it for a second, in
  // the window (round 27, `--trace-deopt`: "wrong map" in Readable.push, onEofChunk, destroy,
  // emitCloseNT when the pool's idle connections timed out). Now that happens in the warm-up.
  if (spec.recyclePool === true && pool !== undefined) {
    await pool.close();
    pool = makePool();
  }
}

async function fixedWarmup() {
  const started = now();
  await closedLoop(requestOnce, started + spec.closedWarmupMs);
  return { ms: now() - started };
}

/**
 * Whether the server's threads other than its main one (V8's compiler and GC helpers) are quiet:
 * each call reads how much of the server's CPU they took since the previous call, and counts the
 * calls in a row where that was at most `fraction`. Clock ticks (10 ms) against schedstat's
 * nanoseconds: over a second, close enough.
 */
function quietMeter(fraction) {
  let others = procOtherThreadsMs(spec.serverPid);
  let cpu = procCpuTimes(spec.serverPid);
  let last = now();
  let inARow = 0;
  return () => {
    const othersNow = procOtherThreadsMs(spec.serverPid);
    const cpuNow = procCpuTimes(spec.serverPid);
    const othersMs = Math.max(0, othersNow - others);
    const cpuMs = (cpuNow.user + cpuNow.system - cpu.user - cpu.system) * 1000;
    const spanMs = now() - last;
    others = othersNow;
    cpu = cpuNow;
    last = now();
    inARow = cpuMs > 0 && othersMs <= fraction * cpuMs ? inARow + 1 : 0;
    return {
      inARow,
      othersPerSecond: Math.round((othersMs * 1000) / spanMs),
      unreadable: Number.isNaN(othersNow),
    };
  };
}

async function quietWarmup(quiet) {
  const started = now();
  // What the open loop takes after the warm-up (its own warm-up and the window), with a margin.
  const openWarmupMs = Math.max(spec.warmupMs, spec.quiet?.openMaxMs ?? 0);
  const reserve = Math.ceil((1.25 * spec.rate * (openWarmupMs + spec.durationMs) * 1.05) / 1000);
  const othersPerSecond = [];
  const ratePerSecond = [];
  const meter = quietMeter(quiet.fraction);
  for (;;) {
    const stepStart = now();
    const takenBefore = next;
    await closedLoop(requestOnce, stepStart + 1000);
    ratePerSecond.push(((next - takenBefore) * 1000) / (now() - stepStart));
    const reading = meter();
    othersPerSecond.push(reading.othersPerSecond);
    const elapsed = now() - started;
    const spare = maxRequests - next - reserve;
    // The closed loop's rate over the last two seconds: the server's peak, now.
    const peakRate =
      ratePerSecond.slice(-2).reduce((a, b) => a + b, 0) / Math.min(2, ratePerSecond.length);
    if (elapsed >= spec.closedWarmupMs && reading.inARow >= 2) {
      return { ms: elapsed, quiet: true, othersPerSecond, peakRate };
    }
    if (elapsed >= quiet.maxMs || spare < spec.connections + spec.rate || reading.unreadable) {
      return { ms: elapsed, quiet: false, othersPerSecond, peakRate };
    }
  }
}

/**
 * The open loop's own warm-up before the window: `warmupMs`, and with `quiet` on, in one-second
 * steps at the same rate, until the server's other threads are quiet two seconds in a row (at
 * most `quiet.openMaxMs`). The switch from the closed loop's batches to one request at a time on a
 * new pool sets V8 compiling again: round 28 (perf record -C 0) saw TurboFan threads take 22-53
 * ms of every 500 ms on the server's core for the first 1.5-2 s of the open loop, after a
 * closed-loop warm-up that had ended quiet. Every step's backlog is drained before the window.
 */
async function openWarmup(quiet) {
  const started = now();
  if (quiet === undefined || spec.rate === undefined) {
    await (await runPhase(started + spec.warmupMs)).drained;
    return undefined;
  }
  const reserve = Math.ceil((openRate * spec.durationMs * 1.05) / 1000);
  const othersPerSecond = [];
  const drains = [];
  const meter = quietMeter(quiet.fraction);
  let result;
  while (result === undefined) {
    drains.push((await runPhase(now() + 1000)).drained);
    const reading = meter();
    othersPerSecond.push(reading.othersPerSecond);
    const elapsed = now() - started;
    if (elapsed >= spec.warmupMs && reading.inARow >= 2) {
      result = { ms: elapsed, quiet: true, othersPerSecond };
    } else if (
      elapsed >= (quiet.openMaxMs ?? quiet.maxMs) ||
      maxRequests - next - reserve < spec.connections + openRate ||
      reading.unreadable
    ) {
      result = { ms: elapsed, quiet: false, othersPerSecond };
    }
  }
  await Promise.all(drains);
  return result;
}
const openWarmupResult = await openWarmup(spec.quiet);
const warmupFailures = failures;
// Threads started since (libuv's pool starts lazily) get the same treatment.
niceHelperThreads();
phase = 'measure';
handshakes = 0;
resumed = 0;
// `serverTree`: the server is a process tree (serve --workers N); count every process in it.
const serverCpu = () =>
  spec.serverTree ? procTreeCpuTimes(spec.serverPid) : procCpuTimes(spec.serverPid);
const cpuStart = serverCpu();
const ioStart = procIoCounts(spec.serverPid);
const coresStart = coreTimes();
const genCpuStart = process.cpuUsage();
windowStart = now();
windowEnd = windowStart + spec.durationMs;
const { drained } = await runPhase(windowEnd);
// CPU is read when the window ends (the closed loop's last requests complete within a few ms of
// it; the open loop's backlog, if any, is drained after this read), over the time measured here.
const cpuReadMs = now();
const cpuEnd = serverCpu();
const ioEnd = procIoCounts(spec.serverPid);
const coresEnd = coreTimes();
const genCpu = process.cpuUsage(genCpuStart);
const elapsedMs = Math.min(cpuReadMs, windowEnd) - windowStart;
const cpuSpanMs = cpuReadMs - windowStart;
await drained;
const drainMs = now() - cpuReadMs;
const exhausted = next >= maxRequests;
phase = 'done';
await pool?.close();

const sorted = latencies.slice(0, Math.min(measured, latencies.length)).sort();
const lateSorted = sendLateness.slice(0, lateCount).sort();
const serverUserSeconds = cpuEnd.user - cpuStart.user;
const serverSystemSeconds = cpuEnd.system - cpuStart.system;
const serverCpuSeconds = serverUserSeconds + serverSystemSeconds;
const cores = coreUse(coresStart, coresEnd, cpuSpanMs / 1000, serverCpuSeconds, genCpu);
const check = spec.check.kind === 'token' ? verifySamples() : { verified: 0, problemCount: 0 };
const result = {
  requests: measured,
  seconds: elapsedMs / 1000,
  rate: measured / (elapsedMs / 1000),
  p50Ms: percentile(sorted, 50),
  p99Ms: percentile(sorted, 99),
  p999Ms: percentile(sorted, 99.9),
  maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : Number.NaN,
  // Open loop: the generator's own share of the latency above (due -> sent), never subtracted.
  sendLateP50Ms: lateCount > 0 ? percentile(lateSorted, 50) : undefined,
  sendLateP99Ms: lateCount > 0 ? percentile(lateSorted, 99) : undefined,
  generatorGcPauses: spec.rate === undefined ? undefined : generatorGc.count,
  generatorGcMs: spec.rate === undefined ? undefined : generatorGc.totalMs,
  generatorGcMaxMs: spec.rate === undefined ? undefined : generatorGc.maxMs,
  serverCpuSeconds,
  serverSystemFraction: serverCpuSeconds > 0 ? serverSystemSeconds / serverCpuSeconds : undefined,
  serverCpuUtilization: serverCpuSeconds / (cpuSpanMs / 1000),
  // Busy time of the pinned cores not spent by the server (server core) or this generator
  // (generator core), as a fraction of the window: other processes, interrupts, the VM's steal.
  serverCoreOtherUse: cores.serverCoreOther,
  generatorCoreOtherUse: cores.generatorCoreOther,
  serverCoreSteal: cores.serverCoreSteal,
  drainMs,
  // read and write syscalls of the server (its main process) per token in the window.
  serverReadCallsPerToken:
    ioStart === undefined || ioEnd === undefined || measured === 0
      ? undefined
      : (ioEnd.syscr - ioStart.syscr) / measured,
  serverWriteCallsPerToken:
    ioStart === undefined || ioEnd === undefined || measured === 0
      ? undefined
      : (ioEnd.syscw - ioStart.syscw) / measured,
  perCpuSecond: serverCpuSeconds > 0 ? measured / serverCpuSeconds : Number.NaN,
  generatorCpuUtilization: (genCpu.user + genCpu.system) / 1e6 / (elapsedMs / 1000),
  failures,
  warmupFailures,
  inWindowErrors,
  failureKinds: Object.fromEntries([...failureKinds].slice(0, 5)),
  poolExhausted: exhausted,
  handshakes,
  resumedFraction: handshakes > 0 ? resumed / handshakes : undefined,
  verifiedTokens: check.verified,
  verifyProblems: check.problemCount,
  verifyExamples: check.problems,
  targetRate: openRate === undefined ? undefined : Math.round(openRate),
  // Open loop: the rate planned from S1, and the peak the warm-up's closed loop reached.
  plannedRate: spec.rate,
  rateFromWarmupPeak: spec.peakFraction !== undefined && closedWarmup?.peakRate > 0,
  warmupPeakRate:
    closedWarmup?.peakRate === undefined ? undefined : Math.round(closedWarmup.peakRate),
  // Open loop: how long the closed-loop warm-up ran, whether it ended with the server's other
  // threads quiet, and their CPU ms per second of it.
  closedWarmupMs: closedWarmup?.ms,
  closedWarmupQuiet: closedWarmup?.quiet,
  closedWarmupOthersMsPerSecond: closedWarmup?.othersPerSecond,
  // The open loop's own warm-up (with `quiet`): how long, whether the compiler fell quiet in it.
  openWarmupMs: openWarmupResult?.ms,
  openWarmupQuiet: openWarmupResult?.quiet,
  openWarmupOthersMsPerSecond: openWarmupResult?.othersPerSecond,
  windowStartEpochMs: windowStart,
  windowEndEpochMs: Math.min(windowEnd, windowStart + elapsedMs),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
