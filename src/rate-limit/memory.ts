/**
 * Fixed-window rate limits in process memory (per instance). Windows are aligned to multiples of
 * their length, so every key's window resets at the same instant and stale keys are dropped
 * wholesale when a new window starts.
 */
import type { RateLimitDecision, RateLimitStore } from './types.js';

export interface MemoryRateLimitOptions {
  /** Epoch ms; Date.now by default. */
  readonly clock?: () => number;
  /** Most keys tracked per window; past it, new keys are counted as over the limit. */
  readonly maxKeys?: number;
}

export class MemoryRateLimitStore implements RateLimitStore {
  readonly #clock: () => number;
  readonly #maxKeys: number;
  /** window length -> { window start, counts } */
  readonly #windows = new Map<number, { start: number; counts: Map<string, number> }>();

  constructor(options: MemoryRateLimitOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    const now = this.#clock();
    const start = now - (now % windowMs);
    let window = this.#windows.get(windowMs);
    if (window === undefined || window.start !== start) {
      window = { start, counts: new Map() };
      this.#windows.set(windowMs, window);
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((start + windowMs - now) / 1000));
    const previous = window.counts.get(key);
    if (previous === undefined && window.counts.size >= this.#maxKeys) {
      // Bounded memory: an attacker spraying keys cannot grow the map; new keys wait a window.
      return { allowed: false, count: limit + 1, retryAfterSeconds };
    }
    const count = (previous ?? 0) + 1;
    window.counts.set(key, count);
    return { allowed: count <= limit, count, retryAfterSeconds };
  }

  async close(): Promise<void> {
    this.#windows.clear();
  }
}
