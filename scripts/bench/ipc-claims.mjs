/**
 * IPC: what one replay claim costs `serve --workers N`, where every worker claims through the
 * node:cluster channel to the primary's memory store (dist/replay/ipc.js, the code the workers
 * run). One primary and one worker, 16 claims in flight, fresh `jti`s; CPU time (user + system)
 * of each process over the claims, per claim. Prints one JSON line.
 *
 * Usage: node ipc-claims.mjs [CLAIMS]
 */
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { MemoryReplayStore } from '../../dist/replay/index.js';
import { IpcReplayStore, serveReplayClaims } from '../../dist/replay/ipc.js';

const claims = Number(process.argv[2] ?? 100_000);
const inFlight = 16;

/** node:cluster's channel on either side, as src/cli/serve.ts and src/cli/workers.ts wrap it. */
function channelOf(endpoint, isOpen) {
  return {
    send: (message) => endpoint.send(message),
    on: (event, listener) => endpoint.on(event, listener),
    off: (event, listener) => endpoint.off(event, listener),
    isOpen,
  };
}

if (cluster.isPrimary) {
  const store = new MemoryReplayStore({ maxEntries: claims + 1 });
  const worker = cluster.fork({}, { stdio: 'inherit' });
  serveReplayClaims(
    store,
    channelOf(worker, () => worker.isConnected()),
  );
  let primaryStart;
  const timer = setTimeout(() => {
    worker.kill('SIGKILL');
    process.exit(1);
  }, 120_000);
  worker.on('message', (message) => {
    if (message?.type === 'bench:start') primaryStart = process.cpuUsage();
    if (message?.type !== 'bench:done') return;
    const primary = process.cpuUsage(primaryStart);
    clearTimeout(timer);
    process.stdout.write(
      `${JSON.stringify({
        claims,
        inFlight,
        workerCpuUsPerClaim: message.cpuUs / claims,
        primaryCpuUsPerClaim: (primary.user + primary.system) / claims,
        claimsPerSecond: claims / (message.wallMs / 1000),
      })}\n`,
    );
    worker.kill();
    void store.close();
  });
} else {
  const store = new IpcReplayStore(channelOf(process, () => process.connected));
  process.send({ type: 'bench:start' });
  const started = performance.now();
  const cpu = process.cpuUsage();
  let next = 0;
  const lane = async () => {
    while (next < claims) {
      next++;
      if (!(await store.claim('bench-client', randomUUID(), Date.now() + 3_600_000))) {
        throw new Error('a fresh jti was refused');
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const used = process.cpuUsage(cpu);
  process.send({
    type: 'bench:done',
    cpuUs: used.user + used.system,
    wallMs: performance.now() - started,
  });
}
