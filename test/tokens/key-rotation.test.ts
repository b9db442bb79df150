/**
 * Signing-key rotation steps as pure functions of the key file: each refusal names the key and
 * what to do, and steps that are already done return the file unchanged.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activateKey,
  addKey,
  generateSigningJwk,
  jwksMaxAgeSeconds,
  KeyRotationError,
  keyStatus,
  longestTokenLifetimeSeconds,
  pruneForcedKids,
  type RotatingKeyFile,
  removeKey,
  retireKey,
} from '../../src/tokens/index.js';

const now = new Date('2030-01-01T00:00:00Z');
const later = new Date(now.getTime() + (jwksMaxAgeSeconds + 1) * 1000);

describe('key rotation', () => {
  let base: RotatingKeyFile;
  let activeKid: string;
  beforeAll(async () => {
    const jwk = await generateSigningJwk('ES256');
    activeKid = jwk.kid as string;
    // A key file as the server writes it: no rotation bookkeeping yet.
    base = { active_kid: activeKid, keys: [jwk] };
  });

  it('reports the active key as active, others as next until retired', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    expect(keyStatus(file, activeKid)).toBe('active');
    expect(keyStatus(file, kid)).toBe('next');
    expect(keyStatus(retireKey(activateKey(file, kid, later), activeKid, later), activeKid)).toBe(
      'retired',
    );
  });

  it('activating the active key is a no-op returning the same file', () => {
    expect(activateKey(base, activeKid, now)).toBe(base);
  });

  it('activates a key with no recorded age (added by hand) without waiting', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    const { added_at: _added, ...handWritten } = file;
    const activated = activateKey(handWritten, kid, now);
    expect(activated.active_kid).toBe(kid);
    expect(activated.retired_kids).toEqual([]);
  });

  it('refuses to retire the active key', () => {
    expect(() => retireKey(base, activeKid, now)).toThrow(
      new KeyRotationError(`${activeKid} is the active key; activate another key first`),
    );
  });

  it('retires a key of a file without retired_kids, and retiring twice changes nothing', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    const retired = retireKey(file, kid, now);
    expect(retired.retired_kids).toEqual([kid]);
    expect(retired.retired_at).toEqual({ [kid]: now.toISOString() });
    expect(retireKey(retired, kid, later)).toBe(retired);
  });

  it('refuses to remove a key that is not retired', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    expect(() => removeKey(file, kid, now, 600)).toThrow(
      new KeyRotationError(
        `${kid} is not retired; retire it and wait until its tokens expire before removing it`,
      ),
    );
    expect(() => removeKey(file, activeKid, now, 600)).toThrow(KeyRotationError);
  });

  it('refuses to remove a retired key until the token lifetime has passed since it was retired', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    const retired = retireKey(file, kid, now);
    const at = (seconds: number) => new Date(now.getTime() + seconds * 1000);
    expect(() => removeKey(retired, kid, at(599), 600)).toThrow(
      new KeyRotationError(
        `${kid} was retired at ${now.toISOString()}; tokens it signed may be valid for 600 s (--token-lifetime). ` +
          `Remove it after ${at(600).toISOString()} (or --force)`,
      ),
    );
    // The default wait is the longest lifetime any configuration allows.
    expect(() => removeKey(retired, kid, at(600), longestTokenLifetimeSeconds)).toThrow(
      KeyRotationError,
    );
    const forced = removeKey(retired, kid, at(599), 600, true);
    expect(forced.keys).toHaveLength(1);
    // Running servers would refuse to drop a key with valid tokens: the file says it is wanted.
    expect(forced.forced_kids).toEqual({ [kid]: at(599).toISOString() });
    const removed = removeKey(retired, kid, at(600), 600);
    expect(removed.forced_kids).toBeUndefined();
    expect(removed.keys.map((key) => key.kid)).toEqual([activeKid]);
    expect(removed.retired_kids).toEqual([]);
    expect(removed.retired_at).toEqual({});
    expect(removed.added_at).toEqual({});
  });

  it('refuses to remove a key retired without a readable time until it is retired again', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    // Retired by hand (or by an older Tollgate): when is unknown, so not "long ago".
    const handWritten: RotatingKeyFile = { ...file, retired_kids: [kid] };
    const distant = new Date(now.getTime() + 10 * longestTokenLifetimeSeconds * 1000);
    const message = `${kid} has no valid recorded retirement time; run tollgate keys retire ${kid} to record it, then wait until its tokens expire (or --force)`;
    expect(() => removeKey(handWritten, kid, distant, 600)).toThrow(new KeyRotationError(message));
    const garbled = { ...handWritten, retired_at: { [kid]: 'yesterday' } };
    expect(() => removeKey(garbled, kid, distant, 600)).toThrow(new KeyRotationError(message));
    const recorded = retireKey(handWritten, kid, now);
    expect(recorded.retired_at).toEqual({ [kid]: now.toISOString() });
    expect(removeKey(recorded, kid, distant, 600).keys).toHaveLength(1);
    expect(removeKey(handWritten, kid, now, 600, true).keys).toHaveLength(1);
  });

  it('re-activating a retired key (--force) forgets its retirement time', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    const retired = retireKey(file, kid, now);
    const back = activateKey(retired, kid, later, true);
    expect(back.retired_kids).toEqual([]);
    expect(back.retired_at).toEqual({});
  });

  it('refuses every step for a kid that is not in the file', () => {
    const message = 'no key missing-kid in the key file';
    expect(() => activateKey(base, 'missing-kid', now)).toThrow(new KeyRotationError(message));
    expect(() => retireKey(base, 'missing-kid', now)).toThrow(new KeyRotationError(message));
    expect(() => removeKey(base, 'missing-kid', now, 600)).toThrow(new KeyRotationError(message));
  });
});

describe('pruneForcedKids', () => {
  const day = longestTokenLifetimeSeconds * 1000;
  const forcedAt = new Date('2030-01-01T00:00:00Z');
  const sinceForce = (ms: number) => new Date(forcedAt.getTime() + ms);
  let file: RotatingKeyFile;
  let kid: string;
  beforeAll(async () => {
    const jwk = await generateSigningJwk('ES256');
    kid = jwk.kid as string;
    file = {
      active_kid: kid,
      keys: [jwk],
      forced_kids: { gone: forcedAt.toISOString(), [kid]: forcedAt.toISOString() },
    };
  });

  it('keeps every entry while a token of the forced key may be valid', () => {
    expect(pruneForcedKids(file, sinceForce(day - 1))).toBe(file);
  });

  it('drops an absent kid once the longest token lifetime has passed, never a present one', () => {
    expect(pruneForcedKids(file, sinceForce(day)).forced_kids).toEqual({
      [kid]: forcedAt.toISOString(),
    });
    // The last entry gone, the member goes too (the file looks as before any force).
    const alone = { ...file, forced_kids: { gone: forcedAt.toISOString() } };
    const pruned = pruneForcedKids(alone, sinceForce(day));
    expect('forced_kids' in pruned).toBe(false);
    expect(pruned.keys).toBe(file.keys);
  });

  it('leaves an unreadable time for the server to report, and a file without entries alone', () => {
    const bad = { ...file, forced_kids: { gone: 'yesterday' } };
    expect(pruneForcedKids(bad, sinceForce(10 * day))).toBe(bad);
    const none = { active_kid: kid, keys: file.keys };
    expect(pruneForcedKids(none, sinceForce(day))).toBe(none);
  });
});
