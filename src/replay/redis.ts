/**
 * The Redis replay store: one record of `jti` claims shared by every Tollgate instance
 * (DESIGN.md §4, "Past one machine"), plus the ioredis client factory the Redis adapters share.
 *
 * Why ioredis (not node-redis): it exposes exactly the failure knobs a fail-closed store needs
 * and keeps them per client: `enableOfflineQueue: false` (a claim is never parked while
 * disconnected), a per-command `commandTimeout`, `maxRetriesPerRequest` and
 * `autoResendUnfulfilledCommands` (a claim is never silently re-sent), a `retryStrategy` that
 * reconnects forever, and `defineCommand` for Lua scripts with EVALSHA and NOSCRIPT fallback.
 *
 * Failure model: every way Redis can fail to answer (down, restarting, frozen, slow, out of
 * memory) becomes `ReplayStoreError`, which the token endpoint answers with 503
 * `temporarily_unavailable` and `Retry-After`. A claim is only ever answered `true` by Redis.
 *
 * Data loss: a Redis that restarts empty (no persistence), is flushed, or fails over to an empty
 * replica forgets claims, which would let a replayed assertion through. The store detects it
 * with an epoch key (a random id written once, never expiring), checked on every new connection
 * and inside every claim: if the id this process saw before is gone, claims were lost, and every
 * instance fences itself (refuses every claim, fail closed, 503 with a Retry-After counting down)
 * until the last claim that could have been lost has expired; the fence is also written to Redis
 * so that instances started meanwhile honour it. Not covered: a replica that lags by a few writes
 * (same epoch), and a loss while no instance was running (a fresh process cannot tell it from a
 * first start). Run Redis with `appendonly yes` / `appendfsync always` and `maxmemory-policy
 * noeviction` (evicting a claim reopens a replay) to make the fence a rare event.
 *
 * @see RFC 7523 §3 (item 7), DESIGN.md §3 and §4
 */
import { hash, randomUUID } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { minimumRetentionMs } from './memory.js';
import { type ReplayStore, ReplayStoreError } from './types.js';

/** A connection to one Redis, to a Sentinel-managed primary, or to a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/** How Tollgate connects to Redis (the `redis` section of the config). */
export interface RedisClientOptions {
  /**
   * `redis://[user:pass@]host:port[/db]`, or `rediss://` for TLS. With `sentinels` or
   * `clusterNodes`, only its scheme, credentials and db are used.
   */
  readonly url: string;
  /**
   * Sentinels (`host:port`) that name the primary called {@link sentinelName}: the client asks
   * them for the primary, and again after a failover.
   */
  readonly sentinels?: readonly string[];
  /** The Sentinel-monitored primary's name (`sentinel monitor <name> ...`). */
  readonly sentinelName?: string;
  /** Redis Cluster seed nodes (`host:port`); the client discovers the rest. */
  readonly clusterNodes?: readonly string[];
  /** A TCP (and TLS) connect that takes longer is abandoned and retried. */
  readonly connectTimeoutMs: number;
  /** A command unanswered after this rejects (the caller fails closed or open, as it decides). */
  readonly commandTimeoutMs: number;
  /** Connection errors, for logs (they repeat while Redis is down). Without it they are dropped. */
  readonly onError?: (error: Error) => void;
}

/** Longest pause between reconnect attempts: recovery is noticed within about a second. */
const maxReconnectDelayMs = 1_000;

/**
 * An ioredis client tuned to fail fast: the Redis adapters (replay, rate limits) share one.
 *
 * - `enableOfflineQueue: false`: while not connected a command rejects at once instead of waiting
 *   in memory for a reconnect, so a token request gets its 503 now, never minutes later.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a command in flight
 *   when the connection drops rejects instead of being replayed on the next connection. Its
 *   outcome is unknown, and answering it later would be answering a request already refused.
 * - `retryStrategy`: reconnect forever, backing off linearly to one second, so instances recover
 *   on their own when Redis comes back (no restart).
 * - `connectTimeout` and `commandTimeout` from the config; `lazyConnect: false`, so the store is
 *   ready before the first assertion arrives (with the offline queue off, a lazy client would
 *   refuse that first request).
 * - `reconnectOnError` for `READONLY`: after a failover, a connection still pointing at the
 *   demoted primary is dropped and re-resolved rather than failing every write.
 */
