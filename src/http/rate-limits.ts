/**
 * Rate limits on every endpoint that authenticates (/token, /introspect): requests per source
 * address (before any work), requests per authenticated client (after authentication), and
 * failed authentications per source address and per (source address, claimed client_id).
 *
 * What is never done, because it lets a stranger switch a client off (issue 12): failures are
 * never counted or blocked by the claimed client_id alone (client_ids are public; every token
 * carries one), a client's own quota is never spent before it has authenticated, and an unknown
 * client_id creates no per-id state (its failures count against the address only).
 *
 * Counting happens in the configured store (memory per instance, or Redis shared by all). A
 * source that exceeds a failure limit is blocked locally until the window ends, so a blocked
 * brute-forcer costs a Map lookup, not a signature verification. A store that cannot decide lets
 * the request through (counted; logged once per outage by the caller): replay protection, not
 * rate limiting, is the security boundary, and a Redis outage must not take mTLS clients down.
 *
 * Bound of the local block list: at most {@link maxBlocks} entries in two generations (a block
 * not looked at since the last turnover is forgotten first), each keyed by at most an address and
 * a 64-character client key: at most about 300 bytes each (measured 277 at the longest key, its
 * block object included), 30 MiB in all.
 *
 * A refused flood must not flood the log: only the first refusal of a source (or client) by a
 * limit in its window is audited; the rest are marked ({@link isRepeatedRefusal}) and only
 * counted, in `tollgate_rate_limited_total`. Before, every refused request wrote its audit line,
 * so a blocked source that costs a Map lookup per request could still write the log at its
 * request rate.
 */
import { createHash } from 'node:crypto';
import { OAuthError } from '../errors/index.js';
import type { RateLimitStore } from '../rate-limit/index.js';

export interface RateLimitSettings {
  readonly windowSeconds: number;
  readonly perClient: number;
  readonly perAddress: number;
  readonly failedAuthPerAddress: number;
  /** Failed authentications per (source address, claimed registered client_id). */
  readonly failedAuthPerClient: number;
}

/** Which limit refused a request (the `limit` label of the rate-limited metric). */
export type LimitName = 'address' | 'client' | 'failed_auth_address' | 'failed_auth_client';

/** Most local blocks held (both generations together). */
export const maxBlocks = 100_000;

/** A local block: until when, and whether a refusal under it has been audited already. */
interface Block {
  readonly until: number;
  reported: boolean;
}

/** Refusals that repeat an audited one (same limit, same key, same window): counted, not logged. */
const repeatedRefusals = new WeakSet<OAuthError>();

/**
 * Whether `error` is a rate-limit refusal of a source (or client) already refused, and audited,
 * by the same limit in the same window: the audit line is left out (the refusal is still counted).
 */
export function isRepeatedRefusal(error: unknown): boolean {
  return error instanceof OAuthError && repeatedRefusals.has(error);
}

export class TokenRateLimits {
  readonly #store: RateLimitStore;
  readonly #settings: RateLimitSettings;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #onLimited: (limit: LimitName) => void;
  readonly #onStoreError: (error: unknown) => void;
  readonly #onStoreOk: () => void;
  /** `limit:key` -> its block, in two generations (see the header). */
  #blocked = new Map<string, Block>();
  #blockedOld = new Map<string, Block>();

  constructor(options: {
    store: RateLimitStore;
    settings: RateLimitSettings;
    now?: () => number;
    onLimited?: (limit: LimitName) => void;
    /** The store could not decide (the request was let through). */
    onStoreError?: (error: unknown) => void;
    /** The store decided (lets the caller notice that an outage is over). */
    onStoreOk?: () => void;
  }) {
    this.#store = options.store;
    this.#settings = options.settings;
    this.#windowMs = options.settings.windowSeconds * 1000;
    this.#now = options.now ?? Date.now;
    this.#onLimited = options.onLimited ?? (() => {});
    this.#onStoreError = options.onStoreError ?? (() => {});
    this.#onStoreOk = options.onStoreOk ?? (() => {});
  }

