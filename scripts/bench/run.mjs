/**
 * `npm run bench`: builds Tollgate, generates fixtures with the dev CA, and measures every
 * scenario, floor and peer of issue 7 in one run, so that every figure is also a ratio from the
 * same machine state. Prints a table; `--json FILE` writes every result.
 *
 * Processes: the server under test (Tollgate from dist/, a floor, or node-oidc-provider) is pinned
 * to core 0 and the load generator (loadgen.mjs, a separate process) to core 1 when `taskset`
 * works. Every server is started fresh per scenario on 127.0.0.1 and always killed afterwards.
 *
 * Options: `usage` below (`npm run bench -- --help`).
 * Environment: BENCH_SERVER_NODE_FLAGS / BENCH_GENERATOR_NODE_FLAGS add node flags to the Tollgate
 * server / the load generator (e.g. --trace-gc).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  descendants,
  freePort,
  hasTaskset,
  jwtBearer,
  niceHelperThreads,
  parseScriptArgs,
  pinProcessThreads,
  procCpuSeconds,
  sleep,
  spawnPinned,
  usageError,
  waitForTls,
} from './lib.mjs';
import { presignBodies } from './presign.mjs';
import { formatSummary, summarizeProfile } from './profile-summary.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

const allScenarios = [
  'S1',
  'S2',
  'S3',
  'S4',
  'S5',
  'S6',
  'W2',
  'S7',
  'S8',
  'L80',
  'F1',
  'LF1',
  'F2',
  'F3',
  'F4',
  'P1-S1',
  'P1-S3',
  'P1-S4',
  'MEM',
  'IPC',
  'CHURN',
];

/** `--help`: the options of this file's header comment, as the reader of README.md types them. */
const usage = `Usage: npm run bench -- [options]     (node scripts/bench/run.mjs [options])

Builds Tollgate, then measures every scenario against its floors and node-oidc-provider
(docs/benchmarks.md). A full run takes several minutes and wants a quiet machine.

  --duration SEC       timed window per scenario (default 10)
  --warmup SEC         warm-up before each window (default 2)
  --quick              smoke run: 2 s windows, 0.5 s warm-up, 100k replay entries (MEM, CHURN)
  --connections N      keep-alive connections / concurrent loops (default 16)
  --only LIST          comma-separated subset, e.g. S1,S3,F1 (S1 always runs when S2, S7, S8,
                       W2, L80 or LF1 do)
  --profile            run the Tollgate and floor servers with --cpu-prof; summaries printed,
                       profiles kept in bench-results/profiles (profiled throughput is lower)
  --memory-entries N   replay-store entries for the memory measurement (default 1,000,000)
  --churn-entries N    live replay claims for CHURN, which then churns as many more
                       (default 800,000)
  --f3-variant V       no-tickets | no-client-cert | with-ca (TLS experiments on the F3 floor)
  --json FILE          write all results as JSON
  --no-build           use the existing dist/ (default: npm run build first)
  --dist DIR           run the Tollgate server from another build (A/B runs of a patch; keep
                       the copy inside the repo, e.g. bench-results/patched/dist, so that
                       node_modules resolves); fixtures still come from dist/
  --keep               keep the temporary fixture folder and the servers' audit logs
  --ab DIR             run S1-S5, S7 and S8 against this build (A) and DIR's (B, as --dist)
                       side by side, at the same time, and print B / A per CPU-s: a same-run
                       comparison of a patch on a busy machine
  --open-loop-fraction F  L80's rate as a fraction of the same run's S1 rate (default 0.8, the
                       issue's target; other values explore latency against load)
  --cold-open-loop     L80 and LF1 drive a fresh server at their rate from its first request
                       (start-up latency; by default a closed-loop warm-up comes first)
  --quiet-warmup-max SEC  L80 and LF1: the closed-loop warm-up runs at least --warmup and then
                       until V8's compiler threads in the server fall quiet, at most SEC
                       (default 30, --quick 5; 0: exactly --warmup); the open loop's own
                       warm-up likewise, at most the smaller of SEC and 10
  --leaf-only          mTLS clients send only their leaf certificate, not leaf + intermediate
                       (Tollgate completes the chain from configured intermediates)
  --no-host-gauge      skip the host-speed gauge around each scenario (F2's loop, 0.4 s on the
                       server's core before and after) and the ratio column it gives
  -h, --help           this help

Environment: BENCH_SERVER_NODE_FLAGS / BENCH_GENERATOR_NODE_FLAGS add node flags to the
Tollgate server / the load generator (e.g. --trace-gc).

Scenarios: ${allScenarios.join(' ')}
`;

const args = parseScriptArgs('bench', usage, {
  duration: { type: 'string' },
  warmup: { type: 'string' },
  quick: { type: 'boolean', default: false },
  connections: { type: 'string', default: '16' },
  only: { type: 'string' },
  profile: { type: 'boolean', default: false },
  'memory-entries': { type: 'string' },
  'churn-entries': { type: 'string' },
  'f3-variant': { type: 'string' },
  json: { type: 'string' },
  'no-build': { type: 'boolean', default: false },
  dist: { type: 'string' },
  keep: { type: 'boolean', default: false },
  'leaf-only': { type: 'boolean', default: false },
  'open-loop-fraction': { type: 'string', default: '0.8' },
  'cold-open-loop': { type: 'boolean', default: false },
  'no-host-gauge': { type: 'boolean', default: false },
  'quiet-warmup-max': { type: 'string' },
  ab: { type: 'string' },
});
const durationMs = 1000 * Number(args.duration ?? (args.quick ? 2 : 10));
const warmupMs = 1000 * Number(args.warmup ?? (args.quick ? 0.5 : 2));
const connections = Number(args.connections);
const quietWarmupMaxMs = 1000 * Number(args['quiet-warmup-max'] ?? (args.quick ? 5 : 30));
const memoryEntries = Number(args['memory-entries'] ?? (args.quick ? 100_000 : 1_000_000));
const churnEntries = Number(args['churn-entries'] ?? (args.quick ? 100_000 : 800_000));
if (!(Number.isSafeInteger(churnEntries) && churnEntries >= 1_000 && churnEntries <= 20_000_000)) {
  usageError('bench', '--churn-entries must be 1000..20000000');
}
if (!(durationMs > 0 && durationMs <= 600_000) || !(warmupMs >= 0 && warmupMs <= 60_000)) {
  usageError('bench', '--duration must be in (0, 600] s and --warmup in [0, 60] s');
}
if (!(quietWarmupMaxMs >= 0 && quietWarmupMaxMs <= 120_000)) {
  usageError('bench', '--quiet-warmup-max must be in [0, 120] s');
}
if (!(connections >= 1 && connections <= 1024))
  usageError('bench', '--connections must be 1..1024');
const openLoopFraction = Number(args['open-loop-fraction']);
if (!(openLoopFraction > 0 && openLoopFraction <= 2))
  usageError('bench', '--open-loop-fraction must be in (0, 2]');
const selected = new Set(args.only === undefined ? allScenarios : args.only.split(','));
for (const name of selected) {
  if (!allScenarios.includes(name)) {
    usageError('bench', `unknown scenario ${name} (scenarios: ${allScenarios.join(', ')})`);
  }
}
if (['S2', 'S7', 'S8', 'L80', 'LF1', 'W2'].some((name) => selected.has(name))) selected.add('S1');
const serverCore = hasTaskset() ? 0 : null;
const generatorCore = hasTaskset() ? Math.min(1, availableParallelism() - 1) : null;
const windowSeconds = (warmupMs + durationMs) / 1000;

/**
 * While a load runs, this process (the orchestrator) keeps off the server's core: all its threads
 * move to the generator's core, its helper threads at nice 19. Unpinned, its V8 helper threads
 * ran on the server's core in the window: round 28 (perf record -C 0) caught its
 * concurrent marking (a major GC after pre-signing 84,000 bodies) taking 40 ms of a 500 ms span
 * there, and L80's window p99 from 14.0 ms to 26.3 ms. Between loads it gets every core back
 * (pre-signing uses them all). Counted, because --ab runs two loads at once.
 */