export function createRedisClient(options: RedisClientOptions): RedisConnection {
  const { url, connectTimeoutMs, commandTimeoutMs, onError } = options;
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new TypeError('createRedisClient: url must be a redis:// or rediss:// URL');
  }
  for (const [name, value] of [
    ['connectTimeoutMs', connectTimeoutMs],
    ['commandTimeoutMs', commandTimeoutMs],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TypeError(`createRedisClient: ${name} must be a positive integer`);
    }
  }
  const failFast: RedisOptions = {
    connectionName: 'tollgate',
    // Concurrent claims and rate-limit hits share one write and one read syscall per event-loop
    // turn instead of one each: the same commands, fewer round trips under load.
    enableAutoPipelining: true,
    lazyConnect: false,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  };
  const parsed = new URL(url);
  const auth: RedisOptions = {
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const db = Number(parsed.pathname.slice(1) || '0');
  let client: RedisConnection;
  if (options.clusterNodes !== undefined && options.clusterNodes.length > 0) {
    client = new Cluster(options.clusterNodes.map(hostPort), {
      redisOptions: { ...failFast, ...auth },
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      enableReadyCheck: true,
      lazyConnect: false,
      // After a failover, MOVED and CLUSTERDOWN answers are retried once the slots are known
      // again, within the command timeout; a claim is never re-sent after its reply was lost.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnMoved: 0,
      maxRedirections: 4,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
      slotsRefreshTimeout: connectTimeoutMs,
    });
  } else if (options.sentinels !== undefined && options.sentinels.length > 0) {
    if (options.sentinelName === undefined || options.sentinelName === '') {
      throw new TypeError('createRedisClient: sentinels need a sentinelName');
    }
    client = new Redis({
      ...failFast,
      ...auth,
      db,
      sentinels: options.sentinels.map(hostPort),
      name: options.sentinelName,
      // Ask the sentinels again on every reconnect: that is how a failover is followed.
      sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
      failoverDetector: true,
    });
  } else {
    client = new Redis(url, failFast);
  }
  // Without a listener ioredis prints every connection error to the console.
  client.on('error', (error: Error) => onError?.(error));
  return client;
}