  /** Before anything else: an address blocked for its own failures, then its request limit. */
  async beforeRequest(address: string): Promise<void> {
    const source = addressKey(address);
    this.#checkBlocked('failed_auth_address', source);
    await this.#count('address', `a:${source}`, this.#settings.perAddress);
  }

  /**
   * As soon as the claimed client is known, before verifying anything: is this address blocked
   * for this client (its own failures against it)? Other addresses' failures never count here.
   */
  checkClient(address: string, clientId: string): void {
    this.#checkBlocked('failed_auth_client', pairKey(addressKey(address), clientId));
  }

  /** After successful authentication: the client's own request quota. */
  async afterAuthentication(clientId: string): Promise<void> {
    await this.#count('client', `c:${clientKey(clientId)}`, this.#settings.perClient);
  }

  /**
   * Counts a failed authentication against the address, and against (address, client) when the
   * claimed client_id is registered; past a limit, that source is blocked for the window.
   */
  async authenticationFailed(
    address: string,
    registeredClientId: string | undefined,
  ): Promise<void> {
    const source = addressKey(address);
    await this.#countFailure('failed_auth_address', source, this.#settings.failedAuthPerAddress);
    if (registeredClientId !== undefined) {
      await this.#countFailure(
        'failed_auth_client',
        pairKey(source, registeredClientId),
        this.#settings.failedAuthPerClient,
      );
    }
  }

  #checkBlocked(limit: LimitName, key: string): void {
    const blockKey = `${limit}:${key}`;
    let block = this.#blocked.get(blockKey);
    if (block === undefined) {
      block = this.#blockedOld.get(blockKey);
      if (block === undefined) return;
      this.#blockedOld.delete(blockKey);
      this.#setBlock(blockKey, block);
    }
    const now = this.#now();
    if (block.until <= now) {
      this.#blocked.delete(blockKey);
      return;
    }
    this.#onLimited(limit);
    const error = tooMany(Math.max(1, Math.ceil((block.until - now) / 1000)));
    if (block.reported) repeatedRefusals.add(error);
    block.reported = true;
    throw error;
  }

  #setBlock(blockKey: string, block: Block): void {
    if (!this.#blocked.has(blockKey) && this.#blocked.size >= maxBlocks / 2) {
      this.#blockedOld = this.#blocked;
      this.#blocked = new Map();
    }
    this.#blocked.set(blockKey, block);
  }

  async #count(limit: LimitName, key: string, max: number): Promise<void> {
    let decision: Awaited<ReturnType<RateLimitStore['hit']>>;
    try {
      decision = await this.#store.hit(key, max, this.#windowMs);
    } catch (error) {
      this.#onStoreError(error);
      return;
    }
    this.#onStoreOk();
    if (!decision.allowed) {
      this.#onLimited(limit);
      const error = tooMany(decision.retryAfterSeconds);
      // The store counts refused hits too: the first refusal of the window is hit max + 1.
      if (decision.count > max + 1) repeatedRefusals.add(error);
      throw error;
    }
  }

  async #countFailure(limit: LimitName, key: string, max: number): Promise<void> {
    let decision: Awaited<ReturnType<RateLimitStore['hit']>>;
    try {
      decision = await this.#store.hit(`f:${limit}:${key}`, max, this.#windowMs);
    } catch (error) {
      this.#onStoreError(error);
      return;
    }
    this.#onStoreOk();
    if (!decision.allowed) {
      this.#setBlock(`${limit}:${key}`, {
        until: this.#now() + decision.retryAfterSeconds * 1000,
        reported: false,
      });
    }
  }
}

/**
 * The key an address is counted under: IPv4 as is, IPv6 by its /64 (one customer's allocation:
 * counting single IPv6 addresses would let one host spray 2^64 keys).
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return mapped;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

/** A client_id as a bounded key (client_ids are at most 255 characters, claimed ones are not). */
function clientKey(clientId: string): string {
  return clientId.length <= 64
    ? clientId
    : `#${createHash('sha256').update(clientId, 'utf16le').digest('base64url')}`;
}

function pairKey(source: string, clientId: string): string {
  return `${source}\u0000${clientKey(clientId)}`;
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
