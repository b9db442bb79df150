/**
 * Replay claims shared by the worker processes of one `tollgate serve --workers N`: the primary
 * process holds the one store (the memory store; with Redis configured the workers use Redis
 * directly and this module is not involved) and every worker claims through the IPC channel that
 * node:cluster opens between them. A claim is decided in exactly one place, so a `jti` sent to
 * every worker at once is claimed once.
 *
 * Why the primary and not Redis by default: `--workers` is the one-machine scale-out, and asking
 * a user for a Redis to use their second core would make the embedded default not embedded. The
 * primary does nothing but this (and fork, signal and aggregate), so its event loop answers a
 * claim in well under the worker's crypto time; a claim costs one IPC round trip (JSON over a
 * pipe, tens of microseconds).
 *
 * Bounds: a worker keeps at most {@link maxPendingClaims} claims in flight (past that it fails
 * closed at once); a claim unanswered for {@link claimTimeoutMs} (and one more turn of this
 * process's event loop) fails closed (503, as any store failure). The primary keeps no per-worker state beyond the store itself.
 *
 * @see RFC 7523 §3 (item 7), DESIGN.md §4 ("--workers N")
 */
import { type ReplayStore, ReplayStoreError, type ReplayStoreFailure } from './types.js';

/** The IPC channel of a worker (`process`) or, on the primary, of one worker (`cluster.Worker`). */
export interface IpcChannel {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  /** Whether the channel is still open (`process.connected`, `worker.isConnected()`). */
  readonly isOpen: () => boolean;
}

/** A claim that gets no answer within this fails closed (the primary is gone or stuck). */
export const claimTimeoutMs = 2_000;
/** The most claims one worker keeps in flight; beyond it new claims fail closed at once. */
export const maxPendingClaims = 16_384;

interface ClaimRequest {
  readonly type: 'tollgate:replay-claim';
  readonly id: number;
  readonly clientId: string;
  readonly jti: string;
  readonly expiresAtMs: number;
}

type ClaimAnswer =
  | { readonly type: 'tollgate:replay-answer'; readonly id: number; readonly claimed: boolean }
  | {
      readonly type: 'tollgate:replay-answer';
      readonly id: number;
      readonly failure: ReplayStoreFailure;
      readonly message: string;
      readonly retryAfterSeconds: number;
    };

