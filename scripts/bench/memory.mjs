/**
 * Item 5: the memory replay store's footprint. Inserts N live claims (random UUID jtis, expiring
 * in an hour) into dist/replay's MemoryReplayStore and reports heap and RSS growth per entry,
 * after full garbage collections. Run with --expose-gc. Prints one JSON line.
 *
 * Usage: node --expose-gc memory.mjs [ENTRIES]
 */
import { randomUUID } from 'node:crypto';
import { MemoryReplayStore } from '../../dist/replay/index.js';

const entries = Number(process.argv[2] ?? 1_000_000);
if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
const settle = () => {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage();
};

const store = new MemoryReplayStore({ maxEntries: entries + 1, sweepIntervalMs: 3_600_000 });
const before = settle();
const expiresAtMs = Date.now() + 3_600_000;
const started = performance.now();
for (let i = 0; i < entries; i++) {
  if (!(await store.claim('bench-client', randomUUID(), expiresAtMs))) throw new Error('replay?');
}
const seconds = (performance.now() - started) / 1000;
const after = settle();
if (store.size !== entries) throw new Error(`store holds ${store.size}, expected ${entries}`);
process.stdout.write(
  `${JSON.stringify({
    entries,
    heapBytesPerEntry: (after.heapUsed - before.heapUsed) / entries,
    rssBytesPerEntry: (after.rss - before.rss) / entries,
    rssBeforeBytes: before.rss,
    rssAfterBytes: after.rss,
    heapUsedBeforeBytes: before.heapUsed,
    heapUsedAfterBytes: after.heapUsed,
    claimsPerSecond: entries / seconds,
  })}\n`,
);
await store.close();
