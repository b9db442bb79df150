/**
 * Fixed-window rate limits on Redis, shared by every instance (DESIGN.md §4): the same windows
 * as the memory store (aligned to multiples of their length), counted in Redis so that N
 * instances enforce one limit, not N.
 */
import { createHash } from 'node:crypto';
import {
  defineLuaCommand,
  isCommandTimeout,
  isStuck,
  type LuaCommand,
  markStuck,
  type RedisConnection,
  watchReplies,
} from '../replay/redis.js';
import type { RateLimitDecision, RateLimitStore } from './types.js';

export interface RedisRateLimitOptions {
  /** The client (shared with the replay store; see `createRedisClient`). The caller closes it. */
  readonly client: RedisConnection;
  /** Prefix of every key (`<prefix>rl:<windowMs>:<windowStart>:<key>`). */
  readonly keyPrefix: string;
  /** Epoch ms; Date.now by default. Picks the window; Redis only counts. */
  readonly clock?: () => number;
}

/**
 * INCR, and on the first hit of a window an expiry, atomically: a counter can never be left
 * without a TTL (which a crash between two separate commands could do). The expiry is relative
 * (`PEXPIRE`): a Redis clock ahead of Tollgate's cannot expire a live window early (`PEXPIREAT`
 * in the past deletes the key, which would reset the count on every hit).
 * KEYS: the counter. ARGV: ms until the window ends. Returns the count, this hit included.
 */
const hitLua = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

/** Margin on top of a window's remaining time, so instance clock skew never cuts a window short. */
const expiryMarginMs = 1_000;
/** Longest key kept readable in Redis; longer (or `#`-prefixed) keys are hashed. */
const maxRawKeyLength = 128;

/**
 * A {@link RateLimitStore} on Redis. Throws (ioredis errors) when Redis cannot answer; callers
 * fail open for rate limits, so a Redis outage never blocks mTLS clients.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly #keyPrefix: string;
  readonly #clock: () => number;
  readonly #client: RedisConnection;
  readonly #hit: LuaCommand;

  constructor(options: RedisRateLimitOptions) {
    if (typeof options.keyPrefix !== 'string') {
      throw new TypeError('RedisRateLimitStore: keyPrefix must be a string');
    }
    this.#keyPrefix = options.keyPrefix;
    this.#clock = options.clock ?? Date.now;
    this.#client = options.client;
    this.#hit = defineLuaCommand(options.client, 'tollgateRateLimitHit', 1, hitLua);
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitDecision> {
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
      throw new TypeError('RedisRateLimitStore.hit: windowMs must be a positive integer');
    }
    const now = this.#clock();
    const start = now - (now % windowMs);
    const leftMs = start + windowMs - now;
    const redisKey = `${this.#keyPrefix}rl:${windowMs}:${start}:${storedKey(key)}`;
    // Redis just timed out on this client: fail now (callers let the request through) rather than
    // add a command timeout to every token request while Redis is stuck.
    if (isStuck(this.#client)) throw new Error('Redis is not answering (recent command timeout)');
    let count: unknown;
    const watch = watchReplies(this.#client);
    try {
      count = await this.#hit([redisKey], [leftMs + expiryMarginMs]);
    } catch (error) {
      // Only a Redis that stayed silent is stuck; a timeout of this process's own stall is not.
      if (isCommandTimeout(error) && (await watch.silent())) markStuck(this.#client);
      throw error;
    }
    if (typeof count !== 'number') {
      throw new Error(`Redis answered a rate-limit hit unexpectedly: ${JSON.stringify(count)}`);
    }
    return {
      allowed: count <= limit,
      count,
      retryAfterSeconds: Math.max(1, Math.ceil(leftMs / 1000)),
    };
  }

  /** The client is shared and owned by whoever made it; nothing to release here. */
  async close(): Promise<void> {}
}

/**
 * A rate-limit key as stored: short keys verbatim (readable in `redis-cli`), long ones as
 * `#<SHA-256>` so a client_id an attacker chose cannot make Redis keys large. A short key that
 * itself starts with `#` is hashed too, so the two forms never collide.
 */
function storedKey(key: string): string {
  if (key.length <= maxRawKeyLength && !key.startsWith('#')) return key;
  return `#${createHash('sha256').update(key, 'utf16le').digest('base64url')}`;
}