interface Pending {
  readonly resolve: (claimed: boolean) => void;
  readonly reject: (error: ReplayStoreError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * The worker's side: a {@link ReplayStore} whose claims the primary decides.
 *
 * Fails closed like every store: no channel, no answer in time, too many in flight, or an error
 * from the primary's store each reject with {@link ReplayStoreError}; nothing is ever answered
 * `true` that the primary did not answer `true`.
 */
export class IpcReplayStore implements ReplayStore {
  readonly #channel: IpcChannel;
  readonly #pending = new Map<number, Pending>();
  readonly #onMessage: (message: unknown) => void;
  #nextId = 1;
  #closed = false;

  readonly #rememberedSinceMs: number | undefined;

  /**
   * `options.rememberedSinceMs`: the primary's store's {@link ReplayStore.rememberedSinceMs}
   * (fixed for the primary's life, so handed over once at fork).
   */
  constructor(channel: IpcChannel, options: { rememberedSinceMs?: number | undefined } = {}) {
    this.#channel = channel;
    this.#rememberedSinceMs = options.rememberedSinceMs;
    this.#onMessage = (message) => this.#answer(message);
    channel.on('message', this.#onMessage);
  }

  claim(clientId: string, jti: string, expiresAtMs: number): Promise<boolean> {
    if (typeof clientId !== 'string' || clientId === '') {
      return Promise.reject(new TypeError('IpcReplayStore.claim: clientId must be non-empty'));
    }
    if (typeof jti !== 'string' || jti === '') {
      return Promise.reject(new TypeError('IpcReplayStore.claim: jti must be non-empty'));
    }
    if (typeof expiresAtMs !== 'number' || !Number.isFinite(expiresAtMs)) {
      return Promise.reject(new TypeError('IpcReplayStore.claim: expiresAtMs must be finite'));
    }
    if (this.#closed || !this.#channel.isOpen()) {
      return Promise.reject(unavailable('The replay store (primary process) is not reachable.'));
    }
    if (this.#pending.size >= maxPendingClaims) {
      return Promise.reject(unavailable('Too many replay claims in flight.'));
    }
    const id = this.#nextId;
    this.#nextId = id >= Number.MAX_SAFE_INTEGER ? 1 : id + 1;
    return new Promise<boolean>((resolve, reject) => {
      // The timer fires in the timers phase, before the poll phase reads the channel: after a
      // stall of this process (a starved CPU, a long GC pause) the primary's answer may have been
      // waiting in the pipe all along. So the claim fails only if one more turn of the event loop
      // (a setImmediate, after the poll phase) brings no answer. Failing then would also burn the
      // assertion: the primary has recorded the jti, so the client's retry would be a replay.
      const timer = setTimeout(() => {
        setImmediate(() => {
          if (!this.#pending.delete(id)) return;
          reject(unavailable('The replay store (primary process) did not answer in time.'));
        });
      }, claimTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      const request: ClaimRequest = {
        type: 'tollgate:replay-claim',
        id,
        clientId,
        jti,
        expiresAtMs,
      };
      let sent = false;
      try {
        sent = this.#channel.send(request);
      } catch {
        sent = false;
      }
      // send() returns false only under back-pressure (the message is still queued); a throw
      // means the channel is closed.
      if (!sent && !this.#channel.isOpen()) {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(unavailable('The replay store (primary process) is not reachable.'));
      }
    });
  }

  /** {@inheritDoc ReplayStore.rememberedSinceMs} The primary's, since it holds the claims. */
  rememberedSinceMs(): number | undefined {
    return this.#rememberedSinceMs;
  }

  ready(): boolean {
    return !this.#closed && this.#channel.isOpen();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.off('message', this.#onMessage);
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(unavailable('The replay store is closed.'));
      this.#pending.delete(id);
    }
  }

  #answer(message: unknown): void {
    if (!isAnswer(message)) return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if ('claimed' in message) pending.resolve(message.claimed);
    else
      pending.reject(
        new ReplayStoreError(message.failure, message.message, message.retryAfterSeconds),
      );
  }
}

/**
 * The primary's side: answers the claims that arrive on `channel` from `store`. Returns a
 * function that stops listening. Messages that are not well-formed claims are ignored (the
 * channel also carries node:cluster's and prom-client's own messages).
 */
export function serveReplayClaims(store: ReplayStore, channel: IpcChannel): () => void {
  const onMessage = (message: unknown) => {
    if (!isClaimRequest(message)) return;
    const reply = (answer: ClaimAnswer) => {
      if (!channel.isOpen()) return;
      try {
        channel.send(answer);
      } catch {
        // The worker went away between the claim and the answer: nothing to tell.
      }
    };
    store.claim(message.clientId, message.jti, message.expiresAtMs).then(
      (claimed) => reply({ type: 'tollgate:replay-answer', id: message.id, claimed }),
      (error: unknown) =>
        reply({
          type: 'tollgate:replay-answer',
          id: message.id,
          ...(error instanceof ReplayStoreError
            ? {
                failure: error.failure,
                message: error.message,
                retryAfterSeconds: error.retryAfterSeconds,
              }
            : {
                failure: 'unavailable' as const,
                message: 'The replay store failed.',
                retryAfterSeconds: 1,
              }),
        }),
    );
  };
  channel.on('message', onMessage);
  return () => channel.off('message', onMessage);
}

function unavailable(message: string): ReplayStoreError {
  return new ReplayStoreError('unavailable', message, 1);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isClaimRequest(message: unknown): message is ClaimRequest {
  return (
    isRecord(message) &&
    message.type === 'tollgate:replay-claim' &&
    Number.isSafeInteger(message.id) &&
    typeof message.clientId === 'string' &&
    typeof message.jti === 'string' &&
    typeof message.expiresAtMs === 'number'
  );
}

function isAnswer(message: unknown): message is ClaimAnswer {
  if (
    !isRecord(message) ||
    message.type !== 'tollgate:replay-answer' ||
    !Number.isSafeInteger(message.id)
  ) {
    return false;
  }
  if (typeof message.claimed === 'boolean') return true;
  // Any failure the primary's store names is passed on as it is (the union may grow there).
  return (
    typeof message.failure === 'string' &&
    typeof message.message === 'string' &&
    typeof message.retryAfterSeconds === 'number'
  );
}
