/**
 * Signing-key rotation on the key file, without downtime: add (published, not signing), wait
 * until verifiers' JWKS caches hold the new key, activate (signs), retire the old one (still
 * published, so its tokens keep verifying until they expire), then remove it.
 *
 * Each step is a pure function from one key-file document to the next; the CLI writes the
 * result atomically and running servers pick it up on their next reload.
 *
 * @see RFC 7517 §5, RFC 9068 §4 (verifiers fetch keys from jwks_uri)
 */
import type { JWK } from 'jose';
import type { AccessTokenAlg } from '../config/index.js';
import { generateSigningJwk, type SigningKeyFile } from './signing-keys.js';

/** How long the JWKS may be cached by verifiers (the `/jwks` max-age), seconds. */
export const jwksMaxAgeSeconds = 300;

/** The key file with rotation bookkeeping (extra members the server ignores). */
export interface RotatingKeyFile extends SigningKeyFile {
  /** Published but never to sign again. */
  retired_kids?: string[];
  /** When each key was added (ISO 8601), to refuse activating a key verifiers may not know yet. */
  added_at?: Record<string, string>;
  /**
   * When each key was retired (ISO 8601), to refuse removing it while tokens it signed may still
   * be valid. A key can only be retired once another one signs, so this is no earlier than its
   * last signature as the file sees it.
   */
  retired_at?: Record<string, string>;
  /**
   * Kids whose removal (or replacement) the operator forced, with when (ISO 8601): a running
   * server refuses to drop a key whose tokens may be valid unless its kid is here.
   */
  forced_kids?: Record<string, string>;
}

/**
 * The default `--token-lifetime` of `keys remove`, seconds: the longest access-token lifetime
 * the server can issue (`accessToken.lifetimeSeconds` and a client's `access_token_lifetime`
 * are both bounded at 86 400 s), so removal is refused until no token the key signed can be
 * valid whatever the configuration.
 */
export const longestTokenLifetimeSeconds = 86_400;

export type KeyStatus = 'active' | 'next' | 'retired';

/** A rotation step that cannot be taken; the message says why and what to do. */
export class KeyRotationError extends Error {
  override readonly name = 'KeyRotationError';
}

export function keyStatus(file: RotatingKeyFile, kid: string): KeyStatus {
  if (file.active_kid === kid) return 'active';
  return file.retired_kids?.includes(kid) === true ? 'retired' : 'next';
}

/** Adds a fresh key: published at the next reload, not signing. */
export async function addKey(
  file: RotatingKeyFile,
  alg: AccessTokenAlg,
  now: Date,
): Promise<{ file: RotatingKeyFile; kid: string }> {
  const jwk = await generateSigningJwk(alg);
  const kid = jwk.kid as string;
  return {
    kid,
    file: {
      ...file,
      keys: [...file.keys, jwk],
      added_at: { ...file.added_at, [kid]: now.toISOString() },
    },
  };
}

/**
 * Makes `kid` the signing key. Refused for a retired key, and, unless `force`, for a key added
 * less than {@link jwksMaxAgeSeconds} ago (a verifier with a cached JWKS would not know it).
 */
export function activateKey(
  file: RotatingKeyFile,
  kid: string,
  now: Date,
  force = false,
): RotatingKeyFile {
  findKey(file, kid);
  if (file.active_kid === kid) return file;
  if (keyStatus(file, kid) === 'retired' && !force) {
    throw new KeyRotationError(`${kid} is retired; add a new key instead (or --force)`);
  }
  const added = file.added_at?.[kid];
  if (!force && added !== undefined) {
    const ageSeconds = (now.getTime() - Date.parse(added)) / 1000;
    if (ageSeconds < jwksMaxAgeSeconds) {
      throw new KeyRotationError(
        `${kid} was added ${Math.floor(ageSeconds)} s ago; verifiers may cache the JWKS for ${jwksMaxAgeSeconds} s. ` +
          `Activate it after ${new Date(Date.parse(added) + jwksMaxAgeSeconds * 1000).toISOString()} (or --force)`,
      );
    }
  }
  const { [kid]: _unretired, ...retiredAt } = file.retired_at ?? {};
  return {
    ...file,
    active_kid: kid,
    retired_kids: (file.retired_kids ?? []).filter((retired) => retired !== kid),
    ...(file.retired_at === undefined ? {} : { retired_at: retiredAt }),
  };
}

/**
 * Marks a non-active key retired: still published, never signing. Records when, so
 * {@link removeKey} can wait for its tokens to expire; retiring a key retired without a recorded
 * time (by hand, or by an older Tollgate) records it now.
 */
