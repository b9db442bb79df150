/**
 * `npm run overload`: the overload run of issue 12 (attack 7). Not part of `npm test`.
 *
 * 1. Starts Tollgate from dist/ with production settings (load shedding as configured by
 *    default), pinned like the benchmark, on 127.0.0.1 only.
 * 2. Measures the closed-loop peak of private_key_jwt ES256 token requests (16 keep-alive
 *    connections, as bench S1).
 * 3. Drives a bounded open loop at twice that peak over 512 keep-alive connections (latency of
 *    every success measured from its scheduled send, so queueing is never hidden), at most 4096
 *    requests in flight, bounded in time and by the pre-signed pool.
 * 4. Samples the server's RSS before, during (peak) and 60 s after the load.
 *
 * Prints the share of 503s, the p50/p99 of successes from scheduled send, and RSS before / peak
 * / after; `--json FILE` writes them. Options: `usage` below (`npm run overload -- --help`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  hasTaskset,
  parseScriptArgs,
  procRssBytes,
  sleep,
  spawnPinned,
  usageError,
  waitForTls,
} from './lib.mjs';
import { presignBodies } from './presign.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const usage = `Usage: npm run overload -- [options]     (node scripts/bench/overload.mjs [options])

Starts Tollgate from dist/ with production settings, measures the closed-loop peak of
private_key_jwt token requests, drives an open loop at twice that peak, and prints the share
of 503s, latency of successes and RSS before / peak / after (docs/security.md). Not part of
npm test; it takes a few minutes.

  --duration SEC        open-loop window (default 20, at most 120)
  --peak-duration SEC   closed-loop peak measurement (default 10, at most 60)
  --connections N       open-loop keep-alive connections (default 512, at most 2048)
  --after SEC           idle time before the last RSS sample (default 60, at most 300)
  --json FILE           write the results as JSON
  --no-build            use the existing dist/ (default: npm run build first)
  -h, --help            this help
`;
const args = parseScriptArgs('overload', usage, {
  duration: { type: 'string', default: '20' },
  'peak-duration': { type: 'string', default: '10' },
  connections: { type: 'string', default: '512' },
  after: { type: 'string', default: '60' },
  json: { type: 'string' },
  'no-build': { type: 'boolean', default: false },
});
const openSeconds = Number(args.duration);
const peakSeconds = Number(args['peak-duration']);
const openConnections = Number(args.connections);
const afterSeconds = Number(args.after);
if (!(openSeconds > 0 && openSeconds <= 120) || !(peakSeconds > 0 && peakSeconds <= 60)) {
  usageError('overload', '--duration must be in (0, 120] s and --peak-duration in (0, 60] s');
}
if (!(openConnections >= 1 && openConnections <= 2048)) {
  usageError('overload', '--connections must be 1..2048');
}
if (!(afterSeconds >= 0 && afterSeconds <= 300)) {
  usageError('overload', '--after must be in [0, 300] s');
}
const warmupSeconds = 2;
const serverCore = hasTaskset() ? 0 : null;
const generatorCore = hasTaskset() ? Math.min(1, availableParallelism() - 1) : null;
const log = (line) => process.stderr.write(`${line}\n`);

const children = new Set();
const track = (child) => {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
};
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

if (!args['no-build']) {
  log('building (npm run build) ...');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
const dist = (path) => new URL(`../../dist/${path}`, import.meta.url).href;
const devCa = await import(dist('dev-ca/index.js'));
const tokens = await import(dist('tokens/index.js'));

// ---- fixtures (the dev CA's code, in a temporary folder) ----
const work = mkdtempSync(join(tmpdir(), 'tollgate-overload-'));
const ca = await devCa.createDevCa();
const serverCert = await ca.issueServer();
const clientKey = await devCa.generateSigningJwk('ES256');
const signingJwk = await tokens.generateSigningJwk('ES256');
const file = (name) => join(work, name);
writeFileSync(file('root.pem'), ca.root.certPem);
writeFileSync(file('server.pem'), serverCert.chainPem);
writeFileSync(file('server-key.pem'), serverCert.keyPem, { mode: 0o600 });
tokens.writeSigningKeyFile(file('signing-keys.json'), {
  active_kid: signingJwk.kid,
  keys: [signingJwk],
});
writeFileSync(
  file('registry.json'),
  JSON.stringify({ clients: [devCa.privateKeyJwtEntry('overload', clientKey.publicJwk)] }),
);
const port = await freePort();
const issuer = `https://localhost:${port}`;
writeFileSync(
  file('tollgate.json'),
  JSON.stringify({
    issuer,
    unsafeDevDefaults: false,
    tls: { host: '127.0.0.1', port, certFile: file('server.pem'), keyFile: file('server-key.pem') },
    clientCertificates: { trustAnchorFiles: [], intermediateFiles: [], crlFiles: [] },
    signingKeys: { file: file('signing-keys.json') },
    registry: { file: file('registry.json') },
    admin: { enabled: true, host: '127.0.0.1', port: 0 },
    // One client sends everything: per-client and per-address quotas sized for it (the limiter
    // still runs); the replay store holds every assertion of the run.
    rateLimits: { perClient: 100_000_000, perAddress: 100_000_000 },
    replay: { maxEntries: 2_000_000, maxClientShare: 1 },
    limits: { connectionsPerAddress: 4096 },
    log: { level: 'info' },
  }),
);

// ---- the server ----
const logFd = openSync(file('server.log'), 'w');
const server = track(
  spawnPinned(
    serverCore,
    process.execPath,
    [join(root, 'dist/cli/main.js'), 'serve', '--config', file('tollgate.json')],
    { cwd: root, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', logFd, logFd] },
  ),
);
await waitForTls(port, 30_000, () => server.exitCode === null);
await sleep(2000);
const rssBeforeBytes = procRssBytes(server.pid);
log(`server pid ${server.pid}, RSS before ${(rssBeforeBytes / 2 ** 20).toFixed(0)} MiB`);

let rssPeakBytes = rssBeforeBytes;
const rssSampler = setInterval(() => {
  rssPeakBytes = Math.max(rssPeakBytes, procRssBytes(server.pid));
}, 200);

/** Runs the load generator (pinned to its core) on `spec`; returns its result line. */
async function runLoad(name, spec) {
  const specFile = file(`${name}.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  const child = track(
    spawnPinned(generatorCore, process.execPath, [join(here, 'loadgen.mjs'), specFile], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(
    () => child.kill('SIGKILL'),
    (spec.warmupMs + spec.durationMs) * 2 + 60_000,
  );
  const code = await new Promise((done) => child.once('exit', done));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`load generator failed (${code}): ${stderr.slice(0, 2000)}`);
  return JSON.parse(stdout.trim().split('\n').pop());
}

async function bodies(name, count) {
  const signed = await presignBodies({
    privateJwk: clientKey.privateJwk,
    clientId: 'overload',
    audience: issuer,
    count,
    lifetimeSeconds: 280,
  });
  const bodiesFile = file(`${name}.bodies`);
  writeFileSync(bodiesFile, signed.join('\n'));
  return bodiesFile;
}

const common = {
  mode: 'keepalive',
  port,
  servername: 'localhost',
  path: '/token',
  tls: { caFile: file('root.pem') },
  serverPid: server.pid,
  check: { kind: 'token', clientId: 'overload', jwks: { keys: [] }, sampleEvery: 1e9 },
};

try {
  log(`closed loop, 16 connections, ${peakSeconds} s ...`);
  const peak = await runLoad('peak', {
    ...common,
    connections: 16,
    warmupMs: warmupSeconds * 1000,
    durationMs: peakSeconds * 1000,
    bodiesFile: await bodies('peak', Math.ceil(12_000 * (peakSeconds + warmupSeconds))),
  });
  log(
    `  peak ${peak.rate.toFixed(0)}/s, p99 ${peak.p99Ms.toFixed(1)} ms, ` +
      `${peak.inWindowErrors} not 200 (${JSON.stringify(peak.failureKinds)})`,
  );

  const target = Math.round(2 * peak.rate);
  log(`open loop at ${target}/s (2x), ${openConnections} connections, ${openSeconds} s ...`);
  const overload = await runLoad('open', {
    ...common,
    connections: openConnections,
    rate: target,
    maxInflight: 4096,
    warmupMs: warmupSeconds * 1000,
    durationMs: openSeconds * 1000,
    bodiesFile: await bodies('open', Math.ceil(target * (openSeconds + warmupSeconds) * 1.05)),
  });
  clearInterval(rssSampler);
  log(`waiting ${afterSeconds} s idle for the last RSS sample ...`);
  await sleep(afterSeconds * 1000);
  const rssAfterBytes = procRssBytes(server.pid);

  const shed = Object.entries(overload.failureKinds)
    .filter(([kind]) => kind.startsWith('status 503'))
    .reduce((sum, [, count]) => sum + count, 0);
  const answered = overload.requests + overload.inWindowErrors;
  const result = {
    closedLoopPeakPerSecond: peak.rate,
    closedLoopNonSuccesses: peak.inWindowErrors,
    openLoopTargetPerSecond: target,
    openLoopConnections: openConnections,
    windowSeconds: overload.seconds,
    successes: overload.requests,
    successesPerSecond: overload.rate,
    nonSuccessesInWindow: overload.inWindowErrors,
    // failureKinds counts warm-up too; the share is over the window's answers.
    shareOf503: answered > 0 ? overload.inWindowErrors / answered : Number.NaN,
    all503: shed === overload.failures,
    failureKinds: overload.failureKinds,
    successP50MsFromScheduledSend: overload.p50Ms,
    successP99MsFromScheduledSend: overload.p99Ms,
    successMaxMsFromScheduledSend: overload.maxMs,
    rssBeforeMiB: rssBeforeBytes / 2 ** 20,
    rssPeakMiB: rssPeakBytes / 2 ** 20,
    rssAfterMiB: rssAfterBytes / 2 ** 20,
    afterSeconds,
    loadAverage1m: loadavg()[0],
    pinned: serverCore !== null,
  };
  const mib = (value) => `${value.toFixed(0)} MiB`;
  process.stdout.write(
    [
      '| figure | value |',
      '| --- | ---: |',
      `| closed-loop peak (16 conns) | ${result.closedLoopPeakPerSecond.toFixed(0)}/s (${result.closedLoopNonSuccesses} not 200) |`,
      `| open-loop target (2x, ${openConnections} conns) | ${target}/s |`,
      `| successes in window | ${result.successesPerSecond.toFixed(0)}/s |`,
      `| share of 503 (of window answers) | ${(100 * result.shareOf503).toFixed(1)}% |`,
      `| success p50 from scheduled send | ${result.successP50MsFromScheduledSend.toFixed(1)} ms |`,
      `| success p99 from scheduled send | ${result.successP99MsFromScheduledSend.toFixed(1)} ms |`,
      `| RSS before / peak / ${afterSeconds} s after | ${mib(result.rssBeforeMiB)} / ${mib(result.rssPeakMiB)} / ${mib(result.rssAfterMiB)} |`,
      `| non-200 kinds | ${JSON.stringify(result.failureKinds)} |`,
      `| load average (1 min) | ${result.loadAverage1m.toFixed(1)} |`,
      '',
    ].join('\n'),
  );
  if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(result, null, 2));
} finally {
  clearInterval(rssSampler);
  server.kill('SIGTERM');
  await new Promise((done) => {
    const timer = setTimeout(() => server.kill('SIGKILL'), 20_000);
    server.once('exit', () => {
      clearTimeout(timer);
      done();
    });
  });
  rmSync(work, { recursive: true, force: true });
}
