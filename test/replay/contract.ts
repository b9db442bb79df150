/**
 * The contract every ReplayStore adapter passes (STYLE.md §14): run it from the adapter's test
 * file with a factory for fresh stores.
 *
 * Time: the contract owns a manual clock and hands it to the factory. An adapter that reads it
 * (memory) answers `timeSource: 'clock'` and the contract moves time instantly; an adapter on
 * real time (Redis computes TTLs on the server) answers `'real'` and the contract then uses short
 * expiries (one second) and really waits. Client ids are random per test, so a
 * shared Redis database needs no flushing between tests.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { type ReplayStore, ReplayStoreError } from '../../src/replay/index.js';

export interface ReplayStoreFactoryOptions {
  /** Epoch milliseconds, moved only by the contract; use it if the adapter can take a clock. */
  readonly clock: () => number;
  readonly maxEntries: number;
}

export interface ReplayStoreHarness {
  readonly store: ReplayStore;
  /** `'clock'` if the store reads `options.clock`, `'real'` if it runs on wall-clock time. */
  readonly timeSource: 'clock' | 'real';
}

export type ReplayStoreFactory = (
  options: ReplayStoreFactoryOptions,
) => Promise<ReplayStoreHarness>;

/**
 * Expiry for real-time adapters: short enough to wait out, and not below the one-second minimum
 * retention the port allows an adapter to apply to every claim.
 */
const shortExpiryMs = 1_000;
/** Margin past an expiry before a real-time adapter must have forgotten the claim. */
const realTimeMarginMs = 250;

interface Fixture {
  readonly store: ReplayStore;
  /** Whether time is the contract's manual clock (exact) or real time (approximate). */
  readonly manual: boolean;
  /** The store's notion of now. */
  now(): number;
  /** A lifetime that the test can wait out: long on a manual clock, short on real time. */
  readonly expiryMs: number;
  /** Lets `ms` pass for the store (instantly, or by sleeping on real time). */
  pass(ms: number): Promise<void>;
}

