/**
 * The in-memory replay store: the default for one instance (DESIGN.md §4).
 *
 * Layout, chosen for a small, bounded footprint per live claim and a short worst case per claim:
 * - keys are fixed-size (base64url SHA-256 of the unambiguous `(clientId, jti)` encoding), so a
 *   long `jti` cannot make an entry large;
 * - the keys are spread over 64 shards by a secret function of their leading characters
 *   ({@link shardTable}). Each shard has a `Set` of its live keys and a binary min-heap of their
 *   expiries in two parallel arrays (unboxed doubles and the same key strings), so sweeping pops
 *   exactly the expired claims. There is no per-entry object.
 * Why shards (round 27, docs/benchmarks.md): a V8 `Set` copies its whole table when it grows
 * or when deleted slots fill it, and under churn (new claims in, expired ones out) that happened
 * every few hundred thousand claims: one claim took 60-110 ms at 800,000 live keys, and every
 * request queued behind it waited as long. A shard rehashes and grows only its own 1/64 of the
 * keys (1-3 ms at that size), and its heap arrays grow only their own 1/64 too. The
 * secret shard function keeps a client from choosing `jti`s that pile its claims into one shard,
 * and so keeps each `Set` far below V8's limit of 2^24 entries per `Set` (the configuration
 * allows up to 100,000,000 entries: about 1.6 million per shard).
 *
 * A claim first pops what has expired from its own shard, so a key in the shard it looks in is
 * always an unexpired claim, and each key is in its shard's heap exactly once. Expired claims of
 * other shards wait for a claim in their shard, the sweep timer, or a full store (which sweeps
 * every shard before it refuses); they count towards `maxEntries` until then.
 *
 * Bound: `maxEntries` live claims, about 110 bytes of heap each (docs/benchmarks.md, MEM).
 *
 * Restarts: the claims die with the process. The store records when it started
 * ({@link MemoryReplayStore.rememberedSinceMs}); the assertion check refuses anything issued
 * before that, so an assertion spent just before a restart, deploy or crash is not accepted again
 * after it (the client signs a fresh one).
 *
 * @see RFC 7523 §3 (item 7), DESIGN.md §3
 */
import { hash, randomBytes } from 'node:crypto';
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

/** Shards of a memory store: a power of two, at most 256 (the shard tables hold bytes). */
const shardCount = 64;
/** How many leading characters of a key choose its shard. */
const shardChars = 8;

/**
 * A store's secret shard function: one table of random shard numbers per leading character
 * position (tabulation hashing; a key's characters are base64url, below 128). Keys are plain
 * SHA-256 digests a client can compute for its own `jti`s; without the tables it cannot tell
 * which shard a key goes to, and keys that share all eight leading characters (the only way to
 * land together whatever the tables) cost about 2^48 hashes each to find.
 */
function shardTable(): Uint8Array {
  const table = randomBytes(shardChars * 128);
  for (let i = 0; i < table.length; i++) table[i] = (table[i] as number) & (shardCount - 1);
  return table;
}

/**
 * One shard: its live keys and a binary min-heap of their expiries (`expiry` holds unboxed
 * doubles, `keys` the same key strings, in heap order).
 */
class Shard {
  readonly live = new Set<string>();
  readonly expiry: number[] = [];
  readonly keys: string[] = [];

  /** Frees this shard's claims that expire at or before `now`; returns how many. */
  sweepUntil(now: number): number {
    let removed = 0;
    const expiry = this.expiry;
    while (expiry.length > 0 && (expiry[0] as number) <= now) {
      this.live.delete(this.#pop());
      removed++;
    }
    return removed;
  }

  add(key: string, expiresAtMs: number): void {
    this.live.add(key);
    const expiry = this.expiry;
    const keys = this.keys;
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

  clear(): void {
    this.live.clear();
    this.expiry.length = 0;
    this.keys.length = 0;
  }

  /** Removes the root; the caller has checked the heap is not empty. */
  #pop(): string {
    const expiry = this.expiry;
    const keys = this.keys;
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
 * A {@link ReplayStore} in process memory, bounded by `maxEntries`.
 *
 * When full (after freeing expired claims) a new claim throws `ReplayStoreError('full')` with
 * `retryAfterSeconds` until the earliest claim expires; a replay of a live claim is still answered
 * `false` when full, since deciding it needs no room.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #maxEntries: number;
  readonly #clock: () => number;
  readonly #shards: Shard[] = Array.from({ length: shardCount }, () => new Shard());
  readonly #shardTable = shardTable();
  /** Claims held over all shards: the live ones, and expired ones not freed yet. */
  #count = 0;
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

  /**
   * Number of claims held: the live ones, and expired ones that are not freed yet. A claim frees
   * what expired in its own shard; {@link sweep} (on a timer, and before refusing a claim as
   * full) frees it everywhere, so right after a sweep this is the number of live claims.
   */
  get size(): number {
    return this.#count;
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
    const key = replayKey(clientId, jti);
    const shard = this.#shardOf(key);
    // Only this shard decides whether the key is live: free what expired in it first, so a key
    // in it is always an unexpired claim. The other shards keep theirs until they are claimed in
    // or swept: one shard's expiry check per claim instead of every shard's.
    this.#count -= shard.sweepUntil(now);
    if (shard.live.has(key)) return false;

    if (this.#count >= this.#maxEntries) {
      // The count includes expired claims of other shards: free those before refusing.
      this.#sweepUntil(now);
      if (this.#count >= this.#maxEntries) {
        // Never evict a live claim: doing so would reopen a replay window. Refuse, fail closed.
        const retryAfterSeconds = Math.max(1, Math.ceil((this.#earliestExpiry() - now) / 1000));
        throw new ReplayStoreError(
          'full',
          `The replay store holds its maximum of ${this.#maxEntries} live claims.`,
          retryAfterSeconds,
        );
      }
    }

    shard.add(key, Math.max(expiresAtMs, now + minimumRetentionMs));
    this.#count++;
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
    for (const shard of this.#shards) shard.clear();
    this.#count = 0;
  }

  #shardOf(key: string): Shard {
    const table = this.#shardTable;
    let index = 0;
    for (let i = 0; i < shardChars; i++) index ^= table[(i << 7) | key.charCodeAt(i)] as number;
    return this.#shards[index] as Shard;
  }

  /** Frees what expired by `now` in every shard; returns how many. */
  #sweepUntil(now: number): number {
    let removed = 0;
    for (const shard of this.#shards) removed += shard.sweepUntil(now);
    this.#count -= removed;
    return removed;
  }

  /** The earliest expiry held in any shard (Infinity when empty). */
  #earliestExpiry(): number {
    let earliest = Number.POSITIVE_INFINITY;
    for (const shard of this.#shards) {
      const top = shard.expiry[0];
      if (top !== undefined && top < earliest) earliest = top;
    }
    return earliest;
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
