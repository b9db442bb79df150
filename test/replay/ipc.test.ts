/**
 * The IPC replay store of `serve --workers N`: the shared contract over a real asynchronous
 * message channel (worker_threads MessageChannel: structured clone, as node:cluster's IPC
 * serializes), then what only this adapter promises: it fails closed when the primary is gone,
 * silent, or failing, and passes the primary's store errors on as they are.
 */
import { once } from 'node:events';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryReplayStore, type ReplayStore, ReplayStoreError } from '../../src/replay/index.js';
import {
  claimTimeoutMs,
  type IpcChannel,
  IpcReplayStore,
  serveReplayClaims,
} from '../../src/replay/ipc.js';
import { replayStoreContract } from './contract.js';

function channelOf(port: MessagePort, open: () => boolean = () => true): IpcChannel {
  return {
    send: (message) => {
      port.postMessage(message);
      return true;
    },
    on: (event, listener) => port.on(event, listener),
    off: (event, listener) => port.off(event, listener),
    isOpen: open,
  };
}

/** A worker-side store whose claims `primaryStore` decides across a real message channel. */
function connected(primaryStore: ReplayStore): { store: IpcReplayStore; close: () => void } {
  const { port1, port2 } = new MessageChannel();
  const stop = serveReplayClaims(primaryStore, channelOf(port1));
  const store = new IpcReplayStore(channelOf(port2));
  return {
    store,
    close: () => {
      stop();
      port1.close();
      port2.close();
    },
  };
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

replayStoreContract('ipc to a memory store', async ({ clock, maxEntries }) => {
  const primary = new MemoryReplayStore({ clock, maxEntries });
  const { store, close } = connected(primary);
  closers.push(close, () => void primary.close());
  return { store, timeSource: 'clock' };
});

describe('IpcReplayStore', () => {
  it('claims once across many workers of one primary', async () => {
    const primary = new MemoryReplayStore({ maxEntries: 100 });
    const workers = Array.from({ length: 4 }, () => connected(primary));
    closers.push(...workers.map((one) => one.close), () => void primary.close());
    const results = await Promise.all(
      workers.flatMap(({ store }) =>
        [1, 2, 3].map(() => store.claim('c', 'same-jti', Date.now() + 60_000)),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('passes the primary store errors on (full, with its Retry-After)', async () => {
    const primary = new MemoryReplayStore({ maxEntries: 1 });
    const { store, close } = connected(primary);
    closers.push(close, () => void primary.close());
    expect(await store.claim('c', 'one', Date.now() + 30_000)).toBe(true);
    const error = await store.claim('c', 'two', Date.now() + 30_000).catch((caught) => caught);
    expect(error).toBeInstanceOf(ReplayStoreError);
    expect(error).toMatchObject({ failure: 'full' });
    expect((error as ReplayStoreError).retryAfterSeconds).toBeGreaterThanOrEqual(29);
  });

  it('fails closed at once when the channel to the primary is closed', async () => {
    const { port2 } = new MessageChannel();
    const store = new IpcReplayStore(channelOf(port2, () => false));
    closers.push(() => port2.close());
    expect(store.ready()).toBe(false);
    await expect(store.claim('c', 'j', Date.now() + 1000)).rejects.toMatchObject({
      failure: 'unavailable',
    });
  });

  it('fails closed when the primary does not answer in time, and never answers true later', async () => {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', () => {}); // a primary that reads claims and never answers
    const store = new IpcReplayStore(channelOf(port2));
    closers.push(
      () => port1.close(),
      () => port2.close(),
    );
    await expect(store.claim('c', 'j', Date.now() + 1000)).rejects.toMatchObject({
      failure: 'unavailable',
    });
    // A late answer for that claim is ignored: the request already got its 503.
    port1.postMessage({ type: 'tollgate:replay-answer', id: 1, claimed: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }, 10_000);

  it("takes the primary's answer that came while this process was stalled past the timeout", async () => {
    // The primary runs on its own thread, so it answers while this thread is blocked. Before
    // the fix the claim's timer fired first (timers phase) and the claim failed with a 503 although
    // the primary had recorded the jti: the client's retry was then refused as a replay.
    const { port1, port2 } = new MessageChannel();
    const answered = new Int32Array(new SharedArrayBuffer(4));
    // The primary's module is TypeScript: the thread registers tsx first (a data: URL entry).
    const entry = new URL('./ipc-primary-thread.ts', import.meta.url).href;
    const tsx = new URL('../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href;
    const boot = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
    const primary = new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), {
      workerData: { port: port1, answered },
      transferList: [port1],
    });
    closers.push(
      () => void primary.terminate(),
      () => port2.close(),
    );
    await once(primary, 'message');
    const store = new IpcReplayStore(channelOf(port2));
    const claim = store.claim('c', 'stalled', Date.now() + 60_000);
    // Block this thread (a stall: starved CPU, long GC) until the primary has answered and
    // past the claim's timeout; the guard only bounds a primary that never answers.
    const stalledAt = Date.now();
    Atomics.wait(answered, 0, 0, 60_000);
    expect(Atomics.load(answered, 0), 'the primary answered').toBe(1);
    const rest = claimTimeoutMs + 200 - (Date.now() - stalledAt);
    if (rest > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, rest);
    await expect(claim).resolves.toBe(true);
    await expect(store.claim('c', 'stalled', Date.now() + 60_000)).resolves.toBe(false);
  }, 90_000);

  it('rejects misuse and, once closed, every claim', async () => {
    const primary = new MemoryReplayStore({ maxEntries: 10 });
    const { store, close } = connected(primary);
    closers.push(close, () => void primary.close());
    await expect(store.claim('', 'j', 1)).rejects.toBeInstanceOf(TypeError);
    await expect(store.claim('c', '', 1)).rejects.toBeInstanceOf(TypeError);
    await expect(store.claim('c', 'j', Number.NaN)).rejects.toBeInstanceOf(TypeError);
    await store.close();
    await store.close();
    expect(store.ready()).toBe(false);
    await expect(store.claim('c', 'j', Date.now() + 1000)).rejects.toMatchObject({
      failure: 'unavailable',
    });
  });
});