/** Registers the replay-store contract suite for one adapter. */
export function replayStoreContract(name: string, makeStore: ReplayStoreFactory): void {
  describe(`ReplayStore contract: ${name}`, () => {
    const opened: ReplayStore[] = [];

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    async function setup(maxEntries = 1_000): Promise<Fixture> {
      let manualNow = Date.UTC(2030, 0, 1);
      const harness = await makeStore({ clock: () => manualNow, maxEntries });
      opened.push(harness.store);
      if (harness.timeSource === 'clock') {
        return {
          store: harness.store,
          manual: true,
          now: () => manualNow,
          expiryMs: 60_000,
          pass: async (ms) => {
            manualNow += ms;
          },
        };
      }
      return {
        store: harness.store,
        manual: false,
        now: () => Date.now(),
        expiryMs: shortExpiryMs,
        pass: async (ms) => {
          await sleep(ms + realTimeMarginMs);
        },
      };
    }

    const newClient = (): string => `client-${randomUUID()}`;

    describe('claim', () => {
      it('answers true for a first claim and false for a replay', async () => {
        const { store, now, expiryMs } = await setup();
        const client = newClient();
        const exp = now() + expiryMs;
        expect(await store.claim(client, 'jti-1', exp)).toBe(true);
        expect(await store.claim(client, 'jti-1', exp)).toBe(false);
        expect(await store.claim(client, 'jti-1', exp + 10_000)).toBe(false);
      });

      it('keeps claims of different clients with the same jti independent', async () => {
        const { store, now, expiryMs } = await setup();
        const exp = now() + expiryMs;
        const a = newClient();
        const b = newClient();
        expect(await store.claim(a, 'shared-jti', exp)).toBe(true);
        expect(await store.claim(b, 'shared-jti', exp)).toBe(true);
        expect(await store.claim(a, 'shared-jti', exp)).toBe(false);
        expect(await store.claim(b, 'shared-jti', exp)).toBe(false);
      });

      it('keeps different jtis of one client independent', async () => {
        const { store, now, expiryMs } = await setup();
        const client = newClient();
        const exp = now() + expiryMs;
        expect(await store.claim(client, 'one', exp)).toBe(true);
        expect(await store.claim(client, 'two', exp)).toBe(true);
      });

      it('does not confuse pairs whose concatenation is the same', async () => {
        const { store, now, expiryMs } = await setup();
        const exp = now() + expiryMs;
        const prefix = newClient();
        expect(await store.claim(`${prefix}a:b`, 'c', exp)).toBe(true);
        expect(await store.claim(`${prefix}a`, 'b:c', exp)).toBe(true);
        expect(await store.claim(`${prefix}ab`, 'c', exp)).toBe(true);
        expect(await store.claim(`${prefix}a`, 'bc', exp)).toBe(true);
        expect(await store.claim(`${prefix}a`, ':bc', exp)).toBe(true);
        expect(await store.claim(`${prefix}a:`, 'bc', exp)).toBe(true);
        expect(await store.claim(`${prefix}1:a`, 'bc', exp)).toBe(true);
      });

      it('keeps jtis that differ only in a lone surrogate apart', async () => {
        const { store, now, expiryMs } = await setup();
        const client = newClient();
        const exp = now() + expiryMs;
        expect(await store.claim(client, 'x\uD800', exp)).toBe(true);
        expect(await store.claim(client, 'x\uFFFD', exp)).toBe(true);
        expect(await store.claim(client, 'x\uDC00', exp)).toBe(true);
      });

      it('accepts long jtis', async () => {
        const { store, now, expiryMs } = await setup();
        const client = newClient();
        const exp = now() + expiryMs;
        const long = 'j'.repeat(8_192);
        expect(await store.claim(client, long, exp)).toBe(true);
        expect(await store.claim(client, long, exp)).toBe(false);
        expect(await store.claim(client, `${long}x`, exp)).toBe(true);
      });

      it('rejects misuse with a TypeError', async () => {
        const { store, now, expiryMs } = await setup();
        const exp = now() + expiryMs;
        await expect(store.claim('', 'jti', exp)).rejects.toBeInstanceOf(TypeError);
        await expect(store.claim(newClient(), '', exp)).rejects.toBeInstanceOf(TypeError);
        await expect(store.claim(newClient(), 'jti', Number.NaN)).rejects.toBeInstanceOf(TypeError);
        await expect(
          store.claim(newClient(), 'jti', Number.POSITIVE_INFINITY),
        ).rejects.toBeInstanceOf(TypeError);
      });
    });

    describe('expiry', () => {
      it('allows the same jti again once the claim has expired', async () => {
        const { store, now, expiryMs, pass } = await setup();
        const client = newClient();
        expect(await store.claim(client, 'jti', now() + expiryMs)).toBe(true);
        expect(await store.claim(client, 'jti', now() + expiryMs)).toBe(false);
        await pass(expiryMs);
        expect(await store.claim(client, 'jti', now() + expiryMs)).toBe(true);
        expect(await store.claim(client, 'jti', now() + expiryMs)).toBe(false);
      });

      it('holds a claim until exactly its expiry, not a millisecond less', async () => {
        const fixture = await setup();
        const client = newClient();
        const exp = fixture.now() + fixture.expiryMs;
        expect(await fixture.store.claim(client, 'jti', exp)).toBe(true);
        // On real time "now" keeps moving, so only a manual clock can pin the last millisecond.
        if (fixture.manual) {
          await fixture.pass(fixture.expiryMs - 1);
          expect(await fixture.store.claim(client, 'jti', exp)).toBe(false);
          await fixture.pass(1);
          expect(await fixture.store.claim(client, 'jti', exp + 60_000)).toBe(true);
        }
      });

      it('still decides a claim whose expiry is already past, and holds it briefly', async () => {
        const { store, now } = await setup();
        const client = newClient();
        const past = now() - 5_000;
        expect(await store.claim(client, 'late', past)).toBe(true);
        expect(await store.claim(client, 'late', past)).toBe(false);
      });

      it('lets exactly one of concurrent claims of an already-expired jti through', async () => {
        const { store, now } = await setup();
        const client = newClient();
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.claim(client, 'late', now() - 1)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('concurrency', () => {
      for (const count of [20, 100]) {
        it(`gives exactly one true to ${count} concurrent claims of one jti`, async () => {
          const { store, now, expiryMs } = await setup();
          const client = newClient();
          const exp = now() + expiryMs;
          const results = await Promise.all(
            Array.from({ length: count }, () => store.claim(client, 'contested', exp)),
          );
          expect(results.filter((won) => won)).toHaveLength(1);
        });
      }

      it('gives true to each of many concurrent claims of distinct jtis', async () => {
        const { store, now, expiryMs } = await setup();
        const client = newClient();
        const exp = now() + expiryMs;
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => store.claim(client, `jti-${i}`, exp)),
        );
        expect(results.every((won) => won)).toBe(true);
      });
    });

    describe('bound', () => {
      const maxEntries = 5;

      /** Fills the store; the first claim expires first (after `expiryMs`), the rest much later. */
      async function fill(fixture: Fixture, client: string): Promise<void> {
        const start = fixture.now();
        for (let i = 0; i < maxEntries; i++) {
          const exp = start + (i === 0 ? fixture.expiryMs : 3_600_000 + i * 1_000);
          expect(await fixture.store.claim(client, `jti-${i}`, exp)).toBe(true);
        }
      }

      it('refuses a new claim at the bound with ReplayStoreError "full" and a Retry-After', async () => {
        const fixture = await setup(maxEntries);
        const client = newClient();
        await fill(fixture, client);
        const error = await fixture.store
          .claim(client, 'one-too-many', fixture.now() + fixture.expiryMs)
          .then(
            () => undefined,
            (reason: unknown) => reason,
          );
        expect(error).toBeInstanceOf(ReplayStoreError);
        const replayError = error as ReplayStoreError;
        expect(replayError.failure).toBe('full');
        expect(Number.isInteger(replayError.retryAfterSeconds)).toBe(true);
        expect(replayError.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        // Seconds until the earliest claim expires, rounded up.
        expect(replayError.retryAfterSeconds).toBeLessThanOrEqual(
          Math.max(1, Math.ceil(fixture.expiryMs / 1_000)),
        );
      });

      it('never evicts a live claim to make room', async () => {
        const fixture = await setup(maxEntries);
        const client = newClient();
        await fill(fixture, client);
        for (let attempt = 0; attempt < 3; attempt++) {
          await expect(
            fixture.store.claim(client, `extra-${attempt}`, fixture.now() + fixture.expiryMs),
          ).rejects.toBeInstanceOf(ReplayStoreError);
        }
        // Replays are still detected while full: deciding them needs no room.
        for (let i = 0; i < maxEntries; i++) {
          expect(await fixture.store.claim(client, `jti-${i}`, fixture.now() + 1_000)).toBe(false);
        }
      });

      it('makes room again once the earliest claim expires, and only that room', async () => {
        const fixture = await setup(maxEntries);
        const client = newClient();
        await fill(fixture, client);
        await fixture.pass(fixture.expiryMs);
        expect(await fixture.store.claim(client, 'after-expiry', fixture.now() + 60_000)).toBe(
          true,
        );
        await expect(
          fixture.store.claim(client, 'still-full', fixture.now() + 60_000),
        ).rejects.toMatchObject({ failure: 'full' });
        for (let i = 1; i < maxEntries; i++) {
          expect(await fixture.store.claim(client, `jti-${i}`, fixture.now() + 1_000)).toBe(false);
        }
      });
    });

    describe('lifecycle', () => {
      it('is ready until closed, closes idempotently and then fails closed', async () => {
        const { store, now, expiryMs } = await setup();
        expect(store.ready()).toBe(true);
        await store.close();
        await store.close();
        expect(store.ready()).toBe(false);
        const error = await store.claim(newClient(), 'jti', now() + expiryMs).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(ReplayStoreError);
        expect((error as ReplayStoreError).failure).toBe('unavailable');
      });
    });
  });
}