/** `host:port` (IPv6 as `[::1]:port`) as ioredis takes a node. */
function hostPort(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (match === null || !(port >= 1 && port <= 65_535)) {
    throw new TypeError(`createRedisClient: "${value}" is not host:port`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

/** A Lua script registered on a client (EVALSHA, falling back to EVAL after a Redis restart). */
export type LuaCommand = (
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<unknown>;

/** Registers `lua` as command `name` on `client`; idempotent for the same name and script. */
export function defineLuaCommand(
  client: RedisConnection,
  name: string,
  numberOfKeys: number,
  lua: string,
): LuaCommand {
  client.defineCommand(name, { numberOfKeys, lua });
  const command = (client as unknown as Record<string, unknown>)[name];
  if (typeof command !== 'function') {
    throw new TypeError(`defineLuaCommand: ioredis did not define ${name}`);
  }
  return (keys, args) =>
    (command as (...params: (string | number)[]) => Promise<unknown>).call(
      client,
      ...keys,
      ...args,
    );
}

/** Whether an ioredis error is a command timeout (Redis frozen, partitioned or overloaded). */
export function isCommandTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Command timed out';
}

/**
 * Watches the client's connections from the moment a command is sent, so that a command timeout
 * can be blamed on the right party. ioredis times a command with a timer; when this process
 * itself stalls (a long synchronous task, a GC pause, a starved CPU) past the timeout, the timer
 * fires in the timers phase before the poll phase has read a reply that Redis sent long before,
 * and a healthy Redis looked frozen: the circuit opened and the outage was logged.
 *
 * `silent()` is asked after a timeout: it lets the event loop take one more turn (a
 * `setImmediate`, which runs after the poll phase has read whatever the sockets hold) and then
 * says whether nothing at all has arrived from Redis since the command was sent. Silence is what
 * a frozen or partitioned Redis looks like, and only silence opens the circuit; a Redis whose
 * bytes arrived answered (late for the timer, or a little slow), so the command fails alone (the
 * caller still fails closed or open, as it decides) and Redis is not declared down.
 */
export interface ReplyWatch {
  silent(): Promise<boolean>;
}

/**
 * Starts a {@link ReplyWatch} on `client`; call it just before sending the command. On a Redis
 * Cluster every timeout counts as silence, as before: bytes from the other nodes would hide one
 * frozen shard, and which node a command went to is ioredis's to know.
 */
export function watchReplies(client: RedisConnection): ReplyWatch {
  if (client instanceof Cluster) return { silent: async () => true };
  const before = bytesReceived(client);
  return {
    silent: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      // Another count (more bytes, or a new connection counting from zero): Redis spoke.
      return bytesReceived(client) === before;
    },
  };
}

/** Bytes read so far on the connection to Redis (the primary's, behind Sentinel). */
function bytesReceived(client: Redis): number {
  return client.stream?.bytesRead ?? 0;
}

/**
 * A small circuit shared by the adapters on one client. A connection can stay open while Redis
 * answers nothing (frozen process, partition): ioredis still reports it ready, so each command
 * would wait its full timeout, and a token request would wait once per adapter. After one
 * timeout, adapters skip Redis for {@link stuckMs} (failing at once: closed for claims, open for
 * rate limits); the replay store's health check probes meanwhile and clears it on success.
 */
const stuckUntil = new WeakMap<RedisConnection, number>();
const stuckMs = 1_000;

/** Records that a command on `client` timed out. */
export function markStuck(client: RedisConnection): void {
  stuckUntil.set(client, Date.now() + stuckMs);
}

/** Whether a command on `client` timed out within the last {@link stuckMs}. */
export function isStuck(client: RedisConnection): boolean {
  return (stuckUntil.get(client) ?? 0) > Date.now();
}

function clearStuck(client: RedisConnection): void {
  stuckUntil.delete(client);
}

export interface RedisReplayStoreOptions extends Omit<RedisClientOptions, 'onError'> {
  /** Prefix of every key this store writes (`<prefix>jti:...`), so deployments can share a Redis. */
  readonly keyPrefix: string;
  /** A client to use instead of one made from `url` (shared with rate limits; the caller closes it). */
  readonly client?: RedisConnection;
  /**
   * Replicas that must have each claim before it counts (Redis `WAIT`, sent in the same round
   * trip). With a Sentinel or Cluster failover, a claim that only the old primary held would be
   * forgotten by the new one: with 1 here, no token is issued on a claim that a replica does not
   * hold, so a promoted replica still refuses the replay. 0 (default) for a single Redis.
   */
  readonly replicaAcks?: number;
  /** How long `WAIT` waits for {@link replicaAcks}; a claim not acknowledged in time fails closed. */
  readonly replicaAckTimeoutMs?: number;
  /**
   * Independent slices of the key space, each with its own hash tag, epoch and fence (default 16
   * on a Redis Cluster, 1 otherwise). A claim script touches only its slice's keys, which a hash
   * tag keeps on one cluster slot; a data loss on one shard fences only the slices it holds.
   */
  readonly slices?: number;
  /**
   * Most live claims held at once, across all instances; past it a new claim fails closed with
   * `ReplayStoreError('full')`. Protects a Redis shared with other data from being filled by
   * assertions. Unset: no count is kept (one `SET` per claim) and Redis `maxmemory` is the bound.
   */
  readonly maxEntries?: number;
  /**
   * After a detected data loss, how long every instance refuses claims, in ms: the longest a
   * claim made by *any* instance can live, i.e. the longest accepted assertion lifetime (over
   * all clients) plus the clock tolerance and the 10 s `iat` allowance. This process also fences
   * until its own latest claim has expired, whichever is later. Default
   * {@link defaultDataLossFenceMs}; pass the value computed from the configuration.
   */
  readonly dataLossFenceMs?: number;
  /** Epoch milliseconds; `Date.now` by default. Redis keeps its own time for expiry. */
  readonly clock?: () => number;
  /** Called when `ready()` changes (connect, disconnect, timeouts, fence), for logs and metrics. */
  readonly onStateChange?: (ready: boolean) => void;
  /** Called when a restart that lost claims is detected, with the ms claims will be refused. */
  readonly onDataLoss?: (fenceMs: number) => void;
  /** Connection errors of a client this store creates. */
  readonly onError?: (error: Error) => void;
  /** How often a healthy connection is re-checked (epoch and liveness). Default 5000 ms. */
  readonly healthCheckIntervalMs?: number;
}

/**
 * Default data-loss fence: the default longest assertion lifetime (300 s), the largest clock
 * tolerance (60 s) and the `iat` allowance (10 s).
 */
export const defaultDataLossFenceMs = 370_000;

/** Re-check delay after a failed check (the store is not ready meanwhile). */
const recheckDelayMs = 250;
/** Consecutive timed-out checks after which the connection is presumed dead and replaced. */
const timeoutsBeforeReconnect = 3;

/**
 * The claim, one atomic script. KEYS: claim key, index (sorted set of claim keys by expiry, only
 * with a bound), epoch, fence. ARGV: ttl ms, maxEntries (0: unbounded), the epoch this process
 * verified. Returns 1 (claimed), 0 (replay), {-1, ms until the earliest claim expires} (full),
 * {-2} (the epoch changed: Redis lost data since the last check), {-3, fence ms left} (fenced).
 *
 * The claim itself is `SET NX PX`: insert-if-absent and expiry in one step. Checking the epoch
 * in the same step means a Redis emptied under a live connection (FLUSHALL, a failover to an
 * empty replica) is noticed by the very next claim, not by the next periodic check. With a bound,
 * Redis time (`TIME`) orders the index, so instance clocks never mix in it; replays are decided
 * before fullness, so a full store still answers "replayed" for a live claim.
 */
const claimLua = `
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return {-2} end
local fence = redis.call('PTTL', KEYS[4])
if fence > 0 then return {-3, fence} end
local ttl = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
if max == 0 then
  if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl) then return 1 end
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= max then
  if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {-1, tonumber(first[2]) - now}
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl) then return 0 end
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`;

/**
 * Epoch check, run on every new connection and periodically. KEYS: epoch, fence.
 * ARGV: a fresh epoch id (used if none is stored), the epoch this process saw last ('' if none),
 * the fence in ms to raise if that epoch is gone. Returns {current epoch, fence ms left (<0: none)}.
 */
const epochCheckLua = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local fence = tonumber(ARGV[3])
if ARGV[2] ~= '' and ARGV[2] ~= epoch and fence > 0 and redis.call('PTTL', KEYS[2]) < fence then
  redis.call('SET', KEYS[2], '1', 'PX', fence)
end
return {epoch, redis.call('PTTL', KEYS[2])}
`;

/**
 * A {@link ReplayStore} on Redis, shared by every instance.
 *
 * A claim is `SET <prefix>jti:<key> 1 NX PX <ttl>`: insert-if-absent and expiry in one atomic
 * step, so two instances racing on one `jti` get one `OK` and one nil. It runs inside one Lua
 * script (EVALSHA: still one command, one round trip) that first checks the epoch and the fence
 * and, with `maxEntries`, keeps a count (see {@link claimLua}).
 *
 * The TTL is relative (`PX`, computed from this instance's clock), not absolute (`PXAT`): the
 * instance that checked the assertion's `exp` decides how long the claim lives, and a Redis host
 * whose clock runs ahead cannot expire claims early, which would open a replay window silently.
 *
 * Readiness: `ready()` is true only while the connection is up, the epoch check has passed on
 * this connection, no command has timed out since, and no data-loss fence is active. When not
 * ready, `claim` rejects at once without sending anything: requests get their 503 immediately,
 * not after a command timeout each.
 */
export class RedisReplayStore implements ReplayStore {
  readonly #client: RedisConnection;
  readonly #ownsClient: boolean;
  readonly #keyPrefix: string;
  readonly #maxEntriesPerSlice: number | undefined;
  readonly #maxEntries: number | undefined;
  #dataLossFenceMs: number;
  /**
   * Until when claims made under an earlier, longer fence may live: lowering the fence (a reload
   * that shortened a client's lifetime) must not shorten the cover for claims made before it.
   */
  #earlierFenceUntilMs = 0;
  readonly #clock: () => number;
  readonly #onStateChange: ((ready: boolean) => void) | undefined;
  readonly #onDataLoss: ((fenceMs: number) => void) | undefined;
  readonly #healthCheckIntervalMs: number;
  readonly #replicaAcks: number;
  readonly #replicaAckTimeoutMs: number;
  readonly #slices: number;
  readonly #claim: LuaCommand;
  readonly #epochCheck: LuaCommand;
  readonly #listeners: [event: string, listener: () => void][] = [];

  /** Per slice: the epoch id seen on the last successful check; undefined until the first. */
  readonly #epochs: (string | undefined)[];
  /** Per slice: refuse claims until then (a data loss was detected there). */
  readonly #fenceUntilMs: number[];
  /** Per slice: the latest expiry of any claim this process sent there (what a loss may forget). */
  readonly #horizonMs: number[];
  /**
   * Per slice: whether its epoch check has passed on the current connection. Per slice, so that
   * a Redis Cluster shard failing over stops only the slices it holds.
   */
  readonly #verified: boolean[];
  /** A command timed out; trust is restored by the next successful check. */
  #degraded = false;
  #consecutiveTimeouts = 0;
  #checking = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastReported: boolean | undefined;
  #closed = false;

  constructor(options: RedisReplayStoreOptions) {
    const {
      keyPrefix,
      maxEntries,
      dataLossFenceMs = defaultDataLossFenceMs,
      clock = Date.now,
      healthCheckIntervalMs = 5_000,
      replicaAcks = 0,
      replicaAckTimeoutMs = 100,
    } = options;
    if (typeof keyPrefix !== 'string') {
      throw new TypeError('RedisReplayStore: keyPrefix must be a string');
    }
    if (maxEntries !== undefined && (!Number.isSafeInteger(maxEntries) || maxEntries < 1)) {
      throw new TypeError('RedisReplayStore: maxEntries must be a positive integer');
    }
    if (!Number.isSafeInteger(dataLossFenceMs) || dataLossFenceMs < 0) {
      throw new TypeError('RedisReplayStore: dataLossFenceMs must be a non-negative integer');
    }
    if (!Number.isFinite(healthCheckIntervalMs) || healthCheckIntervalMs <= 0) {
      throw new TypeError('RedisReplayStore: healthCheckIntervalMs must be a positive number');
    }
    if (!Number.isSafeInteger(replicaAcks) || replicaAcks < 0 || replicaAcks > 16) {
      throw new TypeError('RedisReplayStore: replicaAcks must be an integer from 0 to 16');
    }
    if (!Number.isSafeInteger(replicaAckTimeoutMs) || replicaAckTimeoutMs < 1) {
      throw new TypeError('RedisReplayStore: replicaAckTimeoutMs must be a positive integer');
    }
    this.#ownsClient = options.client === undefined;
    this.#client =
      options.client ??
      createRedisClient({
        url: options.url,
        connectTimeoutMs: options.connectTimeoutMs,
        commandTimeoutMs: options.commandTimeoutMs,
        ...(options.onError === undefined ? {} : { onError: options.onError }),
      });
    const slices = options.slices ?? (this.#client instanceof Cluster ? 16 : 1);
    if (!Number.isSafeInteger(slices) || slices < 1 || slices > 256) {
      throw new TypeError('RedisReplayStore: slices must be an integer from 1 to 256');
    }
    if (slices > 1 && /[{}]/.test(keyPrefix)) {
      // The slice's hash tag must be the first {...} of every key.
      throw new TypeError('RedisReplayStore: keyPrefix must not contain { or } with slices');
    }
    this.#keyPrefix = keyPrefix;
    this.#maxEntries = maxEntries;
    this.#maxEntriesPerSlice =
      maxEntries === undefined ? undefined : Math.ceil(maxEntries / slices);
    this.#dataLossFenceMs = dataLossFenceMs;
    this.#clock = clock;
    this.#onStateChange = options.onStateChange;
    this.#onDataLoss = options.onDataLoss;
    this.#healthCheckIntervalMs = healthCheckIntervalMs;
    this.#replicaAcks = replicaAcks;
    this.#replicaAckTimeoutMs = replicaAckTimeoutMs;
    this.#slices = slices;
    this.#epochs = Array.from({ length: slices }, () => undefined);
    this.#fenceUntilMs = Array.from({ length: slices }, () => 0);
    this.#horizonMs = Array.from({ length: slices }, () => 0);
    this.#verified = Array.from({ length: slices }, () => false);
    this.#claim = defineLuaCommand(this.#client, claimCommand, 4, claimLua);
    this.#epochCheck = defineLuaCommand(this.#client, 'tollgateReplayEpoch', 2, epochCheckLua);

    this.#listen('ready', () => {
      this.#verified.fill(false);
      this.#consecutiveTimeouts = 0;
      this.#check();
    });
    // Any lost connection may come back to a different (restarted, emptied) Redis: re-verify.
    for (const event of ['close', 'reconnecting', 'end']) {
      this.#listen(event, () => {
        this.#verified.fill(false);
        this.#report();
      });
    }
    // A cluster stays 'ready' while a node is replaced: check the slices again now. (Meanwhile
    // each claim checks its slice's epoch itself, so an emptied new primary is still caught.)
    for (const event of ['+node', '-node']) this.#listen(event, () => this.#schedule(0));
    if (this.#client.status === 'ready') this.#check();
  }

  /**
   * {@inheritDoc ReplayStore.claim}
   *
   * Fails closed: when Redis cannot answer (not connected, timed out, out of memory, fenced
   * after a data loss, a claim not acknowledged by the required replicas) it throws
   * `ReplayStoreError` and the request gets 503; it never guesses. A claim whose reply is lost
   * may still have been recorded, so a client retrying after a 503 should sign a new assertion
   * (a new `jti`) rather than resend the old one.
   */
  async claim(clientId: string, jti: string, expiresAtMs: number): Promise<boolean> {
    if (typeof clientId !== 'string' || clientId === '') {
      throw new TypeError('RedisReplayStore.claim: clientId must be a non-empty string');
    }
    if (typeof jti !== 'string' || jti === '') {
      throw new TypeError('RedisReplayStore.claim: jti must be a non-empty string');
    }
    if (typeof expiresAtMs !== 'number' || !Number.isFinite(expiresAtMs)) {
      throw new TypeError('RedisReplayStore.claim: expiresAtMs must be a finite number');
    }
    if (this.#closed) {
      throw new ReplayStoreError('unavailable', 'The replay store is closed.', 1);
    }
    const id = replayKey(clientId, jti);
    const slice = this.#slices === 1 ? 0 : sliceOf(id, this.#slices);
    const now = this.#clock();
    if (now < (this.#fenceUntilMs[slice] as number)) throw this.#fenced(slice);
    if (isStuck(this.#client) && !this.#degraded) {
      // Another adapter on this client just timed out: do not wait for a timeout of our own.
      this.#degraded = true;
      this.#report();
      this.#schedule(recheckDelayMs);
    }
    if (!this.#trusted(slice)) {
      throw new ReplayStoreError('unavailable', 'Redis is not available for replay claims.', 1);
    }

    const ttlMs = Math.max(Math.ceil(expiresAtMs - now), minimumRetentionMs);
    // Counted before sending: a claim whose reply is lost may still be in Redis.
    this.#horizonMs[slice] = Math.max(this.#horizonMs[slice] as number, now + ttlMs);
    const keys = [
      this.#key(slice, `jti:${id}`),
      this.#key(slice, 'jti-index'),
      this.#key(slice, 'replay-epoch'),
      this.#key(slice, 'replay-fence'),
    ];
    const args = [ttlMs, this.#maxEntriesPerSlice ?? 0, this.#epochs[slice] ?? ''];
    let reply: unknown;
    let acks = Number.POSITIVE_INFINITY;
    const watch = watchReplies(this.#client);
    try {
      if (this.#replicaAcks === 0) reply = await this.#claim(keys, args);
      else [reply, acks] = await this.#claimAcknowledged(keys, args);
    } catch (error) {
      throw await this.#failure(error, watch);
    }
    if (reply === 1) {
      if (acks < this.#replicaAcks) {
        // Recorded on the primary only: a failover now could forget it, so no token on it.
        throw new ReplayStoreError(
          'unavailable',
          `The claim reached ${acks} of the ${this.#replicaAcks} Redis replicas required in time.`,
          1,
        );
      }
      return true;
    }
    if (reply === 0) return false;
    const [code, ms] = Array.isArray(reply) ? (reply as unknown[]) : [];
    if (code === -1 && typeof ms === 'number') {
      throw new ReplayStoreError(
        'full',
        `The replay store holds its maximum of ${this.#maxEntries} live claims.`,
        Math.max(1, Math.ceil(ms / 1000)),
      );
    }
    if (code === -2) {
      // Redis was emptied under this connection: re-check now, which detects it and fences.
      this.#verified[slice] = false;
      this.#report();
      this.#check();
      throw new ReplayStoreError('unavailable', 'Redis lost replay claims; re-verifying.', 1);
    }
    if (code === -3 && typeof ms === 'number') {
      this.#fenceUntilMs[slice] = Math.max(this.#fenceUntilMs[slice] as number, this.#clock() + ms);
      this.#report();
      this.#schedule(ms);
      throw this.#fenced(slice);
    }
    throw new ReplayStoreError(
      'unavailable',
      `Redis answered a replay claim unexpectedly: ${JSON.stringify(reply)}`,
      1,
    );
  }

  ready(): boolean {
    const now = this.#clock();
    return this.#verified.every(
      (_, slice) => this.#trusted(slice) && now >= (this.#fenceUntilMs[slice] as number),
    );
  }

  /**
   * Sets the data-loss fence to the longest a claim may now live, after a registry reload
   * changed a client's `max_assertion_lifetime` (see {@link RedisReplayStoreOptions.dataLossFenceMs}).
   * Raising takes effect at once, so a loss detected later covers claims with the new lifetime;
   * lowering keeps covering the claims made under the old value until they have expired.
   */
  setDataLossFenceMs(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new TypeError('RedisReplayStore: dataLossFenceMs must be a non-negative integer');
    }
    this.#earlierFenceUntilMs = Math.max(
      this.#earlierFenceUntilMs,
      this.#clock() + this.#dataLossFenceMs,
    );
    this.#dataLossFenceMs = ms;
  }

  /**
   * Waits until `ready()` or `timeoutMs` passes; resolves to `ready()`. For start-up and tests:
   * the store works without it (claims fail closed until ready).
   */
  async whenReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ready() && !this.#closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.ready();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const [event, listener] of this.#listeners.splice(0)) {
      this.#client.off(event, listener);
    }
    this.#report();
    if (!this.#ownsClient) return;
    try {
      if (this.#client.status === 'ready') await this.#client.quit();
    } catch {
      // Quitting is a courtesy; the disconnect below is what frees the socket and timers.
    } finally {
      this.#client.disconnect();
    }
  }

  /**
   * The claim script and `WAIT` in one pipeline: one round trip, and on a cluster the same node
   * (a pipeline goes where its keys live; `WAIT` has none). `WAIT` counts the replicas that hold
   * every write this connection made so far, the claim included.
   */
  async #claimAcknowledged(
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<[unknown, number]> {
    const pipeline = this.#client.pipeline() as unknown as Record<
      string,
      (...params: (string | number)[]) => unknown
    > & { exec(): Promise<[Error | null, unknown][] | null> };
    (pipeline[claimCommand] as (...params: (string | number)[]) => unknown)(...keys, ...args);
    (pipeline.wait as (...params: number[]) => unknown)(
      this.#replicaAcks,
      this.#replicaAckTimeoutMs,
    );
    const results = await pipeline.exec();
    const [claimed, waited] = results ?? [];
    if (claimed === undefined || waited === undefined) throw new Error('Redis pipeline aborted');
    if (claimed[0] !== null) throw claimed[0];
    return [claimed[1], waited[0] === null && typeof waited[1] === 'number' ? waited[1] : 0];
  }

  #key(slice: number, name: string): string {
    return this.#slices === 1
      ? `${this.#keyPrefix}${name}`
      : `${this.#keyPrefix}{r${slice}}${name}`;
  }

  #fenced(slice: number): ReplayStoreError {
    return new ReplayStoreError(
      'unavailable',
      'Redis lost replay claims; assertions are refused until every lost claim has expired.',
      Math.max(1, Math.ceil(((this.#fenceUntilMs[slice] as number) - this.#clock()) / 1000)),
    );
  }

  #trusted(slice: number): boolean {
    return (
      !this.#closed &&
      this.#client.status === 'ready' &&
      this.#verified[slice] === true &&
      !this.#degraded
    );
  }

  #listen(event: string, listener: () => void): void {
    this.#client.on(event, listener);
    this.#listeners.push([event, listener]);
  }

  /**
   * Maps a Redis failure to `ReplayStoreError`; a timeout in which Redis stayed silent also
   * distrusts the connection (see {@link watchReplies}).
   */
  async #failure(error: unknown, watch: ReplyWatch): Promise<ReplayStoreError> {
    refreshIfMoved(this.#client, error);
    const silent = isCommandTimeout(error) && (await watch.silent());
    if (silent) markStuck(this.#client);
    if (silent && !this.#degraded && !this.#closed) {
      this.#degraded = true;
      this.#report();
      this.#schedule(recheckDelayMs);
    }
    const message = error instanceof Error ? error.message : String(error);
    // OOM: Redis reached maxmemory with `noeviction` (the only safe policy for claims).
    const failure = message.startsWith('OOM') ? 'full' : 'unavailable';
    return new ReplayStoreError(failure, `Redis could not record the claim: ${message}`, 1, error);
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#check();
    }, delayMs);
    // Health checks never keep a process alive on shutdown.
    this.#timer.unref();
  }

  /**
   * The epoch check of every slice: proves the connection answers, and that the Redis behind
   * each slice still holds what this process claimed there before (else fences that slice).
   * Re-runs on a timer while the store lives.
   */
  #check(): void {
    if (this.#closed || this.#checking) return;
    if (this.#client.status !== 'ready') {
      // The 'ready' event triggers the next check.
      this.#report();
      return;
    }
    this.#checking = true;
    const now = this.#clock();
    const watch = watchReplies(this.#client);
    const checks = this.#epochs.map((known, slice) => {
      const fenceMs = Math.max(
        this.#dataLossFenceMs,
        this.#earlierFenceUntilMs - now,
        (this.#horizonMs[slice] as number) - now,
        0,
      );
      return this.#epochCheck(
        [this.#key(slice, 'replay-epoch'), this.#key(slice, 'replay-fence')],
        [randomUUID(), known ?? '', Math.ceil(fenceMs)],
      ).then((reply) => ({ reply, known: known ?? '', fenceMs }));
    });
    Promise.allSettled(checks).then(async (results) => {
      const timedOut = results.some(
        (result) => result.status === 'rejected' && isCommandTimeout(result.reason),
      );
      // A check that timed out while Redis spoke meanwhile proves nothing either way (this
      // process stalled, or Redis is slow): keep the verdict and check again soon.
      const inconclusive = timedOut && !(await watch.silent());
      this.#checking = false;
      if (this.#closed) return;
      if (inconclusive) {
        this.#schedule(recheckDelayMs);
        return;
      }
      let nextWake = this.#healthCheckIntervalMs;
      let failure: unknown;
      results.forEach((result, slice) => {
        const [epoch, fenceLeftMs] =
          result.status === 'fulfilled' && Array.isArray(result.value.reply)
            ? result.value.reply
            : [];
        if (
          result.status === 'rejected' ||
          typeof epoch !== 'string' ||
          typeof fenceLeftMs !== 'number'
        ) {
          this.#verified[slice] = false;
          failure ??= result.status === 'rejected' ? result.reason : new Error('bad reply');
          if (result.status === 'rejected') refreshIfMoved(this.#client, result.reason);
          return;
        }
        const { known, fenceMs } = result.value;
        if (known !== '' && epoch !== known && fenceMs > 0) this.#onDataLoss?.(fenceMs);
        this.#epochs[slice] = epoch;
        if (fenceLeftMs > 0) {
          this.#fenceUntilMs[slice] = Math.max(
            this.#fenceUntilMs[slice] as number,
            this.#clock() + fenceLeftMs,
          );
        }
        this.#verified[slice] = true;
        const left = (this.#fenceUntilMs[slice] as number) - this.#clock();
        // Wake up when a fence lifts, so readiness (and its callback) follows promptly.
        if (left > 0) nextWake = Math.min(nextWake, left);
      });
      if (failure === undefined) {
        this.#degraded = false;
        clearStuck(this.#client);
        this.#consecutiveTimeouts = 0;
        this.#report();
        this.#schedule(nextWake);
        return;
      }
      this.#report();
      if (isCommandTimeout(failure)) markStuck(this.#client);
      if (isCommandTimeout(failure) && ++this.#consecutiveTimeouts >= timeoutsBeforeReconnect) {
        // An open socket that never answers (partition, frozen host): replace the connection.
        this.#consecutiveTimeouts = 0;
        this.#client.disconnect(true);
        return;
      }
      this.#schedule(recheckDelayMs);
    });
  }

  #report(): void {
    const ready = this.ready();
    if (ready === this.#lastReported) return;
    this.#lastReported = ready;
    this.#onStateChange?.(ready);
  }
}

/**
 * After a Redis Cluster failover, asks ioredis for a fresh slot map when a MOVED answer reaches
 * us. ioredis follows MOVED itself only when every command of an auto-pipelined batch got the
 * same one; a batch spanning several slots of the shard that moved gets a different MOVED per
 * command, and ioredis then neither redirects nor updates its slot map, so every later batch went
 * to the old node again and those slices stayed unavailable for good. (ioredis refreshes at most
 * one map at a time; extra calls return at once.)
 */
function refreshIfMoved(client: RedisConnection, error: unknown): void {
  if (!(client instanceof Cluster) || !(error instanceof Error)) return;
  if (error.message.startsWith('MOVED ')) client.refreshSlotsCache();
}

/** The name the claim script is registered under (also called inside pipelines). */
const claimCommand = 'tollgateReplayClaim';

/** The slice of a claim key: from its first bytes, which SHA-256 spreads evenly. */
function sliceOf(key: string, slices: number): number {
  return Buffer.from(key.slice(0, 8), 'base64url').readUInt32BE(0) % slices;
}

/**
 * The key for `(clientId, jti)`, as the memory store derives it: SHA-256 over the unambiguous
 * `<length of clientId>:<clientId><jti>` in UTF-16 code units, so `('a:b', 'c')` and
 * `('a', 'b:c')` differ, lone surrogates stay distinct, and a long `jti` costs Redis 43 bytes.
 */
function replayKey(clientId: string, jti: string): string {
  // One-shot hash: no Hash object per claim (the same digest as createHash().update().digest()).
  return hash(
    'sha256',
    Buffer.from(`${clientId.length}:${clientId}${jti}`, 'utf16le'),
    'base64url',
  );
}
