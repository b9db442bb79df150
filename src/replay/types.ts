/**
 * The replay store port: one atomic claim of a client assertion's `jti`.
 *
 * @see RFC 7523 §3 (item 7), DESIGN.md §3
 */

/**
 * Why a claim could not be decided: the store fails closed, never open. `client_share`: this
 * client holds its share of the store (see `limitClientShare`); answered 429, not 503.
 */
export type ReplayStoreFailure = 'full' | 'unavailable' | 'client_share';

/** Thrown when the store cannot decide a claim; the caller answers 503 and mints nothing. */
export class ReplayStoreError extends Error {
  readonly failure: ReplayStoreFailure;
  readonly retryAfterSeconds: number;

  constructor(
    failure: ReplayStoreFailure,
    message: string,
    retryAfterSeconds: number,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? {} : { cause });
    this.name = 'ReplayStoreError';
    this.failure = failure;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface ReplayStore {
  /**
   * Atomically records `(clientId, jti)` until `expiresAtMs` (epoch milliseconds).
   *
   * Returns `true` if this call made the claim, `false` if a live claim already existed (a replay).
   * Insert-if-absent in one step: never a find followed by a save. Throws {@link ReplayStoreError}
   * when it cannot decide (full, unreachable, closed); it never evicts an unexpired claim to make
   * room. The key is unambiguous: `('a:b', 'c')` and `('a', 'b:c')` are different claims.
   *
   * The caller passes the assertion's `exp` plus the clock tolerance, so `expiresAtMs` is normally
   * in the future. Every claim is held until `expiresAtMs` and for at least a short minimum (one
   * second): if `expiresAtMs` is already past (the request was validated just before the
   * deadline), the claim is still decided atomically, so concurrent copies cannot both pass, and
   * later copies fail the caller's own `exp` check.
   * An empty `clientId` or `jti`, or a non-finite `expiresAtMs`, is misuse: `TypeError`.
   */
  claim(clientId: string, jti: string, expiresAtMs: number): Promise<boolean>;

  /**
   * Since when (epoch ms) this store remembers every claim, when its memory does not survive a
   * restart; undefined for a store that outlives processes (Redis, whose losses are fenced
   * separately). The caller refuses an assertion issued before this instant: it may have been
   * spent with the process that came before, and nothing here could tell.
   */
  rememberedSinceMs?(): number | undefined;

  /** Whether the store can currently decide claims (for `/readyz`). */
  ready(): boolean;

  /**
   * Releases timers and connections. Idempotent; afterwards `ready()` is false and `claim`
   * rejects with {@link ReplayStoreError} `unavailable`.
   */
  close(): Promise<void>;
}
