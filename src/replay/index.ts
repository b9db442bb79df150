/**
 * The replay store: atomic, expiring claims of client assertion `jti`s.
 *
 * @see RFC 7523 §3 (item 7), DESIGN.md §3
 */
export { type ClientShareOptions, limitClientShare } from './client-share.js';
export {
  MemoryReplayStore,
  type MemoryReplayStoreOptions,
  minimumRetentionMs,
} from './memory.js';
export {
  createRedisClient,
  type RedisClientOptions,
  type RedisConnection,
  RedisReplayStore,
  type RedisReplayStoreOptions,
} from './redis.js';
export {
  type ReplayStore,
  ReplayStoreError,
  type ReplayStoreFailure,
} from './types.js';
