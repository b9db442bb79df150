/**
 * A per-client share of the replay store (issue 12): one client, however many assertions it
 * signs (and /introspect calls it makes), may hold at most `maxPerClient` live claims on this
 * instance; past it, that client's claims fail with `ReplayStoreError('client_share')` (answered
 * 429 with Retry-After) until its oldest claim expires, and every other client keeps its room.
 *
 * It wraps any {@link ReplayStore}. Claims are counted per authenticated client_id (the caller
 * claims only after the signature verified, so strangers cannot spend a client's share), in one
 * queue of expiries per client, released from its head. A claim with a later expiry ahead of
 * earlier ones delays their release: only that client's own room comes back later, never
 * another client's (the count is conservative, never short).
 *
 * Bound: one number (8 bytes) per live claim made through the wrapper, at most `maxPerClient`
 * per client, for registered (authenticated) clients only.
 */
import { type ReplayStore, ReplayStoreError } from './types.js';

export interface ClientShareOptions {
  /** Most live claims one client may hold at once. */
  readonly maxPerClient: number;
  /** Epoch ms; Date.now by default. */
  readonly clock?: () => number;
}

/** The expiries of one client's live claims, oldest first, from `head` on. */
interface ClientClaims {
  expiries: number[];
  head: number;
  /** Claims sent to the store and not answered yet. */
  pending: number;
}

/** Wraps `store` so that no client holds more than `maxPerClient` live claims. */
export function limitClientShare(store: ReplayStore, options: ClientShareOptions): ReplayStore {
  const { maxPerClient, clock = Date.now } = options;
  if (!Number.isSafeInteger(maxPerClient) || maxPerClient < 1) {
    throw new TypeError('limitClientShare: maxPerClient must be a positive integer');
  }
  const clients = new Map<string, ClientClaims>();

  /** Drops the expired head of `clientId`'s queue; returns its claims (created when absent). */
  const live = (clientId: string, now: number): ClientClaims => {
    let claims = clients.get(clientId);
    if (claims === undefined) {
      claims = { expiries: [], head: 0, pending: 0 };
      clients.set(clientId, claims);
    }
    const { expiries } = claims;
    while (claims.head < expiries.length && (expiries[claims.head] as number) <= now) claims.head++;
    if (claims.head > 64 && claims.head * 2 > expiries.length) {
      claims.expiries = expiries.slice(claims.head);
      claims.head = 0;
    }
    return claims;
  };

  return {
    async claim(clientId, jti, expiresAtMs) {
      const now = clock();
      const claims = live(clientId, now);
      if (claims.expiries.length - claims.head + claims.pending >= maxPerClient) {
        throw new ReplayStoreError(
          'client_share',
          `The client holds its share of ${maxPerClient} live replay claims.`,
          Math.max(1, Math.ceil(((claims.expiries[claims.head] ?? now) - now) / 1000)),
        );
      }
      // Reserve the room before awaiting the store, so that concurrent claims cannot all pass
      // the check above.
      claims.pending++;
      let claimed = false;
      try {
        claimed = await store.claim(clientId, jti, expiresAtMs);
      } finally {
        claims.pending--;
        // Held at least a second, like the stores themselves hold every claim.
        if (claimed) claims.expiries.push(Math.max(expiresAtMs, now + 1000));
      }
      return claimed;
    },
    ready: () => store.ready(),
    close: () => store.close(),
    // The restart fence of the store underneath (memory) must survive the wrapping.
    ...(store.rememberedSinceMs === undefined
      ? {}
      : { rememberedSinceMs: () => store.rememberedSinceMs?.() }),
  };
}
