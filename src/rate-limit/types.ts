/**
 * The rate-limit port: fixed-window counters keyed by client or source address. One `hit`
 * counts one event and says whether it is within the limit.
 *
 * Fixed windows are simple and atomic in Redis (INCR + PEXPIRE); a burst of up to twice the
 * limit across a window edge is the documented price.
 */

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Count in the current window, this hit included. */
  readonly count: number;
  /** Seconds until the window resets (for `Retry-After`), at least 1. */
  readonly retryAfterSeconds: number;
}

export interface RateLimitStore {
  /**
   * Counts one event for `key` in the window of `windowMs` and decides it against `limit`.
   * Throws when the store cannot decide; callers fail open for rate limits (availability) but
   * log and count it, since replay protection, not rate limiting, is the security boundary.
   */
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision>;
  close(): Promise<void>;
}
