/**
 * When a failed token request is worth repeating, and how long to wait first: exponential backoff
 * with full jitter, stretched to the server's `Retry-After`, inside a total time budget.
 *
 * @see RFC 6749 §5.2 (error codes), RFC 9110 §10.2.3 (Retry-After), RFC 6585 §4 (429)
 */

export interface RetryPolicy {
  /** Token requests per getToken(), first one included (the replay retry comes on top). */
  readonly maxAttempts: number;
  /** Backoff ceiling of the first retry; doubles per retry. */
  readonly baseDelayMs: number;
  /** Largest single backoff (before `Retry-After` is applied). */
  readonly maxDelayMs: number;
  /** No retry starts once this much time has passed since the first attempt. */
  readonly maxTotalMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  maxAttempts: 4,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  maxTotalMs: 30_000,
};

/** Validates a partial policy over the defaults; misuse is a TypeError. */
export function resolveRetryPolicy(input: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...defaultRetryPolicy, ...input };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1 || policy.maxAttempts > 20)
    throw new TypeError('retry.maxAttempts must be an integer from 1 to 20');
  for (const name of ['baseDelayMs', 'maxDelayMs', 'maxTotalMs'] as const) {
    if (!Number.isFinite(policy[name]) || policy[name] < 0)
      throw new TypeError(`retry.${name} must be a non-negative number`);
  }
  return policy;
}

/** What one failed attempt looked like, for {@link isRetryable}. */
export interface AttemptFailure {
  /** No HTTP answer at all (connection, TLS, timeout). */
  readonly network: boolean;
  readonly status: number | undefined;
  readonly error: string;
}

/**
 * Transient failures only: no answer, a 5xx, a 429, or `temporarily_unavailable` (RFC 6749 §5.2
 * lets a server send it with any status). Every other OAuth error is a verdict; asking again
 * would get the same answer and, for `invalid_client`, look like credential stuffing.
 */
export function isRetryable(failure: AttemptFailure): boolean {
  if (failure.network) return true;
  if (failure.error === 'temporarily_unavailable') return true;
  const status = failure.status;
  return status !== undefined && (status >= 500 || status === 429);
}

/**
 * True for Tollgate's answer to a reused `jti` (`invalid_client`, "... was replayed ..."). A fresh
 * assertion is made for every attempt, so this means an earlier copy of the same request did
 * reach the server (a retried connection, a duplicating proxy): one more try with a new `jti` is
 * safe.
 */
export function isReplayRejection(error: string, description: string | undefined): boolean {
  return error === 'invalid_client' && description !== undefined && /replay/i.test(description);
}

/**
 * The wait before retry number `retry` (1 for the first retry): full jitter over an exponential
 * ceiling, so a fleet that failed together does not come back together; when the server named a
 * `Retry-After`, at least that, plus a little jitter for the same reason.
 */
export function retryDelayMs(
  retry: number,
  policy: RetryPolicy,
  random: () => number,
  retryAfterSeconds: number | undefined,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  const backoff = Math.floor(random() * ceiling);
  if (retryAfterSeconds === undefined) return backoff;
  return retryAfterSeconds * 1000 + Math.floor(random() * policy.baseDelayMs);
}
