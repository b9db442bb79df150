/**
 * A resource server's memory of DPoP proof `jti`s, per instance.
 *
 * Bound: at most `maxEntries` entries (default 100 000, about 20 MB at the longest `jti`). Each
 * entry lives until its proof's `iat` falls out of the acceptance window; when full, expired
 * entries go first and then the oldest, so a flood evicts instead of refusing strangers. An entry
 * is only written after the access token verified and its `cnf.jkt` matched the proof key, so only
 * holders of valid tokens and their keys can add entries at all. An evicted live entry reopens
 * that one proof to replay for the rest of its window (at most `maxAgeSeconds`): the trade
 * RFC 9449 §11.1 accepts for per-instance caches; use server nonces to shorten it.
 *
 * @see RFC 9449 §11.1
 */

export interface DpopJtiCacheOptions {
  readonly maxEntries?: number;
}

export const defaultDpopJtiCacheEntries = 100_000;

/** Per-instance single-use memory of proof ids, keyed by proof key and `jti`. */
export class DpopJtiCache {
  readonly #maxEntries: number;
  /** Insertion order is claim order: the first entries are the oldest. */
  readonly #entries = new Map<string, number>();

  constructor(options: DpopJtiCacheOptions = {}) {
    const max = options.maxEntries ?? defaultDpopJtiCacheEntries;
    if (!Number.isInteger(max) || max < 1)
      throw new TypeError('DpopJtiCache: maxEntries must be a positive integer');
    this.#maxEntries = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Claims `(jkt, jti)` until `untilMs`; false when a live claim exists (a replay). */
  claim(jkt: string, jti: string, untilMs: number, nowMs: number): boolean {
    const key = `${jkt}\0${jti}`;
    const existing = this.#entries.get(key);
    if (existing !== undefined && existing > nowMs) return false;
    this.#entries.delete(key);
    this.#entries.set(key, untilMs);
    if (this.#entries.size > this.#maxEntries) this.#evict(nowMs);
    return true;
  }

  #evict(nowMs: number): void {
    for (const [key, untilMs] of this.#entries) {
      if (untilMs <= nowMs) this.#entries.delete(key);
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
