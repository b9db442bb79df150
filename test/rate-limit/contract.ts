/**
 * The contract every RateLimitStore adapter passes (STYLE.md §14): fixed windows aligned to
 * multiples of their length, counted per key and per window length. The contract owns a manual
 * clock; adapters pick the window from it (Redis only counts and expires), so no test sleeps.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { RateLimitStore } from '../../src/rate-limit/index.js';

/** Makes a fresh, empty store reading `clock` (epoch ms). */
export type RateLimitStoreFactory = (clock: () => number) => Promise<RateLimitStore>;

/** A window start far from the epoch, so `start + offset` arithmetic is exercised for real. */
const windowMs = 60_000;
const base = Date.UTC(2030, 0, 1);

/** Registers the rate-limit contract suite for one adapter. */
export function rateLimitStoreContract(name: string, makeStore: RateLimitStoreFactory): void {
  describe(`RateLimitStore contract: ${name}`, () => {
    const opened: RateLimitStore[] = [];
    let now = base;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      now = base;
    });

    async function open(): Promise<RateLimitStore> {
      const store = await makeStore(() => now);
      opened.push(store);
      return store;
    }

    const newKey = (): string => `key-${randomUUID()}`;

    it('counts hits in a window and allows up to the limit', async () => {
      const store = await open();
      const key = newKey();
      const decisions = [];
      for (let i = 0; i < 4; i++) decisions.push(await store.hit(key, 2, windowMs));
      expect(decisions.map((d) => d.count)).toEqual([1, 2, 3, 4]);
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, false, false]);
    });

    it('answers Retry-After as the seconds left in the window, rounded up, at least 1', async () => {
      const store = await open();
      const key = newKey();
      now = base + 10_500;
      expect((await store.hit(key, 1, windowMs)).retryAfterSeconds).toBe(50);
      now = base + windowMs - 1;
      expect((await store.hit(key, 1, windowMs)).retryAfterSeconds).toBe(1);
    });

    it('aligns windows to multiples of their length: a new window starts from zero', async () => {
      const store = await open();
      const key = newKey();
      now = base + windowMs - 1;
      await store.hit(key, 1, windowMs);
      expect((await store.hit(key, 1, windowMs)).allowed).toBe(false);
      now = base + windowMs;
      const next = await store.hit(key, 1, windowMs);
      expect(next).toEqual({ allowed: true, count: 1, retryAfterSeconds: 60 });
    });

    it('counts keys and window lengths independently', async () => {
      const store = await open();
      const a = newKey();
      const b = newKey();
      await store.hit(a, 1, windowMs);
      expect((await store.hit(b, 1, windowMs)).count).toBe(1);
      expect((await store.hit(a, 1, 1_000)).count).toBe(1);
      expect((await store.hit(a, 1, windowMs)).count).toBe(2);
    });

    it('counts concurrent hits exactly once each', async () => {
      const store = await open();
      const key = newKey();
      const decisions = await Promise.all(
        Array.from({ length: 50 }, () => store.hit(key, 10, windowMs)),
      );
      expect(decisions.map((d) => d.count).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    });
  });
}
