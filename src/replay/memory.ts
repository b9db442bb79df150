/**
 * The in-memory replay store: the default for one instance (DESIGN.md §4).
 *
 * Layout, chosen for a small, bounded footprint per live claim:
 * - `#live`: a `Set` of fixed-size keys (base64url SHA-256 of the unambiguous `(clientId, jti)`
 *   encoding), so a long `jti` cannot make an entry large and lookups stay O(1);
 * - a binary min-heap of expiries in two parallel arrays (`#heapExpiry` holds unboxed doubles,
 *   `#heapKey` the same key strings), so sweeping pops exactly the expired claims in
 *   O(k log n) and the earliest expiry (for `Retry-After`) is O(1).
 * There is no per-entry object. Every claim first pops what has expired, so a key in `#live` is
 * always an unexpired claim and each key is in the heap exactly once.
 *
 * Restarts: the claims die with the process. The store records when it started
 * ({@link MemoryReplayStore.rememberedSinceMs}); the assertion check refuses anything issued
 * before that, so an assertion spent just before a restart, deploy or crash is not accepted again
 * after it (the client signs a fresh one).
 *
 * @see RFC 7523 §3 (item 7), DESIGN.md §3
 */
import { hash } from 'node:crypto';
import { type ReplayStore, ReplayStoreError } from './types.js';

/**
 * The least time any claim is held (`max(expiresAtMs, now + minimumRetentionMs)`); it matters for
 * a claim whose `expiresAtMs` is already past. The caller checks `exp`
 * before it claims, so such a claim is a benign race (the request was validated just before the
 * deadline); it must still be decided atomically so that two concurrent copies cannot both pass,
 * and any later copy is refused by the caller's own `exp` check.
 */
export const minimumRetentionMs = 1_000;

export interface MemoryReplayStoreOptions {
  /** The most live claims held at once; at the bound the store refuses, it never evicts. */
  readonly maxEntries: number;
  /** Epoch milliseconds; `Date.now` by default. */
  readonly clock?: () => number;
  /** Period of the background sweep that frees expired claims when traffic is idle. Default 10 s. */
  readonly sweepIntervalMs?: number;
  /**
   * Since when (epoch ms) this store's record is complete: its creation by default. Earlier only
   * where nothing could have been claimed before (tests of a long-running server).
   */
  readonly startedAtMs?: number;
}

