/** Rate limits per client and per source address: the port, the in-memory and Redis adapters. */
export { type MemoryRateLimitOptions, MemoryRateLimitStore } from './memory.js';
export { type RedisRateLimitOptions, RedisRateLimitStore } from './redis.js';
export type { RateLimitDecision, RateLimitStore } from './types.js';
