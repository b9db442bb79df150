/**
 * A per-client share of the replay store (issue 12): one client, however many assertions it
 * signs (and /introspect calls it makes), may hold at most `maxPerClient` live claims on this
 * instance; past it, that client's claims fail with `ReplayStoreError('client_share')` (answered
 * 429 with Retry-After) until its oldest claim expires, and every other client keeps its room.
 *
 * It wraps any {@link ReplayStore}. Claims are counted per authenticated client_id (the caller
 * claims only after the signature verified, so strangers cannot spend a client's share), in a
 * min-heap of expiries shared by all clients.
 *
 * Bound: one heap entry (a number and a string reference, about 40 bytes) per live claim made
 * through the wrapper, which is at most the wrapped store's own capacity for the memory store,
 * and at most `maxPerClient` x registered clients in any case; one Map entry per client holding
 * a live claim (registered clients only).
 */
import { type ReplayStore, ReplayStoreError } from './types.js';

export interface ClientShareOptions {
  /** Most live claims one client may hold at once. */
  readonly maxPerClient: number;
  /** Epoch ms; Date.now by default. */
  readonly clock?: () => number;
}

/** Wraps `store` so that no client holds more than `maxPerClient` live claims. */
export function limitClientShare(store: ReplayStore, options: ClientShareOptions): ReplayStore {
  const { maxPerClient, clock = Date.now } = options;
  if (!Number.isSafeInteger(maxPerClient) || maxPerClient < 1) {
    throw new TypeError('limitClientShare: maxPerClient must be a positive integer');
  }
  const live = new Map<string, number>();
  const expiries: number[] = [];
  const owners: string[] = [];

  const release = (now: number) => {
    while (expiries.length > 0 && (expiries[0] as number) <= now) {
      const owner = popMin(expiries, owners);
      const left = (live.get(owner) ?? 1) - 1;
      if (left === 0) live.delete(owner);
      else live.set(owner, left);
    }
  };

  return {
    async claim(clientId, jti, expiresAtMs) {
      const now = clock();
      release(now);
      if ((live.get(clientId) ?? 0) >= maxPerClient) {
        throw new ReplayStoreError(
          'client_share',
          `The client holds its share of ${maxPerClient} live replay claims.`,
          retryAfter(earliestOf(clientId, expiries, owners) ?? now + 1000, now),
        );
      }
      // Reserve the room before awaiting the store, so concurrent claims cannot all pass the
      // check above; give it back when the claim is not made.
      live.set(clientId, (live.get(clientId) ?? 0) + 1);
      let claimed = false;
      try {
        claimed = await store.claim(clientId, jti, expiresAtMs);
      } finally {
        if (claimed) {
          // Held at least a second, like the stores themselves hold every claim.
          push(expiries, owners, Math.max(expiresAtMs, now + 1000), clientId);
        } else {
          const left = (live.get(clientId) ?? 1) - 1;
          if (left === 0) live.delete(clientId);
          else live.set(clientId, left);
        }
      }
      return claimed;
    },
    ready: () => store.ready(),
    close: () => store.close(),
  };
}

function retryAfter(atMs: number, now: number): number {
  return Math.max(1, Math.ceil((atMs - now) / 1000));
}

/** The earliest expiry of `owner`'s claims (a linear scan: only on the refusal path). */
function earliestOf(owner: string, expiries: number[], owners: string[]): number | undefined {
  let earliest: number | undefined;
  for (let i = 0; i < owners.length; i++) {
    if (owners[i] === owner && (earliest === undefined || (expiries[i] as number) < earliest)) {
      earliest = expiries[i];
    }
  }
  return earliest;
}

function push(expiries: number[], owners: string[], expiry: number, owner: string): void {
  let i = expiries.length;
  expiries.push(expiry);
  owners.push(owner);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((expiries[parent] as number) <= expiry) break;
    expiries[i] = expiries[parent] as number;
    owners[i] = owners[parent] as string;
    i = parent;
  }
  expiries[i] = expiry;
  owners[i] = owner;
}

function popMin(expiries: number[], owners: string[]): string {
  const top = owners[0] as string;
  const lastExpiry = expiries.pop() as number;
  const lastOwner = owners.pop() as string;
  const n = expiries.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child =
      right < n && (expiries[right] as number) < (expiries[left] as number) ? right : left;
    if (lastExpiry <= (expiries[child] as number)) break;
    expiries[i] = expiries[child] as number;
    owners[i] = owners[child] as string;
    i = child;
  }
  expiries[i] = lastExpiry;
  owners[i] = lastOwner;
  return top;
}