/**
 * A {@link ReplayStore} in process memory, bounded by `maxEntries`.
 *
 * When full (after freeing expired claims) a new claim throws `ReplayStoreError('full')` with
 * `retryAfterSeconds` until the earliest claim expires; a replay of a live claim is still answered
 * `false` when full, since deciding it needs no room.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #maxEntries: number;
  readonly #clock: () => number;
  readonly #live = new Set<string>();
  readonly #heapExpiry: number[] = [];
  readonly #heapKey: string[] = [];
  readonly #startedAtMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: MemoryReplayStoreOptions) {
    const { maxEntries, clock = Date.now, sweepIntervalMs = 10_000 } = options;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('MemoryReplayStore: maxEntries must be a positive integer');
    }
    if (!Number.isFinite(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new TypeError('MemoryReplayStore: sweepIntervalMs must be a positive number');
    }
    this.#maxEntries = maxEntries;
    this.#clock = clock;
    this.#startedAtMs = options.startedAtMs ?? clock();
    if (!Number.isFinite(this.#startedAtMs)) {
      throw new TypeError('MemoryReplayStore: startedAtMs must be a finite number');
    }
    // unref: the sweep only frees memory; it must never keep the process alive on shutdown.
    this.#timer = setInterval(() => this.sweep(), sweepIntervalMs);
    this.#timer.unref();
  }

  /** Number of live (unexpired, as of the last sweep) claims held. */
  get size(): number {
    return this.#live.size;
  }

  /**
   * {@inheritDoc ReplayStore.claim}
   *
   * Atomic by construction: nothing awaits between the lookup and the insert. Misuse (an empty
   * `clientId` or `jti`, a non-finite `expiresAtMs`) rejects with a `TypeError`: the caller
   * validates `jti` before it gets here. Every claim is held for at least
   * {@link minimumRetentionMs}, so one whose `expiresAtMs` is already past is still decided.
   */
  async claim(clientId: string, jti: string, expiresAtMs: number): Promise<boolean> {
    if (typeof clientId !== 'string' || clientId === '') {
      throw new TypeError('MemoryReplayStore.claim: clientId must be a non-empty string');
    }
    if (typeof jti !== 'string' || jti === '') {
      throw new TypeError('MemoryReplayStore.claim: jti must be a non-empty string');
    }
    if (typeof expiresAtMs !== 'number' || !Number.isFinite(expiresAtMs)) {
      throw new TypeError('MemoryReplayStore.claim: expiresAtMs must be a finite number');
    }
    if (this.#closed) {
      throw new ReplayStoreError('unavailable', 'The replay store is closed.', 1);
    }
    const now = this.#clock();
    this.#sweepUntil(now);

    const key = replayKey(clientId, jti);
    if (this.#live.has(key)) return false;

    if (this.#live.size >= this.#maxEntries) {
      // Never evict a live claim: doing so would reopen a replay window. Refuse, fail closed.
      const earliest = this.#heapExpiry[0] ?? now;
      const retryAfterSeconds = Math.max(1, Math.ceil((earliest - now) / 1000));
      throw new ReplayStoreError(
        'full',
        `The replay store holds its maximum of ${this.#maxEntries} live claims.`,
        retryAfterSeconds,
      );
    }

    this.#live.add(key);
    this.#heapPush(Math.max(expiresAtMs, now + minimumRetentionMs), key);
    return true;
  }

  /**
   * {@inheritDoc ReplayStore.rememberedSinceMs}
   *
   * The store's creation: no claim made before it (by an earlier process) is known here.
   */
  rememberedSinceMs(): number {
    return this.#startedAtMs;
  }

  /** Frees every claim that has expired; returns how many. Runs on a timer and on each claim. */
  sweep(): number {
    return this.#sweepUntil(this.#clock());
  }

  ready(): boolean {
    return !this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    this.#live.clear();
    this.#heapExpiry.length = 0;
    this.#heapKey.length = 0;
  }

  #sweepUntil(now: number): number {
    let removed = 0;
    const expiry = this.#heapExpiry;
    while (expiry.length > 0 && (expiry[0] as number) <= now) {
      const key = this.#heapPop();
      this.#live.delete(key);
      removed++;
    }
    return removed;
  }

  #heapPush(expiresAtMs: number, key: string): void {
    const expiry = this.#heapExpiry;
    const keys = this.#heapKey;
    let i = expiry.length;
    expiry.push(expiresAtMs);
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const parentExpiry = expiry[parent] as number;
      if (parentExpiry <= expiresAtMs) break;
      expiry[i] = parentExpiry;
      keys[i] = keys[parent] as string;
      i = parent;
    }
    expiry[i] = expiresAtMs;
    keys[i] = key;
  }

  /** Removes the root; the caller has checked the heap is not empty. */
  #heapPop(): string {
    const expiry = this.#heapExpiry;
    const keys = this.#heapKey;
    const top = keys[0] as string;
    const lastExpiry = expiry.pop() as number;
    const lastKey = keys.pop() as string;
    const n = expiry.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && (expiry[right] as number) < (expiry[left] as number)) child = right;
      const childExpiry = expiry[child] as number;
      if (lastExpiry <= childExpiry) break;
      expiry[i] = childExpiry;
      keys[i] = keys[child] as string;
      i = child;
    }
    expiry[i] = lastExpiry;
    keys[i] = lastKey;
    return top;
  }
}

/**
 * The store key for `(clientId, jti)`: SHA-256 over `<length of clientId>:<clientId><jti>`.
 *
 * The length prefix makes the encoding unambiguous (`('a:b', 'c')` and `('a', 'b:c')` differ);
 * hashing UTF-16 code units (not UTF-8, which maps lone surrogates to U+FFFD) keeps it injective
 * for any JavaScript string; and the digest gives every entry the same small size, whatever the
 * length of the `jti` a client chose.
 */
function replayKey(clientId: string, jti: string): string {
  // One-shot hash: no Hash object per claim (the same digest as createHash().update().digest()).
  return hash(
    'sha256',
    Buffer.from(`${clientId.length}:${clientId}${jti}`, 'utf16le'),
    'base64url',
  );
}
