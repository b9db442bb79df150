/**
 * The memory rate-limit store: the shared contract, and its memory bound under a spray of
 * distinct keys (issue 12, attack 2: a full limiter must never refuse strangers).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { MemoryRateLimitStore } from '../../src/rate-limit/index.js';
import { maxStoredKeyLength } from '../../src/rate-limit/memory.js';
import { rateLimitStoreContract } from './contract.js';

rateLimitStoreContract('memory', async (clock) => new MemoryRateLimitStore({ clock }));

/** Forces a full garbage collection (V8's gc, exposed for this measurement only). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

const windowMs = 60_000;
/** The documented per-key bound (src/rate-limit/memory.ts header, docs/security.md). */
const bytesPerKey = 200;

describe('MemoryRateLimitStore bound', () => {
  it('holds 200,000 distinct keys in one window within maxKeys and its documented memory bound', async () => {
    const maxKeys = 100_000;
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    const store = new MemoryRateLimitStore({ clock: () => 1_000, maxKeys });
    // The worst case per entry: every key as long as a key is ever stored verbatim.
    const pad = 'x'.repeat(maxStoredKeyLength - 12);
    for (let i = 0; i < 200_000; i++) {
      const decision = await store.hit(`${pad}${String(i).padStart(12, '0')}`, 5, windowMs);
      // Full never refuses a new key.
      if (!decision.allowed) throw new Error(`key ${i} refused`);
    }
    collectGarbage();
    const grown = process.memoryUsage().heapUsed - before;
    console.log(
      `rate-limit store: ${store.size} keys, ${grown} bytes (${Math.round(grown / store.size)} per key)`,
    );
    expect(store.size).toBeLessThanOrEqual(maxKeys);
    expect(store.size + store.evictions).toBe(200_000);
    expect(grown).toBeLessThan(maxKeys * bytesPerKey);
    // Keep the store alive across the measurement.
    expect((await store.hit('after', 1, windowMs)).allowed).toBe(true);
  });

  it('stores attacker-sized keys as a digest: a 16 KiB client_id costs a 45-character key', async () => {
    const store = new MemoryRateLimitStore({ clock: () => 1_000, maxKeys: 1000 });
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) await store.hit(`${i}:${'c'.repeat(16_384)}`, 5, windowMs);
    collectGarbage();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(1000 * bytesPerKey);
    expect((await store.hit(`0:${'c'.repeat(16_384)}`, 5, windowMs)).count).toBe(2);
  });

  it('evicts keys not hit recently: a key that keeps being hit survives a spray', async () => {
    const store = new MemoryRateLimitStore({ clock: () => 1_000, maxKeys: 1000 });
    for (let i = 0; i < 10_000; i++) {
      if (i % 100 === 0) await store.hit('brute-forcer', 1_000, windowMs);
      await store.hit(`spray-${i}`, 1_000, windowMs);
    }
    const decision = await store.hit('brute-forcer', 1_000, windowMs);
    expect(decision.count).toBe(101);
    expect(store.size).toBeLessThanOrEqual(1000);
  });

  it('refuses a misconfigured bound', () => {
    expect(() => new MemoryRateLimitStore({ maxKeys: 0 })).toThrow(TypeError);
  });
});
