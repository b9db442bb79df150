/**
 * Fixed-window rate limits in process memory (per instance). Windows are aligned to multiples of
 * their length, so every key's window resets at the same instant and stale keys are dropped
 * wholesale when a new window starts.
 *
 * Bound: at most `maxKeys` keys per window length in use (Tollgate uses one), each key at most
 * {@link maxStoredKeyLength} characters (longer keys, such as an attacker's 16 KiB client_id,
 * are stored as their SHA-256), so the store holds at most about `maxKeys` x 200 bytes
 * (20 MiB at the default 100,000; measured in test/rate-limit/memory.test.ts).
 *
 * Full never means "refuse everyone": keys live in two generations of at most `maxKeys / 2` each;
 * when the young one is full it becomes the old one and the previous old one is dropped, and a
 * key hit while old moves back to the young one. A spray of one-hit keys therefore evicts other
 * keys not hit since the last turnover, while every key that keeps being hit (a client's
 * traffic, a brute-forcer's failures) stays counted. The price of a spray is that rarely hit keys
 * may restart their count: limits loosen, they never refuse a stranger. Every operation is O(1)
 * (an LRU list over a Map that deletes from its front degrades to quadratic time in V8).
 */
import { createHash } from 'node:crypto';
import type { RateLimitDecision, RateLimitStore } from './types.js';

export interface MemoryRateLimitOptions {
  /** Epoch ms; Date.now by default. */
  readonly clock?: () => number;
  /** Most keys counted per window; past it, keys not hit recently are evicted. */
  readonly maxKeys?: number;
}

/** Keys longer than this are stored as `#` + base64url SHA-256 (44 characters). */
export const maxStoredKeyLength = 64;

export class MemoryRateLimitStore implements RateLimitStore {
  readonly #clock: () => number;
  readonly #maxKeys: number;
  readonly #generationSize: number;
  /** window length -> the window's start and its two generations of counts */
  readonly #windows = new Map<number, Window>();
  #evictions = 0;

  constructor(options: MemoryRateLimitOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 100_000;
    if (!Number.isSafeInteger(this.#maxKeys) || this.#maxKeys < 2) {
      throw new TypeError('MemoryRateLimitStore: maxKeys must be an integer of at least 2');
    }
    this.#generationSize = Math.floor(this.#maxKeys / 2);
  }

  /** Keys counted in all current windows (for tests and metrics). */
  get size(): number {
    let size = 0;
    for (const window of this.#windows.values()) size += window.young.size + window.old.size;
    return size;
  }

  /** Keys evicted to stay within `maxKeys` since start. */
  get evictions(): number {
    return this.#evictions;
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const now = this.#clock();
    const start = now - (now % windowMs);
    let window = this.#windows.get(windowMs);
    if (window === undefined || window.start !== start) {
      window = { start, young: new Map(), old: new Map() };
      this.#windows.set(windowMs, window);
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((start + windowMs - now) / 1000));
    const stored = storedKey(key);
    let count = window.young.get(stored);
    if (count === undefined) {
      count = window.old.get(stored);
      if (count !== undefined) window.old.delete(stored);
      if (window.young.size >= this.#generationSize) {
        this.#evictions += window.old.size;
        window.old = window.young;
        window.young = new Map();
      }
    }
    count = (count ?? 0) + 1;
    window.young.set(stored, count);
    return { allowed: count <= limit, count, retryAfterSeconds };
  }

  async close(): Promise<void> {
    this.#windows.clear();
  }
}

interface Window {
  readonly start: number;
  /** Keys counted since the last turnover. */
  young: Map<string, number>;
  /** Keys of the previous generation, dropped at the next turnover unless hit again. */
  old: Map<string, number>;
}

function storedKey(key: string): string {
  if (key.length <= maxStoredKeyLength && !key.startsWith('#')) return key;
  return `#${createHash('sha256').update(key, 'utf16le').digest('base64url')}`;
}
