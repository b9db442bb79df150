/** One client's share of the replay store: past it that client waits, the others do not. */
import { describe, expect, it } from 'vitest';
import { limitClientShare, MemoryReplayStore, ReplayStoreError } from '../../src/replay/index.js';

describe('limitClientShare', () => {
  const setup = (maxPerClient: number, maxEntries = 100) => {
    let now = 1_000_000;
    const base = new MemoryReplayStore({ maxEntries, clock: () => now });
    const store = limitClientShare(base, { maxPerClient, clock: () => now });
    return { store, advance: (ms: number) => (now += ms), now: () => now };
  };

  it('refuses a client past its share with client_share and a Retry-After, others still claim', async () => {
    const { store, now } = setup(3);
    for (let i = 0; i < 3; i++) expect(await store.claim('a', `j${i}`, now() + 10_000)).toBe(true);
    const refused = await store.claim('a', 'j3', now() + 10_000).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ReplayStoreError);
    expect((refused as ReplayStoreError).failure).toBe('client_share');
    expect((refused as ReplayStoreError).retryAfterSeconds).toBe(10);
    expect(await store.claim('b', 'j0', now() + 10_000)).toBe(true);
    await store.close();
  });

  it('keeps the restart fence of the store it wraps', async () => {
    const { store } = setup(2);
    expect(store.rememberedSinceMs?.()).toBe(1_000_000);
    const redisLike = limitClientShare(
      { claim: async () => true, ready: () => true, close: async () => {} },
      { maxPerClient: 1, clock: () => 0 },
    );
    expect(redisLike.rememberedSinceMs).toBeUndefined();
    await store.close();
  });

  it('gives the room back as claims expire', async () => {
    const { store, now, advance } = setup(2);
    await store.claim('a', 'j0', now() + 5_000);
    await store.claim('a', 'j1', now() + 20_000);
    await expect(store.claim('a', 'j2', now() + 20_000)).rejects.toThrow(ReplayStoreError);
    advance(5_000);
    expect(await store.claim('a', 'j2', now() + 20_000)).toBe(true);
    await store.close();
  });

  it('counts concurrent claims exactly: no burst gets past the share', async () => {
    const { store, now } = setup(5);
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.claim('a', `j${i}`, now() + 10_000)),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(5);
    await store.close();
  });

  it('a replay is answered false and takes no share; a full store still fails as full', async () => {
    const { store, now } = setup(10, 2);
    expect(await store.claim('a', 'j0', now() + 10_000)).toBe(true);
    expect(await store.claim('a', 'j0', now() + 10_000)).toBe(false);
    expect(await store.claim('b', 'j0', now() + 10_000)).toBe(true);
    const full = await store.claim('c', 'j0', now() + 10_000).catch((error: unknown) => error);
    expect((full as ReplayStoreError).failure).toBe('full');
    expect(store.ready()).toBe(true);
    await store.close();
    expect(store.ready()).toBe(false);
  });

  it('refuses a misconfigured share', () => {
    const base = new MemoryReplayStore({ maxEntries: 1 });
    expect(() => limitClientShare(base, { maxPerClient: 0 })).toThrow(TypeError);
    void base.close();
  });
});
