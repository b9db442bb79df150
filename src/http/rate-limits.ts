/**
 * Rate limits on the token endpoint: requests per source address (before any work), requests
 * per authenticated client, and failed authentications per address and per claimed client_id.
 *
 * Counting happens in the configured store (memory per instance, or Redis shared by all). A
 * source that exceeds a failure limit is blocked locally until the window ends, so a blocked
 * brute-forcer costs a Map lookup, not a signature verification. A store that cannot decide lets
 * the request through (logged and counted): replay protection, not rate limiting, is the
 * security boundary, and a Redis outage must not take mTLS clients down.
 */
import { OAuthError } from '../errors/index.js';
import type { RateLimitStore } from '../rate-limit/index.js';

export interface RateLimitSettings {
  readonly windowSeconds: number;
  readonly perClient: number;
  readonly perAddress: number;
  readonly failedAuthPerAddress: number;
  readonly failedAuthPerClient: number;
}

export type LimitName = 'address' | 'client' | 'failed_auth_address' | 'failed_auth_client';

const maxBlocks = 100_000;

export class TokenRateLimits {
  readonly #store: RateLimitStore;
  readonly #settings: RateLimitSettings;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #onLimited: (limit: LimitName) => void;
  readonly #onStoreError: (error: unknown) => void;
  /** `kind:key` -> blocked until (epoch ms). */
  readonly #blocked = new Map<string, number>();

  constructor(options: {
    store: RateLimitStore;
    settings: RateLimitSettings;
    now?: () => number;
    onLimited?: (limit: LimitName) => void;
    onStoreError?: (error: unknown) => void;
  }) {
    this.#store = options.store;
    this.#settings = options.settings;
    this.#windowMs = options.settings.windowSeconds * 1000;
    this.#now = options.now ?? Date.now;
    this.#onLimited = options.onLimited ?? (() => {});
    this.#onStoreError = options.onStoreError ?? (() => {});
  }

  /** Before anything else: a blocked address, then the per-address request limit. */
  async beforeRequest(address: string): Promise<void> {
    this.#checkBlocked('failed_auth_address', address);
    await this.#count('address', `a:${address}`, this.#settings.perAddress);
  }

  /** As soon as the claimed client is known, before verifying anything: a blocked client_id. */
  checkClient(clientId: string): void {
    this.#checkBlocked('failed_auth_client', clientId);
  }

  /** After successful authentication: the per-client request limit. */
  async afterAuthentication(clientId: string): Promise<void> {
    await this.#count('client', `c:${clientId}`, this.#settings.perClient);
  }

  /** Counts a failed authentication; past a limit, the address or client is blocked for the window. */
  async authenticationFailed(address: string, claimedClientId: string | undefined): Promise<void> {
    await this.#countFailure('failed_auth_address', address, this.#settings.failedAuthPerAddress);
    if (claimedClientId !== undefined) {
      await this.#countFailure(
        'failed_auth_client',
        claimedClientId,
        this.#settings.failedAuthPerClient,
      );
    }
  }

  #checkBlocked(limit: LimitName, key: string): void {
    const until = this.#blocked.get(`${limit}:${key}`);
    if (until === undefined) return;
    const now = this.#now();
    if (until <= now) {
      this.#blocked.delete(`${limit}:${key}`);
      return;
    }
    this.#onLimited(limit);
    throw tooMany(Math.max(1, Math.ceil((until - now) / 1000)));
  }

  async #count(limit: LimitName, key: string, max: number): Promise<void> {
    let decision: Awaited<ReturnType<RateLimitStore['hit']>>;
    try {
      decision = await this.#store.hit(key, max, this.#windowMs);
    } catch (error) {
      this.#onStoreError(error);
      return;
    }
    if (!decision.allowed) {
      this.#onLimited(limit);
      throw tooMany(decision.retryAfterSeconds);
    }
  }

  async #countFailure(limit: LimitName, key: string, max: number): Promise<void> {
    try {
      const decision = await this.#store.hit(`f:${limit}:${key}`, max, this.#windowMs);
      if (decision.allowed) return;
      if (this.#blocked.size >= maxBlocks) this.#sweep();
      this.#blocked.set(`${limit}:${key}`, this.#now() + decision.retryAfterSeconds * 1000);
    } catch (error) {
      this.#onStoreError(error);
    }
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, until] of this.#blocked) if (until <= now) this.#blocked.delete(key);
    // Still full (a flood of distinct sources): forget the oldest blocks rather than grow.
    for (const key of this.#blocked.keys()) {
      if (this.#blocked.size < maxBlocks / 2) break;
      this.#blocked.delete(key);
    }
  }
}

function tooMany(retryAfterSeconds: number): OAuthError {
  return new OAuthError(
    'temporarily_unavailable',
    'rate_limited',
    'too many requests; retry later',
    {
      status: 429,
      retryAfterSeconds,
    },
  );
}
