/**
 * The memory replay store: the shared contract, then what only this adapter promises (sweeping,
 * exact Retry-After, the minimum retention of late claims, option checks).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryReplayStore,
  type MemoryReplayStoreOptions,
  minimumRetentionMs,
  ReplayStoreError,
} from '../../src/replay/index.js';
import { replayStoreContract } from './contract.js';

replayStoreContract('memory', async ({ clock, maxEntries }) => ({
  store: new MemoryReplayStore({ clock, maxEntries }),
  timeSource: 'clock',
}));

// The contract's real-time branch (what a Redis adapter runs), kept honest on the memory store.
replayStoreContract('memory on wall-clock time', async ({ maxEntries }) => ({
  store: new MemoryReplayStore({ maxEntries }),
  timeSource: 'real',
}));

describe('MemoryReplayStore', () => {
  const stores: MemoryReplayStore[] = [];
  let now = Date.UTC(2030, 0, 1);
  const clock = (): number => now;

  function open(options: Partial<MemoryReplayStoreOptions> = {}): MemoryReplayStore {
    const store = new MemoryReplayStore({ clock, maxEntries: 1_000, ...options });
    stores.push(store);
    return store;
  }

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    now = Date.UTC(2030, 0, 1);
  });

  it('sweep() frees expired claims and only those', async () => {
    const store = open();
    for (let i = 0; i < 10; i++) await store.claim('c', `short-${i}`, now + 1_000);
    for (let i = 0; i < 5; i++) await store.claim('c', `long-${i}`, now + 10_000);
    expect(store.size).toBe(15);
    expect(store.sweep()).toBe(0);
    now += 1_000;
    expect(store.sweep()).toBe(10);
    expect(store.size).toBe(5);
    now += 9_000;
    expect(store.sweep()).toBe(5);
    expect(store.size).toBe(0);
  });

  it('frees expired claims in expiry order whatever the insertion order', async () => {
    const store = open({ maxEntries: 5_000 });
    // A small deterministic generator: expiries in random order, with duplicates.
    let seed = 42;
    const next = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    const expiries: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const exp = now + 1_000 + (next() % 500) * 100;
      expiries.push(exp);
      expect(await store.claim('c', `jti-${i}`, exp)).toBe(true);
    }
    const start = now;
    for (let step = 0; step <= 510; step += 7) {
      now = start + step * 100;
      store.sweep();
      expect(store.size).toBe(expiries.filter((exp) => exp > now).length);
    }
    // Whatever is left is still a live claim.
    for (let i = 0; i < 2_000; i++) {
      const live = (expiries[i] as number) > now;
      expect(await store.claim('c', `jti-${i}`, now + 1_000)).toBe(!live);
    }
  });

  it('sweeps on claim, so a full store takes new claims once old ones expire', async () => {
    const store = open({ maxEntries: 3 });
    for (let i = 0; i < 3; i++) await store.claim('c', `jti-${i}`, now + 1_000);
    await expect(store.claim('c', 'x', now + 1_000)).rejects.toBeInstanceOf(ReplayStoreError);
    now += 1_000;
    expect(await store.claim('c', 'x', now + 1_000)).toBe(true);
    // The claim freed what expired in its own shard, and every shard only if that left the store
    // full; the shards are secret per store, so which it was is chance (a 1-in-20 flake when this
    // asserted 1 here). After a sweep only the live claim is left.
    expect(store.size).toBeLessThanOrEqual(3);
    store.sweep();
    expect(store.size).toBe(1);
  });

  it('sweeps on its timer while idle', async () => {
    const store = open({ sweepIntervalMs: 5 });
    await store.claim('c', 'jti', now + 1_000);
    now += 1_000;
    await vi.waitFor(() => expect(store.size).toBe(0), { timeout: 2_000, interval: 5 });
  });

  it('computes Retry-After from the earliest expiry, rounded up', async () => {
    const store = open({ maxEntries: 2 });
    await store.claim('c', 'late', now + 60_000);
    await store.claim('c', 'early', now + 10_500);
    const error = await store.claim('c', 'x', now + 60_000).catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(ReplayStoreError);
    expect((error as ReplayStoreError).retryAfterSeconds).toBe(11);
    now += 10_400;
    const later = await store.claim('c', 'x', now + 60_000).catch((reason: unknown) => reason);
    expect((later as ReplayStoreError).retryAfterSeconds).toBe(1);
  });

  // The store spreads its keys over 64 shards by a secret per-store function (round 27): which
  // claims share a shard is random, so each test below makes enough claims to span the shards
  // and asserts what must hold wherever the claims landed.
  it('counts, refuses when full and answers replays across all its shards', async () => {
    // One store per position of the earliest claim: wherever it landed, Retry-After is its.
    for (const earliestAt of [0, 137, 511, 999]) {
      const store = open({ maxEntries: 1_000 });
      for (let i = 0; i < 1_000; i++) {
        const expiry = i === earliestAt ? now + 10_500 : now + 60_000 + i;
        expect(await store.claim('c', `jti-${i}`, expiry)).toBe(true);
      }
      expect(store.size).toBe(1_000);
      const full = await store.claim('c', 'one-more', now + 60_000).catch((e: unknown) => e);
      expect(full).toBeInstanceOf(ReplayStoreError);
      expect((full as ReplayStoreError).failure).toBe('full');
      expect((full as ReplayStoreError).retryAfterSeconds).toBe(11);
      // Deciding a replay needs no room: every shard still answers while full.
      for (let i = 0; i < 1_000; i++)
        expect(await store.claim('c', `jti-${i}`, now + 1)).toBe(false);
      // The earliest claim expires: exactly one claim fits, in whichever shard it falls.
      now += 10_500;
      expect(await store.claim('c', 'one-more', now + 60_000)).toBe(true);
      await expect(store.claim('c', 'two-more', now + 60_000)).rejects.toBeInstanceOf(
        ReplayStoreError,
      );
      // The expired claim is forgotten: claiming it again is a new claim, with no room left.
      await expect(store.claim('c', `jti-${earliestAt}`, now + 60_000)).rejects.toBeInstanceOf(
        ReplayStoreError,
      );
      expect(store.size).toBe(1_000);
      now = Date.UTC(2030, 0, 1);
    }
  });

  it('frees the expired claims of every shard before it refuses as full', async () => {
    const store = open({ maxEntries: 1_000 });
    const start = now;
    for (let i = 0; i < 1_000; i++) await store.claim('c', `old-${i}`, start + 1_000 + i);
    // One old claim expires per millisecond, and one new claim takes its room: the new claim
    // lands in a random shard, mostly not the one of the claim it replaces, so the store must
    // find the expired claim wherever it is, and never refuse.
    for (let i = 0; i < 1_000; i++) {
      now = start + 1_000 + i;
      expect(await store.claim('c', `new-${i}`, now + 60_000)).toBe(true);
    }
    expect(store.size).toBe(1_000);
    // Full of the new claims; the old ones are forgotten (a new claim, refused for room).
    await expect(store.claim('c', 'old-0', now + 60_000)).rejects.toBeInstanceOf(ReplayStoreError);
    expect(await store.claim('c', 'new-0', now + 60_000)).toBe(false);
  });

  it('frees expired claims in the shard it claims in; sweep() frees them in every shard', async () => {
    const store = open({ maxEntries: 10_000 });
    for (let i = 0; i < 640; i++) await store.claim('c', `jti-${i}`, now + 1_000);
    now += 1_000;
    // One claim frees what expired in its own shard only (about 10 of the 640: one shard of 64),
    // so the count may still include expired claims of other shards until a sweep.
    expect(await store.claim('c', 'fresh', now + 1_000)).toBe(true);
    expect(store.size).toBeGreaterThan(1);
    const held = store.size;
    expect(held).toBeLessThanOrEqual(641);
    expect(store.sweep()).toBe(held - 1);
    expect(store.size).toBe(1);
  });

  it('holds a claim whose expiry is already past for the minimum retention', async () => {
    const store = open();
    expect(await store.claim('c', 'late', now - 60_000)).toBe(true);
    now += minimumRetentionMs - 1;
    expect(await store.claim('c', 'late', now + 5_000)).toBe(false);
    now += 1;
    expect(await store.claim('c', 'late', now + 5_000)).toBe(true);
  });

  it('frees memory on close', async () => {
    const store = open();
    await store.claim('c', 'jti', now + 1_000);
    await store.close();
    expect(store.size).toBe(0);
    expect(store.ready()).toBe(false);
  });

  it('remembers since its creation (or the start it is given), and says so for the restart fence', async () => {
    const store = open();
    now += 60_000;
    expect(await store.claim('c', 'j', now + 1_000)).toBe(true);
    // The record began when the store was made, not at its first claim.
    expect(store.rememberedSinceMs()).toBe(Date.UTC(2030, 0, 1));
    expect(open({ startedAtMs: 5 }).rememberedSinceMs()).toBe(5);
    expect(() => open({ startedAtMs: Number.NaN })).toThrow(TypeError);
  });

  it('rejects bad options with a TypeError', () => {
    for (const maxEntries of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new MemoryReplayStore({ maxEntries })).toThrow(TypeError);
    }
    for (const sweepIntervalMs of [0, -5, Number.NaN]) {
      expect(() => new MemoryReplayStore({ maxEntries: 1, sweepIntervalMs })).toThrow(TypeError);
    }
  });
});