export function retireKey(file: RotatingKeyFile, kid: string, now: Date): RotatingKeyFile {
  findKey(file, kid);
  if (file.active_kid === kid)
    throw new KeyRotationError(`${kid} is the active key; activate another key first`);
  const retired = file.retired_kids?.includes(kid) === true;
  if (retired && file.retired_at?.[kid] !== undefined) return file;
  return {
    ...file,
    retired_kids: retired ? (file.retired_kids ?? []) : [...(file.retired_kids ?? []), kid],
    retired_at: { ...file.retired_at, [kid]: now.toISOString() },
  };
}

/**
 * Removes a retired key: it stops being published, so tokens it signed stop verifying (RFC 9068
 * §4: verifiers find the key by `kid` in the JWKS). Refused, unless `force`, until
 * `tokenLifetimeSeconds` after it was retired: a token it signed just before may still be valid.
 * A forced removal is recorded in `forced_kids`, so running servers apply it too.
 */
export function removeKey(
  file: RotatingKeyFile,
  kid: string,
  now: Date,
  tokenLifetimeSeconds: number,
  force = false,
): RotatingKeyFile {
  findKey(file, kid);
  if (keyStatus(file, kid) !== 'retired') {
    throw new KeyRotationError(
      `${kid} is not retired; retire it and wait until its tokens expire before removing it`,
    );
  }
  const retiredAt = file.retired_at?.[kid];
  if (!force) {
    // A missing or unreadable time is unknown, not long ago: refuse (fail closed).
    if (retiredAt === undefined || Number.isNaN(Date.parse(retiredAt))) {
      throw new KeyRotationError(
        `${kid} has no valid recorded retirement time; run tollgate keys retire ${kid} to record it, then wait until its tokens expire (or --force)`,
      );
    }
    const safeAt = Date.parse(retiredAt) + tokenLifetimeSeconds * 1000;
    if (now.getTime() < safeAt) {
      throw new KeyRotationError(
        `${kid} was retired at ${retiredAt}; tokens it signed may be valid for ${tokenLifetimeSeconds} s (--token-lifetime). ` +
          `Remove it after ${new Date(safeAt).toISOString()} (or --force)`,
      );
    }
  }
  const { [kid]: _dropped, ...added } = file.added_at ?? {};
  const { [kid]: _retiredAt, ...retiredTimes } = file.retired_at ?? {};
  return {
    ...file,
    keys: file.keys.filter((key) => key.kid !== kid),
    retired_kids: (file.retired_kids ?? []).filter((retired) => retired !== kid),
    added_at: added,
    ...(file.retired_at === undefined ? {} : { retired_at: retiredTimes }),
    // Tells running servers the removal is wanted now, tokens or not (src/tokens/key-reload.ts).
    ...(force ? { forced_kids: { ...file.forced_kids, [kid]: now.toISOString() } } : {}),
  };
}

/**
 * Drops the `forced_kids` entries no server can need any more, so the member does not grow with
 * every forced removal for ever. An entry goes once its kid names no key of the file and
 * {@link longestTokenLifetimeSeconds} have passed since the force: the key stopped signing no
 * later than that (only a retired key can be removed), so no token it signed can be valid, and a
 * server that still publishes it drops it without the entry (its guard waits only for tokens,
 * `retired_at` plus the longest lifetime, and every lifetime is bounded by that constant, whatever
 * `--token-lifetime` said). A kid present again keeps its entry (it also covers a kid that names
 * other key material); an unreadable time is kept for the server to report.
 *
 * The one server still helped by an older entry is one that has not reloaded the file for a
 * whole day and still signs with the removed key; it keeps its keys and logs the refusal.
 */
export function pruneForcedKids(file: RotatingKeyFile, now: Date): RotatingKeyFile {
  if (file.forced_kids === undefined) return file;
  const present = new Set(file.keys.map((key) => key.kid));
  const kept = Object.entries(file.forced_kids).filter(
    ([kid, at]) =>
      present.has(kid) || !(Date.parse(at) + longestTokenLifetimeSeconds * 1000 <= now.getTime()),
  );
  if (kept.length === Object.keys(file.forced_kids).length) return file;
  const { forced_kids: _all, ...rest } = file;
  return kept.length === 0 ? rest : { ...rest, forced_kids: Object.fromEntries(kept) };
}

function findKey(file: RotatingKeyFile, kid: string): JWK {
  const key = file.keys.find((candidate) => candidate.kid === kid);
  if (key === undefined) throw new KeyRotationError(`no key ${kid} in the key file`);
  return key;
}