let offServerCore = 0;
let affinityBefore;
function keepOffServerCore() {
  if (generatorCore === null || generatorCore === serverCore) return () => {};
  if (offServerCore++ === 0) {
    affinityBefore = pinProcessThreads(process.pid, String(generatorCore));
    niceHelperThreads();
  }
  return () => {
    if (--offServerCore === 0 && affinityBefore !== undefined) {
      pinProcessThreads(process.pid, affinityBefore);
    }
  };
}

// ---- processes: every child is tracked and killed on the way out ----
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const child of children) child.kill('SIGKILL');
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

function log(line) {
  process.stderr.write(`${line}\n`);
}

/** Starts a server process pinned to the server core and waits until it answers TLS. */
async function startServer(name, nodeArgs, port, env = {}, core = serverCore) {
  const spawnedAtMs = Date.now();
  // The server's stdout (its audit log) goes to a file, as in production, not through a pipe
  // this process would have to drain.
  const logFile = join(
    tmpdir(),
    `tollgate-bench-${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}.log`,
  );
  const logFd = openSync(logFile, 'w');
  const child = track(
    spawnPinned(core, process.execPath, nodeArgs, {
      cwd: root,
      env: { ...cleanEnv(), NODE_ENV: 'production', ...env },
      stdio: ['ignore', logFd, 'pipe'],
    }),
  );
  closeSync(logFd);
  let output = '';
  const collect = (chunk) => {
    if (output.length < 20_000) output += chunk;
  };
  child.stderr.on('data', collect);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    await waitForTls(port, 30_000, () => !exited);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${name} did not start: ${error.message}\n${output}`);
  }
  // The audit log only stands in for production's log file; --keep keeps it to read.
  const dropLog = () => {
    if (!args.keep) rmSync(logFile, { force: true });
  };
  return {
    pid: child.pid,
    spawnedAtMs,
    output: () => output,
    stop: async () => {
      // `serve --workers N` is a process tree: the next scenario starts only when every process
      // of this one is gone, so none of them shares its cores (a worker killed with its primary,
      // or exiting late, would).
      const tree = exited ? [] : descendants(child.pid).map(processIdentity).filter(Boolean);
      await new Promise((resolvePromise) => {
        if (exited) return resolvePromise();
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolvePromise();
        });
        child.kill('SIGTERM');
      });
      await waitGone(tree, 15_000);
      dropLog();
    },
  };
}

/**
 * Waits until every process in `processes` (from {@link processIdentity}) has exited (bounded),
 * then SIGKILLs what is left: only a process with the same pid and start time, so a pid reused
 * by another program meanwhile is never touched.
 */
async function waitGone(processes, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let alive = processes;
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = alive.filter(isRunning);
  }
  for (const one of alive) {
    if (!isRunning(one)) continue;
    log(`  process ${one.pid} of the stopped server was still running: killed`);
    try {
      process.kill(one.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

/** A pid with its start time (field 22 of /proc/<pid>/stat), or undefined when gone. */
function processIdentity(pid) {
  const fields = procStatFields(pid);
  return fields === undefined ? undefined : { pid, started: fields[19] };
}

/** Whether that very process still runs (a zombie, exited but not reaped, counts as gone). */
function isRunning({ pid, started }) {
  const fields = procStatFields(pid);
  return fields !== undefined && fields[19] === started && fields[0] !== 'Z';
}

/** The fields of /proc/<pid>/stat after the command name (state first), or undefined. */
function procStatFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function cleanEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TOLLGATE_') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return env;
}

const generatorFlags = (process.env.BENCH_GENERATOR_NODE_FLAGS ?? '').split(' ').filter(Boolean);
let specCounter = 0;
/** Runs the load generator (pinned to its core) with `spec`; returns its result line. */
async function runLoad(spec) {
  // --ab: both generators start together, once both pools are signed.
  const gate = abGates.getStore();
  if (gate !== undefined) await gate.arrive();
  const file = join(work, `load-${specCounter++}.json`);
  // The cores the generator and (unless it is a process tree, W2) the server are pinned to, so
  // that the generator can say what else ran on them during the window.
  const cores =
    generatorCore === null || gate !== undefined
      ? {}
      : { generatorCore, ...(spec.serverTree === true ? {} : { serverCore }) };
  writeFileSync(file, JSON.stringify({ warmupMs, durationMs, connections, ...cores, ...spec }));
  const release = keepOffServerCore();
  try {
    return await generate(file, spec);
  } finally {
    release();
  }
}

/** Runs loadgen.mjs on `file`, pinned to the generator's core; returns its result line. */
async function generate(file, spec) {
  const child = track(
    spawnPinned(
      generatorCore,
      process.execPath,
      [...generatorFlags, join(here, 'loadgen.mjs'), file],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(
    () => child.kill('SIGKILL'),
    warmupMs + durationMs + (spec.quiet?.maxMs ?? 0) + (spec.quiet?.openMaxMs ?? 0) + 120_000,
  );
  const code = await new Promise((resolvePromise) => child.once('exit', resolvePromise));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`load generator failed (${code}): ${stderr.slice(0, 2000)}`);
  return JSON.parse(stdout.trim().split('\n').pop());
}

// ---- build and fixtures ----
if (!args['no-build']) {
  log('building (npm run build) ...');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
const dist = (path) => new URL(`../../dist/${path}`, import.meta.url).href;
const devCa = await import(dist('dev-ca/index.js'));
const tokens = await import(dist('tokens/index.js'));

const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
log(`fixtures in ${work}`);
const ca = await devCa.createDevCa();
const serverCert = await ca.issueServer();
const mtlsCert = await ca.issueClient({ clientId: 'bench-mtls' });
const esKey = await devCa.generateSigningJwk('ES256');
const rsKey = await devCa.generateSigningJwk('RS256', { modulusLength: 2048 });
const signingJwk = await tokens.generateSigningJwk('ES256');
const { d: _d, ...signingPublicJwk } = signingJwk;
const files = {
  root: join(work, 'root.pem'),
  intermediate: join(work, 'intermediate.pem'),
  crls: join(work, 'crls.pem'),
  cert: join(work, 'server.pem'),
  key: join(work, 'server-key.pem'),
  clientCert: join(work, 'client.pem'),
  clientKey: join(work, 'client-key.pem'),
  signingKeys: join(work, 'signing-keys.json'),
  registry: join(work, 'registry.json'),
};
writeFileSync(files.root, ca.root.certPem);
writeFileSync(files.intermediate, ca.intermediate.certPem);
writeFileSync(files.crls, (await ca.crls()).combinedPem);
writeFileSync(files.cert, serverCert.chainPem);
writeFileSync(files.key, serverCert.keyPem, { mode: 0o600 });
writeFileSync(files.clientCert, args['leaf-only'] ? mtlsCert.certPem : mtlsCert.chainPem);
writeFileSync(files.clientKey, mtlsCert.keyPem, { mode: 0o600 });
tokens.writeSigningKeyFile(files.signingKeys, { active_kid: signingJwk.kid, keys: [signingJwk] });
writeFileSync(
  files.registry,
  JSON.stringify({
    clients: [
      devCa.privateKeyJwtEntry('bench-es256', esKey.publicJwk),
      devCa.privateKeyJwtEntry('bench-rs256', rsKey.publicJwk),
      devCa.tlsClientAuthEntry('bench-mtls', mtlsCert, 'subject_dn'),
    ],
  }),
);
const serverJwks = { keys: [signingPublicJwk] };
const supportsRateLimits = readFileSync(fileURLToPath(dist('config/defaults.js')), 'utf8').includes(
  'rateLimits',
);
const supportsAdminListener = readFileSync(
  fileURLToPath(dist('config/defaults.js')),
  'utf8',
).includes('admin:');
const supportsRedis = readFileSync(fileURLToPath(dist('http/server.js')), 'utf8').includes(
  'RedisReplayStore',
);

/** A production config for Tollgate on 127.0.0.1:port. */
/** The replay store's per-client share for the one benchmark client (it is the whole fleet). */
const benchClientShare = 0.5;

function tollgateConfig(port, extra = {}) {
  return {
    issuer: `https://localhost:${port}`,
    tls: {
      host: '127.0.0.1',
      port,
      certFile: files.cert,
      keyFile: files.key,
      requestClientCert: true,
    },
    clientCertificates: {
      trustAnchorFiles: [files.root],
      intermediateFiles: [files.intermediate],
      crlFiles: [files.crls],
    },
    signingKeys: { file: files.signingKeys },
    registry: { file: files.registry },
    // Production logging: one info audit line per token request, written (asynchronously) to a
    // file, so its cost is part of every figure.
    log: { level: 'info' },
    // One benchmark client sends thousands of requests per second: a real deployment would size
    // per-client limits for its fleet. The limiter stays enabled, so its cost is measured.
    ...(supportsRateLimits
      ? { rateLimits: { enabled: true, perClient: 100_000_000, perAddress: 100_000_000 } }
      : {}),
    // The same for the per-client share of the replay store (default 5% of 1,000,000 live claims):
    // at 4,000 tokens/s one client holds 56,000 live 280-second assertions by the end of a window,
    // and would get 429s (S2 did, 259 of them, in a run of 2026-12-06).
    replay: { maxClientShare: benchClientShare },
    // The admin listener (/metrics) on a port the OS picks, so runs never collide on 9464.
    ...(supportsAdminListener ? { admin: { enabled: true, host: '127.0.0.1', port: 0 } } : {}),
    ...extra,
  };
}

