/**
 * A primary for test/replay/ipc.test.ts's stall test, on its own thread (so its event loop runs
 * while the test's is blocked): the real `serveReplayClaims` over a memory store, answering on
 * the port it is given. After each answer it raises `answered` in shared memory, so the blocked
 * test knows the answer is waiting for it.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { serveReplayClaims } from '../../src/replay/ipc.js';
import { MemoryReplayStore } from '../../src/replay/memory.js';

const { port, answered } = workerData as { port: MessagePort; answered: Int32Array };
serveReplayClaims(new MemoryReplayStore({ maxEntries: 1_000 }), {
  send: (message) => {
    port.postMessage(message);
    Atomics.add(answered, 0, 1);
    Atomics.notify(answered, 0);
    return true;
  },
  on: (event, listener) => port.on(event, listener),
  off: (event, listener) => port.off(event, listener),
  isOpen: () => true,
});
parentPort?.postMessage('ready');