/**
 * Starts Tollgate (built) with a fresh port; `--profile` adds --cpu-prof. `workers` > 1 runs
 * `serve --workers N` unpinned (its workers need more than the server core).
 */
async function startTollgate(name, extra = {}, workers = 1, dist = serverDist) {
  const port = await freePort();
  const configFile = join(work, `tollgate-${name}.json`);
  writeFileSync(configFile, JSON.stringify(tollgateConfig(port, extra)));
  const nodeArgs = serverNodeFlags();
  nodeArgs.push(...profileFlags(name));
  nodeArgs.push(join(dist, 'cli/main.js'), 'serve', '--config', configFile);
  if (workers > 1) nodeArgs.push('--workers', String(workers));
  const server = await startServer(
    `Tollgate ${name}`,
    nodeArgs,
    port,
    {},
    workers > 1 ? null : serverCore,
  );
  return { ...server, port, issuer: `https://localhost:${port}` };
}
/** BENCH_SERVER_NODE_FLAGS: node flags for every server the bench starts (Tollgate, floors). */
const serverNodeFlags = () =>
  (process.env.BENCH_SERVER_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const profileDir = join(root, 'bench-results', 'profiles');

/** `--profile`: node flags that write the server's CPU profile as `NAME.cpuprofile`. */
function profileFlags(name) {
  if (!args.profile) return [];
  mkdirSync(profileDir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

/** `--profile`: summarizes the server's profile over the timed window only into `result`. */
function summarizeIfProfiled(name, server, result) {
  if (!args.profile || result === undefined) return result;
  const file = join(profileDir, `${name}.cpuprofile`);
  if (!existsSync(file)) return result;
  // The profile starts with the process; keep only the timed window.
  result.profile = summarizeProfile(
    file,
    30,
    result.windowStartEpochMs - server.spawnedAtMs,
    result.windowEndEpochMs - server.spawnedAtMs,
  );
  result.profileFile = file;
  log(formatSummary(result.profile));
  return result;
}
const serverDist = resolve(root, args.dist ?? 'dist');
const abDist = args.ab === undefined ? undefined : resolve(root, args.ab);

async function pool(privateJwk, clientId, audience, ratePerSecond, deadlineMs, dpop) {
  const count = Math.ceil(ratePerSecond * windowSeconds * 1.15) + connections * 4;
  const started = Date.now();
  const bodies = await presignBodies({
    privateJwk,
    clientId,
    audience,
    count,
    lifetimeSeconds: 280,
    deadlineMs,
    ...(dpop === undefined ? {} : { dpop }),
  });
  const file = join(work, `bodies-${clientId}-${specCounter++}.txt`);
  writeFileSync(file, bodies.join('\n'));
  log(`  pre-signed ${bodies.length} ${privateJwk.alg} assertions in ${Date.now() - started} ms`);
  return file;
}

const tokenCheck = (clientId, jwks, x5tS256) => ({
  kind: 'token',
  clientId,
  jwks,
  ...(x5tS256 === undefined ? {} : { x5tS256 }),
});
const mtlsBody = 'grant_type=client_credentials&client_id=bench-mtls';
const clientTls = { caFile: files.root, certFile: files.clientCert, keyFile: files.clientKey };
const results = {};
const notes = {};

/**
 * The host's speed now: F2's loop (ES256 verify + sign per CPU-second) for 0.4 s on the server's
 * core. This VM's speed moves by half within a run (round 28: F2 5,178-6,109 in earlier runs and
 * 8,168 in one whose first scenarios ran at the earlier speed; oidc-provider's rows, run last,
 * came out 1.5-2x their earlier figures while Tollgate's first rows moved by -13% to +27%), so a
 * ratio of two rows measured minutes apart mixes two speeds. Each scenario is gauged before and
 * after; the ratio table adds each ratio at equal host speed (each row divided by its gauge).
 * Undefined with --no-host-gauge or when the gauge fails.
 */
async function hostGauge() {
  if (args['no-host-gauge']) return undefined;
  try {
    const gauge = await runPinnedMeasurement(
      'the host-speed gauge',
      [join(here, 'floor-crypto.mjs'), 400],
      30_000,
    );
    return gauge.perCpuSecond;
  } catch {
    return undefined;
  }
}

async function scenario(name, run) {
  if (!selected.has(name)) return;
  log(`${name} ...`);
  try {
    const speedBefore = await hostGauge();
    results[name] = await run();
    const speedAfter = await hostGauge();
    const r = results[name];
    if (speedBefore !== undefined && speedAfter !== undefined) {
      r.hostSpeedBefore = Math.round(speedBefore);
      r.hostSpeedAfter = Math.round(speedAfter);
      r.hostSpeed = (speedBefore + speedAfter) / 2;
    }
    // Other tenants of the machine show here: the benchmark itself keeps about 2 cores busy.
    r.loadAverage1m = loadavg()[0];
    r.disturbances = disturbances(r);
    if (r.rate !== undefined) {
      log(
        `  ${r.rate.toFixed(0)}/s  p50 ${r.p50Ms?.toFixed(2)} ms  p99 ${r.p99Ms?.toFixed(2)} ms  ` +
          `server CPU ${(100 * (r.serverCpuUtilization ?? 0)).toFixed(0)}%  ` +
          `${r.perCpuSecond?.toFixed(0)}/CPU-s  failures ${r.failures ?? 0}`,
      );
      if (r.sendLateP99Ms !== undefined) {
        log(
          `  the generator sent late (part of the latency): p50 ${r.sendLateP50Ms.toFixed(2)} ms, ` +
            `p99 ${r.sendLateP99Ms.toFixed(2)} ms; its GC paused it ${r.generatorGcPauses} times, ` +
            `${r.generatorGcMs.toFixed(0)} ms in all, the longest ${r.generatorGcMaxMs.toFixed(1)} ms`,
        );
      }
      if (r.closedWarmupMs !== undefined) log(`  ${closedWarmupText(r)}`);
      if (r.failures > 0) log(`  failure kinds: ${JSON.stringify(r.failureKinds)}`);
      if (r.disturbances.length > 0) log(`  DISTURBED: ${r.disturbances.join('; ')}`);
      if (r.verifyProblems > 0) log(`  token problems: ${JSON.stringify(r.verifyExamples)}`);
      if (r.poolExhausted) log('  the pre-signed pool ran out: this run is bounded by count');
    }
  } catch (error) {
    results[name] = { error: error.message };
    log(`  FAILED: ${error.message}`);
  }
}

/** Share of a pinned core that other work may take before a row is flagged as disturbed. */
const otherUseLimit = 0.1;

/**
 * Why a row does not measure only the process under test, or an open-loop row is no latency
 * figure: other work on the pinned cores (other processes, the VM's steal), a pinned server
 * reading more than one core (the accounting is wrong), an open loop that fell behind its rate
 * (its latencies are queueing behind a backlog, not the server's). Empty when the row is clean.
 */
function disturbances(r) {
  const found = [];
  const percent = (x) => `${(100 * x).toFixed(0)}%`;
  if (r.serverCoreOtherUse > otherUseLimit)
    found.push(`other work on the server core ${percent(r.serverCoreOtherUse)}`);
  if (r.serverCoreSteal > otherUseLimit)
    found.push(`the VM's steal on the server core ${percent(r.serverCoreSteal)}`);
  if (r.generatorCoreOtherUse > otherUseLimit)
    found.push(`other work on the generator core ${percent(r.generatorCoreOtherUse)}`);
  if (r.serverCoreOtherUse !== undefined && r.serverCpuUtilization > 1.02)
    found.push(`server CPU ${percent(r.serverCpuUtilization)} of one pinned core`);
  if (r.targetRate !== undefined) {
    if (r.inWindowErrors > 0) found.push(`${r.inWindowErrors} failed in the window`);
    if (r.rate < 0.97 * r.targetRate)
      found.push(`fell behind: ${r.rate.toFixed(0)} of ${r.targetRate}/s`);
  }
  return found;
}

/** Tollgate scenario: start, drive, stop (always), summarize the profile when asked. */
async function withTollgate(name, extra, drive, workers = 1) {
  if (abDist !== undefined && abScenarios.has(name)) return sideBySide(name, extra, drive);
  const server = await startTollgate(name, extra, workers);
  let result;
  try {
    result = await drive(server);
  } finally {
    await server.stop();
  }
  summarizeIfProfiled(name, server, result);
  if (server.output().trim() !== '') result.serverOutput = server.output().slice(0, 20_000);
  return result;
}

/** Scenarios `--ab` runs side by side (one pinned server each; not W2, L80, S6's shared Redis). */
const abScenarios = new Set(['S1', 'S2', 'S3', 'S4', 'S5', 'S7', 'S8']);
/** The `--ab` start gate of the generator that runLoad is called for (see sideBySide). */
const abGates = new AsyncLocalStorage();

/**
 * `--ab DIR`: the scenario against two Tollgate servers at once, this build (A) and DIR's (B),
 * both pinned to the server core, each driven by its own generator on the generator core,
 * started together after both pools are signed. Both see the same machine at the same moment,
 * so B / A per CPU-second is a same-run comparison even on a busy machine (each gets about half
 * of each core). The cores' other-work check is off (each server is the other's other work).
 */
async function sideBySide(name, extra, drive) {
  const servers = await Promise.all([
    startTollgate(name, extra, 1, serverDist),
    startTollgate(`${name}-B`, extra, 1, abDist),
  ]);
  const gate = startGate(2);
  let results;
  try {
    results = await Promise.all(servers.map((server) => abGates.run(gate, () => drive(server))));
  } finally {
    gate.open();
    await Promise.all(servers.map((server) => server.stop()));
  }
  const [a, b] = results;
  summarizeIfProfiled(name, servers[0], a);
  summarizeIfProfiled(`${name}-B`, servers[1], b);
  a.ab = b;
  a.abRatio = b.perCpuSecond / a.perCpuSecond;
  log(
    `  B (${abDist}): ${b.rate?.toFixed(0)}/s  ${b.perCpuSecond?.toFixed(0)}/CPU-s  ` +
      `failures ${b.failures ?? 0}; B / A per CPU-s = ${a.abRatio.toFixed(3)}`,
  );
  return a;
}

/** A promise gate that opens when `parties` have arrived (or when opened). */
function startGate(parties) {
  let arrived = 0;
  let open;
  const opened = new Promise((resolvePromise) => {
    open = resolvePromise;
  });
  return {
    arrive() {
      if (++arrived >= parties) open();
      return opened;
    },
    open: () => open(),
  };
}

const defaultPoolRate = 9000;

await scenario('S1', () =>
  withTollgate('S1', {}, async (server) =>
    runLoad({
      mode: 'keepalive',
      port: server.port,
      servername: 'localhost',
      path: '/token',
      bodiesFile: await pool(esKey.privateJwk, 'bench-es256', server.issuer, defaultPoolRate),
      tls: { caFile: files.root },
      serverPid: server.pid,
      check: tokenCheck('bench-es256', serverJwks),
    }),
  ),
);
const s1Rate = results.S1?.rate ?? 3000;

await scenario('S2', () =>
  withTollgate('S2', {}, async (server) =>
    runLoad({
      mode: 'keepalive',
      port: server.port,
      servername: 'localhost',
      path: '/token',
      // RSA signing is slow on the generator side; cap pre-signing at 40 s (the run is then
      // bounded by count, and the table says so).
      bodiesFile: await pool(rsKey.privateJwk, 'bench-rs256', server.issuer, s1Rate * 1.6, 40_000),
      tls: { caFile: files.root },
      serverPid: server.pid,
      check: tokenCheck('bench-rs256', serverJwks),
    }),
  ),
);

// S7: private_key_jwt + DPoP (RFC 9449), keep-alive: S1's request plus one proof verification,
// one thumbprint and one more replay claim per token. Proofs are pre-signed, so their iat is the
// pool's start: the window is widened to cover the run (a bench setting, never a deployment one).
await scenario('S7', async () => {
  const dpopKey = await devCa.generateSigningJwk('ES256');
  // Two claims per token (assertion and proof): the benchmark client share covers both.
  const extra = { dpop: { maxAgeSeconds: 600 }, replay: { maxClientShare: benchClientShare } };
  return withTollgate('S7', extra, async (server) => {
    const result = await runLoad({
      mode: 'keepalive',
      port: server.port,
      servername: 'localhost',
      path: '/token',
      bodiesFile: await pool(esKey.privateJwk, 'bench-es256', server.issuer, s1Rate * 1.2, 60_000, {
        privateJwk: dpopKey.privateJwk,
        htu: `${server.issuer}/token`,
      }),
      tls: { caFile: files.root },
      serverPid: server.pid,
      check: { ...tokenCheck('bench-es256', serverJwks), dpop: true },
    });
    if (results.S1?.rate !== undefined && result.rate !== undefined) {
      result.ratioToS1 = result.rate / results.S1.rate;
      log(`  S7/S1 = ${result.ratioToS1.toFixed(3)}`);
    }
    return result;
  });
});

// S8: workload identity, the common production path: a Kubernetes pod authenticating with its
// projected service-account token (`federated_jwt`, RFC 7523 jwt-bearer), keep-alive. The issuer
// is Kubernetes-shaped (RS256, as kube-apiserver, EKS and GKE sign) and its discovery document and
// JWKS are served here over HTTPS on 127.0.0.1 (Tollgate fetches them once and caches them). The
// source keeps its default jti policy, reuse-allowed: the kubelet hands the same token to every
// request until it rotates it, so the pool is a fleet of pods' tokens, pre-signed before the
// window and sent round-robin. Per token: one RS256 verify and no replay claim.
await scenario('S8', async () => {
  const fleet = 256;
  const issuerServer = await startIssuerServer();
  try {
    const issuer = `${issuerServer.base}/bench-cluster`;
    const sa = await devCa.createServiceAccountIssuer(issuer);
    issuerServer.routes.set('/bench-cluster/.well-known/openid-configuration', () =>
      sa.discovery(`${issuerServer.base}/bench-cluster/openid/v1/jwks`),
    );
    issuerServer.routes.set('/bench-cluster/openid/v1/jwks', () => sa.jwks());
    const registry = join(work, 'registry-workload.json');
    writeFileSync(
      registry,
      JSON.stringify({
        clients: [
          {
            client_id: 'bench-k8s',
            token_endpoint_auth_method: 'federated_jwt',
            grant_types: ['client_credentials'],
            federated_identity: {
              source: 'bench-cluster',
              subject: 'system:serviceaccount:bench:worker',
              kubernetes_namespace: 'bench',
            },
          },
        ],
      }),
    );
    const extra = {
      registry: { file: registry },
      workloadIdentity: {
        sources: [{ kind: 'oidc-issuer', name: 'bench-cluster', issuer, caFile: files.root }],
      },
    };
    return await withTollgate('S8', extra, async (server) => {
      const started = Date.now();
      const prefix = `grant_type=client_credentials&client_id=bench-k8s&client_assertion_type=${encodeURIComponent(jwtBearer)}&client_assertion=`;
      const bodies = Array.from(
        { length: fleet },
        () =>
          `${prefix}${sa.mint({ namespace: 'bench', serviceAccount: 'worker', audience: server.issuer })}`,
      );
      const bodiesFile = join(work, `bodies-bench-k8s-${specCounter++}.txt`);
      writeFileSync(bodiesFile, bodies.join('\n'));
      log(`  pre-signed ${fleet} RS256 service-account tokens in ${Date.now() - started} ms`);
      const result = await runLoad({
        mode: 'keepalive',
        port: server.port,
        servername: 'localhost',
        path: '/token',
        bodiesFile,
        cycleBodies: true,
        tls: { caFile: files.root },
        serverPid: server.pid,
        check: tokenCheck('bench-k8s', serverJwks),
      });
      result.issuerRequests = issuerServer.requests();
      if (!(result.issuerRequests > 0)) {
        throw new Error('the issuer was never asked for its keys: the workload path was not used');
      }
      if (results.S1?.rate !== undefined && result.rate !== undefined) {
        result.ratioToS1 = result.rate / results.S1.rate;
        log(`  S8/S1 = ${result.ratioToS1.toFixed(3)}`);
      }
      return result;
    });
  } finally {
    await issuerServer.close();
  }
});

/**
 * The HTTPS server of S8's Kubernetes-shaped issuer, on 127.0.0.1 with the bench's server
 * certificate (the dev CA's root is the source's `caFile`): JSON per path, counted.
 */
async function startIssuerServer() {
  const routes = new Map();
  let requests = 0;
  const server = createHttpsServer(
    { cert: serverCert.chainPem, key: serverCert.keyPem },
    (req, res) => {
      requests++;
      const route = routes.get((req.url ?? '/').split('?')[0]);
      if (route === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(route()));
    },
  );
  await new Promise((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  return {
    base: `https://127.0.0.1:${server.address().port}`,
    routes,
    requests: () => requests,
    close: () =>
      new Promise((resolvePromise) => {
        server.closeAllConnections();
        server.close(() => resolvePromise());
      }),
  };
}

await scenario('S3', () =>
  withTollgate('S3', {}, (server) =>
    runLoad({
      mode: 'keepalive',
      port: server.port,
      servername: 'localhost',
      path: '/token',
      body: mtlsBody,
      tls: clientTls,
      serverPid: server.pid,
      check: tokenCheck('bench-mtls', serverJwks, mtlsCert.x5tS256),
    }),
  ),
);

for (const [name, resume] of [
  ['S4', false],
  ['S5', true],
]) {
  await scenario(name, () =>
    withTollgate(name, {}, (server) =>
      runLoad({
        mode: 'newconn',
        resume,
        port: server.port,
        servername: 'localhost',
        path: '/token',
        body: mtlsBody,
        tls: { certFile: files.clientCert, keyFile: files.clientKey },
        serverPid: server.pid,
        check: tokenCheck('bench-mtls', serverJwks, mtlsCert.x5tS256),
      }),
    ),
  );
}

await scenario('S6', async () => {
  if (!supportsRedis) throw new Error('skipped: dist/http/server.js has no RedisReplayStore yet');
  const redisPath = findOnPath('redis-server');
  if (redisPath === undefined) throw new Error('skipped: redis-server is not installed');
  const redisPort = await freePort();
  const redis = track(
    spawnPinned(
      serverCore,
      redisPath,
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    ),
  );
  try {
    await waitForPort(redisPort);
    const redisCpu0 = procCpuSeconds(redis.pid);
    const result = await withTollgate(
      'S6',
      {
        replay: { store: 'redis', maxClientShare: benchClientShare },
        redis: { url: `redis://127.0.0.1:${redisPort}` },
      },
      async (server) =>
        runLoad({
          mode: 'keepalive',
          port: server.port,
          servername: 'localhost',
          path: '/token',
          bodiesFile: await pool(esKey.privateJwk, 'bench-es256', server.issuer, s1Rate * 1.2),
          tls: { caFile: files.root },
          serverPid: server.pid,
          check: tokenCheck('bench-es256', serverJwks),
        }),
    );
    // Redis CPU over the whole run (warm-up included): an upper bound for the window.
    result.redisCpuSeconds = procCpuSeconds(redis.pid) - redisCpu0;
    result.redisKeys = redisDbSize(redisPort);
    if (!(result.redisKeys > 0)) throw new Error('no keys in Redis: the redis store was not used');
    return result;
  } finally {
    redis.kill('SIGTERM');
  }
});

// W2: S1 on `serve --workers 2`. On a two-core machine the generator shares the cores with the
// two workers, so tokens per second cannot double; tokens per server CPU-second (summed over the
// primary and both workers) says what the IPC replay claims and the primary cost.
await scenario('W2', () =>
  withTollgate(
    'W2',
    {},
    async (server) =>
      runLoad({
        mode: 'keepalive',
        port: server.port,
        servername: 'localhost',
        path: '/token',
        bodiesFile: await pool(esKey.privateJwk, 'bench-es256', server.issuer, s1Rate * 1.6),
        tls: { caFile: files.root },
        serverPid: server.pid,
        serverTree: true,
        check: tokenCheck('bench-es256', serverJwks),
      }),
    2,
  ),
);

/** How long the open loop's two warm-ups ran, and whether the compiler fell quiet in each. */
function closedWarmupText(r) {
  const seconds = (r.closedWarmupMs / 1000).toFixed(1);
  const peak = r.rateFromWarmupPeak
    ? `, its peak ${r.warmupPeakRate}/s set the rate (planned: ${openLoopFraction}x ${Math.round(r.plannedRate / openLoopFraction)}/s)`
    : '';
  if (r.closedWarmupQuiet === undefined) return `closed-loop warm-up ${seconds} s${peak}`;
  const open =
    r.openWarmupQuiet === undefined
      ? ''
      : `; open-loop warm-up ${(r.openWarmupMs / 1000).toFixed(1)} s, compiler ${r.openWarmupQuiet ? 'quiet' : 'NOT quiet (the tail may include JIT)'}`;
  return r.closedWarmupQuiet
    ? `closed-loop warm-up ${seconds} s, compiler quiet${peak}${open}`
    : `closed-loop warm-up ${seconds} s, compiler NOT quiet (the tail may include JIT)${peak}${open}`;
}

/**
 * L80 and LF1: a closed-loop warm-up before the open loop's own (see loadgen.mjs), unless
 * --cold-open-loop: at least `warmupMs`, then until the server's compiler threads are quiet
 * (4% of its CPU or less in two seconds in a row), at most --quiet-warmup-max; and the
 * pre-signed bodies it takes, as an extra rate over the pool's window (the closed loop runs at
 * up to S1's peak; 1.5x for a margin).
 */
const closedWarmupMaxMs = () => Math.max(warmupMs, quietWarmupMaxMs);
// The open loop's own warm-up, likewise until quiet (loadgen.mjs), at most 10 s of it.
const openWarmupMaxMs = () => Math.max(warmupMs, Math.min(quietWarmupMaxMs, 10_000));
const openLoopWarmup = () => {
  if (args['cold-open-loop'] || warmupMs === 0) return {};
  return {
    closedWarmupMs: warmupMs,
    recyclePool: true,
    ...(quietWarmupMaxMs > warmupMs
      ? { quiet: { fraction: 0.04, maxMs: closedWarmupMaxMs(), openMaxMs: openWarmupMaxMs() } }
      : {}),
  };
};
const openLoopWarmupRate = () =>
  args['cold-open-loop']
    ? 0
    : (1.5 * s1Rate * (closedWarmupMaxMs() / 1000) +
        1.25 * openLoopFraction * s1Rate * (openWarmupMaxMs() / 1000)) /
      windowSeconds;

await scenario('L80', () => {
  const rate = Math.max(100, Math.round(openLoopFraction * s1Rate));
  return withTollgate('L80', {}, async (server) =>
    runLoad({
      mode: 'keepalive',
      rate,
      // The same connections as S1, all opened during warm-up: a pool that grows inside the
      // window would add TLS handshakes to the measured latency.
      port: server.port,
      servername: 'localhost',
      path: '/token',
      // Up to 1.25x the planned rate when the warm-up's own peak sets it (loadgen.mjs).
      bodiesFile: await pool(
        esKey.privateJwk,
        'bench-es256',
        server.issuer,
        1.25 * rate + openLoopWarmupRate(),
      ),
      tls: { caFile: files.root },
      serverPid: server.pid,
      check: tokenCheck('bench-es256', serverJwks),
      ...openLoopWarmup(),
      ...(args['cold-open-loop'] ? {} : { peakFraction: openLoopFraction }),
    }),
  );
});

/** A floor server: start pinned, drive, stop. */
async function withServer(label, script, scriptArgs, drive) {
  const port = await freePort();
  const server = await startServer(
    label,
    [...serverNodeFlags(), ...profileFlags(label), join(here, script), ...scriptArgs(port)].map(
      String,
    ),
    port,
  );
  let result;
  try {
    result = await drive({ ...server, port });
  } finally {
    await server.stop();
  }
  return summarizeIfProfiled(label, server, result);
}

/** The `--f3-variant` experiment, with `with-ca` pointing at the fixture root. */
function f3Variant() {
  const variant = args['f3-variant'];
  if (variant === undefined || variant === 'default') return [];
  return [variant === 'with-ca' ? `with-ca=${files.root}` : variant];
}

const sampleBody = readFileSync(
  await pool(esKey.privateJwk, 'bench-es256', 'https://localhost', 1 / windowSeconds),
  'utf8',
).split('\n')[0];

/** F1's keep-alive load (S1's request body) against a floor-http.mjs server, plus `extra`. */
const floorHttpLoad = (server, extra = {}) =>
  runLoad({
    mode: 'keepalive',
    port: server.port,
    servername: 'localhost',
    path: '/token',
    body: sampleBody,
    tls: { caFile: files.root },
    serverPid: server.pid,
    check: { kind: 'json' },
    ...extra,
  });

await scenario('F1', () =>
  withServer(
    'F1',
    'floor-http.mjs',
    (port) => [port, files.cert, files.key],
    (server) => floorHttpLoad(server),
  ),
);

// LF1: L80's open loop (0.8x of the peak of its own closed-loop warm-up, as L80) against bare
// Fastify (F1's server) whose handler works (ES256 signatures) until a request costs what a token
// cost Tollgate in a closed loop: as busy as L80's server, the same generator, none of Tollgate's
// code. Its tail is what Node, TLS, Fastify, the generator, the host and the queueing at that
// load make by themselves. To round 27 it busy-waited on the clock (Tollgate's CPU per token less
// F1's) at L80's rate: a slower host does not stretch a busy-wait, and a cost fixed in advance
// missed L80's load (round 28: 10.7 signatures took 556 us in a tight loop at start-up and 745 us
// between requests; LF1 ran at 89-99% of its core where L80 ran at 79-83%).
await scenario('LF1', () => {
  // The plan (the pool's bound): L80's rate as it ran, else 0.8x S1's peak.
  const rate =
    results.L80?.targetRate > 0
      ? results.L80.targetRate
      : Math.max(100, Math.round(openLoopFraction * s1Rate));
  // Tollgate's CPU per token in a closed loop: L80's warm-up peak (its server at full load, just
  // before L80's window), else S1's.
  const [tollgateName, tollgateUs] =
    results.L80?.warmupPeakRate > 0
      ? ["L80's warm-up", 1e6 / results.L80.warmupPeakRate]
      : ['S1', results.S1?.perCpuSecond > 0 ? 1e6 / results.S1.perCpuSecond : 600];
  const targetUs = Math.round(tollgateUs);
  log(`  ${targetUs} us of CPU per request (${tollgateName}), ES256 signatures making up the rest`);
  return withServer(
    'LF1',
    'floor-http.mjs',
    (port) => [port, files.cert, files.key, targetUs],
    async (server) => {
      const result = await floorHttpLoad(server, {
        rate,
        ...openLoopWarmup(),
        // The closed-loop warm-up's peak sets the rate: the work must be set (3,500 requests)
        // before its last two seconds.
        ...(args['cold-open-loop']
          ? {}
          : { peakFraction: openLoopFraction, closedWarmupMs: Math.max(warmupMs, 6000) }),
      });
      const set = /([\d.]+) ES256 signatures per request/.exec(server.output());
      log(
        `  set in its warm-up: ${set === null ? 'NOT (warm-up too short)' : set[1]} signatures a request`,
      );
      return {
        ...result,
        targetUs,
        signaturesPerRequest: set === null ? undefined : Number(set[1]),
      };
    },
  );
});

/**
 * Runs a one-shot measurement script pinned to the server core, bounded by `timeoutMs`, and
 * returns the JSON line it prints; throws with `what` when it does not exit 0.
 */
async function runPinnedMeasurement(what, nodeArgs, timeoutMs) {
  const release = keepOffServerCore();
  try {
    return await measurePinned(what, nodeArgs, timeoutMs);
  } finally {
    release();
  }
}

async function measurePinned(what, nodeArgs, timeoutMs) {
  const child = track(
    spawnPinned(serverCore, process.execPath, nodeArgs.map(String), {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((resolvePromise) => child.once('exit', resolvePromise));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${what} failed (${code})`);
  return JSON.parse(stdout);
}

await scenario('F2', async () => {
  const result = await runPinnedMeasurement(
    'the crypto floor',
    [join(here, 'floor-crypto.mjs'), durationMs],
    durationMs + 60_000,
  );
  log(`  ${result.rate.toFixed(0)} verify+sign/s on one core`);
  return result;
});

await scenario('F3', () =>
  withServer(
    'F3',
    'floor-tls.mjs',
    (port) => [port, files.cert, files.key, ...f3Variant()],
    (server) =>
      runLoad({
        mode: 'newconn',
        resume: false,
        port: server.port,
        servername: 'localhost',
        path: '/token',
        body: mtlsBody,
        tls: { certFile: files.clientCert, keyFile: files.clientKey },
        serverPid: server.pid,
        check: { kind: 'json' },
      }),
  ),
);

// F4: F3 with TLS session resumption (tickets), the floor of S5.
await scenario('F4', () =>
  withServer(
    'F4',
    'floor-tls.mjs',
    (port) => [port, files.cert, files.key, ...f3Variant()],
    (server) =>
      runLoad({
        mode: 'newconn',
        resume: true,
        port: server.port,
        servername: 'localhost',
        path: '/token',
        body: mtlsBody,
        tls: { certFile: files.clientCert, keyFile: files.clientKey },
        serverPid: server.pid,
        check: { kind: 'json' },
      }),
  ),
);

const peerSigningJwk = await tokens.generateSigningJwk('ES256');
const { d: _pd, ...peerPublicJwk } = peerSigningJwk;
const peerJwks = { keys: [peerPublicJwk] };
async function withPeer(drive) {
  const port = await freePort();
  const specFile = join(work, `peer-${port}.json`);
  writeFileSync(
    specFile,
    JSON.stringify({
      port,
      issuer: `https://localhost:${port}`,
      certFile: files.cert,
      keyFile: files.key,
      caFiles: [files.root, files.intermediate],
      signingJwk: peerSigningJwk,
      jwtClient: { clientId: 'bench-es256', publicJwk: esKey.publicJwk },
      mtlsClient: { clientId: 'bench-mtls', subjectDn: mtlsCert.subject },
    }),
  );
  const server = await startServer('P1', [join(here, 'peer-oidc.mjs'), specFile], port);
  try {
    return await drive({ ...server, port, issuer: `https://localhost:${port}` });
  } finally {
    await server.stop();
  }
}

await scenario('P1-S1', () =>
  withPeer(async (server) =>
    runLoad({
      mode: 'keepalive',
      port: server.port,
      servername: 'localhost',
      path: '/token',
      bodiesFile: await pool(esKey.privateJwk, 'bench-es256', server.issuer, s1Rate * 0.8),
      tls: { caFile: files.root },
      serverPid: server.pid,
      check: tokenCheck('bench-es256', peerJwks),
    }),
  ),
);
await scenario('P1-S3', () =>
  withPeer((server) =>
    runLoad({
      mode: 'keepalive',
      port: server.port,
      servername: 'localhost',
      path: '/token',
      body: mtlsBody,
      tls: clientTls,
      serverPid: server.pid,
      check: tokenCheck('bench-mtls', peerJwks, mtlsCert.x5tS256),
    }),
  ),
);
await scenario('P1-S4', () =>
  withPeer((server) =>
    runLoad({
      mode: 'newconn',
      resume: false,
      port: server.port,
      servername: 'localhost',
      path: '/token',
      body: mtlsBody,
      tls: { certFile: files.clientCert, keyFile: files.clientKey },
      serverPid: server.pid,
      check: tokenCheck('bench-mtls', peerJwks, mtlsCert.x5tS256),
    }),
  ),
);

await scenario('MEM', async () => {
  const result = await runPinnedMeasurement(
    'memory measurement',
    ['--expose-gc', join(here, 'memory.mjs'), memoryEntries],
    300_000,
  );
  log(
    `  ${result.heapBytesPerEntry.toFixed(0)} heap B/entry, RSS ${(result.rssAfterBytes / 2 ** 20).toFixed(0)} MiB with ${result.entries} entries`,
  );
  return result;
});

// IPC: one replay claim of `serve --workers N` through node:cluster's channel to the primary's
// memory store (both processes pinned to the server core): the cost W2 pays per token over S1.
await scenario('IPC', async () => {
  const result = await runPinnedMeasurement(
    'IPC measurement',
    [join(here, 'ipc-claims.mjs'), args.quick ? 20_000 : 100_000],
    180_000,
  );
  log(
    `  worker ${result.workerCpuUsPerClaim.toFixed(1)} us + primary ${result.primaryCpuUsPerClaim.toFixed(1)} us CPU per claim`,
  );
  return result;
});

// CHURN (round 27): each claim's time in the memory replay store at production size while old
// claims expire (scripts/bench/replay-churn.mjs, the server's build, pinned to the server core):
// the worst claim is what every request queued behind it waits.
await scenario('CHURN', async () => {
  const result = await runPinnedMeasurement(
    'churn measurement',
    [
      join(here, 'replay-churn.mjs'),
      '--in-process',
      '--dist',
      serverDist,
      '--entries',
      churnEntries,
      '--churn',
      churnEntries,
    ],
    300_000,
  );
  const c = result.churnPhase;
  log(
    `  worst claim ${c.all.maxMs} ms (the store's own ${c.own.maxMs} ms, overlapping GC ` +
      `${c.overlappingGc.maxMs ?? '-'} ms, descheduled ${c.descheduled.maxMs ?? '-'} ms)`,
  );
  return result;
});

// ---- report ----
function findOnPath(binary) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}
async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    try {
      if (redisDbSize(port) >= 0) return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`redis did not start on ${port}`);
}
function redisDbSize(port) {
  const cli = findOnPath('redis-cli');
  if (cli === undefined) return Number.NaN;
  return Number(
    execFileSync(cli, ['-h', '127.0.0.1', '-p', String(port), 'DBSIZE'], {
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim(),
  );
}

const machine = {
  nproc: availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  platform: `${process.platform} ${process.arch}`,
  pinned: hasTaskset()
    ? `server (and redis, F2, memory, churn) on core ${serverCore}, load generator on core ${generatorCore} (taskset)`
    : 'not pinned (taskset unavailable)',
  durationSeconds: durationMs / 1000,
  warmupSeconds: warmupMs / 1000,
  connections,
  profiled: args.profile,
  clientSends: args['leaf-only'] ? 'leaf only' : 'leaf + intermediate',
  serverDist: serverDist,
  date: new Date().toISOString(),
};

const perCore = (name) => results[name]?.perCpuSecond;
// A row per CPU-second over the host's speed around it: tokens per verify+sign of F2's loop.
const perGauge = (name) => {
  const r = results[name];
  return r?.perCpuSecond !== undefined && r.hostSpeed > 0
    ? r.perCpuSecond / r.hostSpeed
    : undefined;
};
const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
const floorOf = (f1, f2) =>
  f1 !== undefined && f2 !== undefined ? 1 / (1 / f1 + 1 / f2) : undefined;
const floor = floorOf(perCore('F1'), results.F2?.perCpuSecond);
const floorAtGauge = floorOf(perGauge('F1'), perGauge('F2'));
/** [label, a / b per CPU-second, the same at equal host speed, target]. */
const perCpuRatio = (label, a, b, target) => [
  label,
  ratio(perCore(a), perCore(b)),
  ratio(perGauge(a), perGauge(b)),
  target,
];
/** [label, a / b in tokens per second (no gauge column), target]. */
const rateRatio = (label, a, b) => [
  label,
  ratio(results[a]?.rate, results[b]?.rate),
  undefined,
  '',
];
const ratios = [
  perCpuRatio('S1 / P1-S1', 'S1', 'P1-S1', '>= 3'),
  perCpuRatio('S3 / P1-S3', 'S3', 'P1-S3', '>= 3'),
  [
    'S1 / floor 1/(1/F1+1/F2)',
    ratio(perCore('S1'), floor),
    ratio(perGauge('S1'), floorAtGauge),
    '>= 0.75',
  ],
  perCpuRatio('S4 / F3', 'S4', 'F3', '>= 0.9'),
  perCpuRatio('S4 / P1-S4 (new connections)', 'S4', 'P1-S4', '>= 2'),
  perCpuRatio('S5 / S4', 'S5', 'S4', '>= 3'),
  perCpuRatio('S5 / F4', 'S5', 'F4', '>= 0.9'),
  perCpuRatio('S6 / S1', 'S6', 'S1', '>= 0.9'),
  // W2 is a process tree over both cores: no one core's gauge stands for it.
  ['W2 / S1 (per CPU-s)', ratio(perCore('W2'), perCore('S1')), undefined, ''],
  rateRatio('W2 / S1 (tokens/s)', 'W2', 'S1'),
  perCpuRatio('S7 (DPoP) / S1', 'S7', 'S1', ''),
  rateRatio('S7 (DPoP) / S1, tokens/s', 'S7', 'S1'),
  perCpuRatio('S8 (workload) / S1', 'S8', 'S1', ''),
  rateRatio('S8 (workload) / S1, tokens/s', 'S8', 'S1'),
];
notes.floorPerCore = floor;

const rows = [];
const labels = {
  S1: 'S1 private_key_jwt ES256, keep-alive',
  S2: 'S2 private_key_jwt RS256-2048, keep-alive',
  S3: 'S3 tls_client_auth, keep-alive (bound)',
  S4: 'S4 tls_client_auth, new TLS conn per token',
  S5: 'S5 tls_client_auth, new conn + resumption',
  S6: 'S6 S1 with Redis replay store',
  W2: 'W2 S1 on serve --workers 2 (unpinned)',
  S7: 'S7 private_key_jwt ES256 + DPoP proof, keep-alive',
  S8: 'S8 federated_jwt Kubernetes SA token RS256, keep-alive',
  L80: `S1 open loop at ${openLoopFraction}x S1 peak`,
  F1: 'F1 bare Fastify HTTPS form -> JSON',
  LF1: `LF1 L80's open loop (0.8x own peak) on F1 + ES256 signing to Tollgate's CPU per token`,
  F3: 'F3 bare node:https mTLS, full handshakes',
  F4: 'F4 bare node:https mTLS, resumed handshakes',
  'P1-S1': 'P1 oidc-provider, S1',
  'P1-S3': 'P1 oidc-provider, S3',
  'P1-S4': 'P1 oidc-provider, S4',
};
const fmt = (value, digits = 0) =>
  typeof value !== 'number' || Number.isNaN(value) ? '-' : value.toFixed(digits);
for (const [name, label] of Object.entries(labels)) {
  const r = results[name];
  if (r === undefined) continue;
  if (r.error !== undefined) {
    rows.push(`| ${label} | ${r.error.split('\n')[0].slice(0, 80)} | | | | | |`);
    continue;
  }
  const extra = [];
  if (r.verifiedTokens > 0) extra.push(`${r.verifiedTokens} verified`);
  if (r.failures > 0) extra.push(`${r.failures} failed`);
  if (r.verifyProblems > 0) extra.push(`${r.verifyProblems} bad tokens`);
  if (r.poolExhausted) extra.push('count-bounded');
  if (r.resumedFraction !== undefined)
    extra.push(`${(100 * r.resumedFraction).toFixed(0)}% resumed`);
  if (r.generatorCpuUtilization > 0.9)
    extra.push(`generator ${(100 * r.generatorCpuUtilization).toFixed(0)}% busy`);
  if (r.targetRate !== undefined) extra.push(`target ${r.targetRate}/s`);
  if (r.sendLateP99Ms !== undefined)
    extra.push(`sent late p50 ${fmt(r.sendLateP50Ms, 2)} / p99 ${fmt(r.sendLateP99Ms, 2)} ms`);
  if (r.closedWarmupMs !== undefined) extra.push(closedWarmupText(r));
  if (r.loadAverage1m !== undefined) extra.push(`load ${r.loadAverage1m.toFixed(1)}`);
  if (r.hostSpeed !== undefined) extra.push(`host ${r.hostSpeedBefore} -> ${r.hostSpeedAfter}`);
  if (r.disturbances?.length > 0) extra.push(`DISTURBED: ${r.disturbances.join('; ')}`);
  if (r.redisCpuSeconds !== undefined)
    extra.push(`redis ${r.redisCpuSeconds.toFixed(1)} CPU-s, ${r.redisKeys} keys`);
  rows.push(
    `| ${label} | ${fmt(r.rate)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ${fmt(100 * r.serverCpuUtilization)}% | ${fmt(r.perCpuSecond)} | ${extra.join(', ')} |`,
  );
  if (r.ab !== undefined) {
    const b = r.ab;
    rows.push(
      `| ${label}, B (--ab, side by side) | ${fmt(b.rate)} | ${fmt(b.p50Ms, 2)} | ${fmt(b.p99Ms, 2)} | ${fmt(100 * b.serverCpuUtilization)}% | ${fmt(b.perCpuSecond)} | B / A per CPU-s ${fmt(r.abRatio, 3)}${b.failures > 0 ? `, ${b.failures} failed` : ''} |`,
    );
  }
}
const lines = [
  `Machine: ${machine.nproc} x ${machine.cpu}, Node ${machine.node}, ${machine.platform}`,
  `Pinning: ${machine.pinned}`,
  `Window ${machine.durationSeconds} s after ${machine.warmupSeconds} s warm-up, ${connections} connections/loops${args.profile ? ', SERVERS PROFILED (--cpu-prof): slower than normal' : ''}`,
  '',
  '| scenario | tokens/s | p50 ms | p99 ms | server CPU | tokens per CPU-s | notes |',
  '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ...rows,
];
if (results.F2?.rate !== undefined) {
  lines.push(
    '',
    `F2 crypto floor: ${fmt(results.F2.rate)} ES256 verify + ES256 sign per second on one core`,
  );
}
if (floor !== undefined)
  lines.push(`Floor 1/(1/F1 + 1/F2), per core: ${fmt(floor)} tokens per CPU-second`);
lines.push(
  '',
  '| ratio (per server CPU-second) | value | at equal host speed | target |',
  '| --- | ---: | ---: | --- |',
);
for (const [name, value, atGauge, target] of ratios) {
  if (value !== undefined)
    lines.push(`| ${name} | ${fmt(value, 2)} | ${fmt(atGauge, 2)} | ${target} |`);
}
if (results.L80?.p99Ms !== undefined) {
  // A disturbed open-loop row is no latency figure: the table says why instead of printing it.
  const l80 = results.L80;
  const value =
    l80.disturbances.length > 0
      ? `not measured (${l80.disturbances.join('; ')})`
      : `${fmt(l80.p99Ms, 2)} (server CPU ${fmt(100 * l80.serverCpuUtilization)}%)`;
  lines.push(`| p99 at ${openLoopFraction}x S1 peak (ms) | ${value} | | < 10 |`);
}
if (results.LF1?.p99Ms !== undefined) {
  const lf1 = results.LF1;
  const value =
    lf1.disturbances.length > 0
      ? `not measured (${lf1.disturbances.join('; ')})`
      : `${fmt(lf1.p99Ms, 2)} (server CPU ${fmt(100 * lf1.serverCpuUtilization)}%)`;
  lines.push(`| LF1 p99, bare Fastify at L80's rate and CPU per request (ms) | ${value} | | |`);
}
if (results.CHURN?.churnPhase?.own.maxMs !== undefined) {
  const c = results.CHURN.churnPhase;
  lines.push(
    `| worst replay claim under churn, the store's own (ms; all: ${fmt(c.all.maxMs, 1)}) | ${fmt(c.own.maxMs, 2)} | | |`,
  );
}
if (results.MEM?.heapBytesPerEntry !== undefined) {
  const m = results.MEM;
  lines.push(
    `| replay store heap bytes per live entry | ${fmt(m.heapBytesPerEntry)} | | <= 200 |`,
    '',
    `Memory replay store, ${m.entries} live entries: heap ${fmt(m.heapBytesPerEntry)} B/entry, ` +
      `RSS ${fmt(m.rssBeforeBytes / 2 ** 20)} -> ${fmt(m.rssAfterBytes / 2 ** 20)} MiB ` +
      `(${fmt(m.rssBytesPerEntry)} B/entry), ${fmt(m.claimsPerSecond)} claims/s`,
  );
}
if (results.IPC?.workerCpuUsPerClaim !== undefined) {
  const m = results.IPC;
  lines.push(
    '',
    `IPC replay claim (--workers): worker ${fmt(m.workerCpuUsPerClaim, 1)} us + primary ` +
      `${fmt(m.primaryCpuUsPerClaim, 1)} us CPU per claim, ${fmt(m.claimsPerSecond)} claims/s ` +
      `(${m.inFlight} in flight, one core)`,
  );
}
if (results.CHURN?.churnPhase !== undefined) {
  const m = results.CHURN;
  const c = m.churnPhase;
  const dash = (value) => (typeof value === 'number' ? fmt(value, 2) : '-');
  lines.push(
    '',
    `Memory replay store under churn, ${m.entries} live claims, ${c.claims} churned: worst claim ` +
      `${dash(c.all.maxMs)} ms; the store's own time: max ${dash(c.own.maxMs)} ms, p99.9 ` +
      `${fmt(1000 * c.own.p999Ms, 0)} us, ${c.own.over1Ms} over 1 ms, ${c.own.over5Ms} over 5 ms; ` +
      `overlapping GC: ${c.overlappingGc.count} claims, max ${dash(c.overlappingGc.maxMs)} ms ` +
      `(${c.gc.count} GC pauses, max ${dash(c.gc.maxMs)} ms); descheduled: ` +
      `${c.descheduled.count} claims, max ${dash(c.descheduled.maxMs)} ms`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);

if (args.json !== undefined) {
  mkdirSync(dirname(resolve(args.json)), { recursive: true });
  writeFileSync(
    args.json,
    JSON.stringify(
      {
        machine,
        results,
        ratios: Object.fromEntries(ratios.map(([n, v]) => [n, v])),
        ratiosAtEqualHostSpeed: Object.fromEntries(ratios.map(([n, , g]) => [n, g])),
        notes,
      },
      null,
      2,
    ),
  );
  log(`results written to ${args.json}`);
}
if (!args.keep) rmSync(work, { recursive: true, force: true });
killAll();
