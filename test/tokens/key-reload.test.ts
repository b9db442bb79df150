/**
 * The server's guard on a reloaded key file (src/tokens/key-reload.ts): which edits are refused,
 * what `forced_kids` overrides, and how the file's rotation members are read.
 */
import type { JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  checkKeyReload,
  generateSigningJwk,
  KeyReloadRefusedError,
  KeyUse,
  prepareSigningKeys,
  SigningKeyError,
  type SigningKeySet,
} from '../../src/tokens/index.js';

const t0 = Date.parse('2026-12-06T12:00:00Z');
const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();

/** The error `run` throws. */
function refusal(run: () => void): KeyReloadRefusedError {
  try {
    run();
  } catch (error) {
    if (error instanceof KeyReloadRefusedError) return error;
    throw error;
  }
  throw new Error('not refused');
}

describe('checkKeyReload', () => {
  let a: JWK;
  let b: JWK;
  let other: JWK;
  beforeAll(async () => {
    [a, b, other] = await Promise.all([
      generateSigningJwk('ES256'),
      generateSigningJwk('ES256'),
      generateSigningJwk('ES256'),
    ]);
  });
  const set = (document: Record<string, unknown>) => prepareSigningKeys(document, 'ES256');
  const check =
    (
      previous: SigningKeySet,
      next: SigningKeySet,
      nowSeconds = 0,
      use = new KeyUse(),
      longestLifetimeSeconds = 600,
    ) =>
    () =>
      checkKeyReload(previous, next, {
        nowMs: t0 + nowSeconds * 1000,
        longestLifetimeSeconds,
        use,
      });

  it('accepts adding a key, switching the active key and keeping every kid', () => {
    const before = set({ active_kid: a.kid, keys: [a] });
    const added = set({ active_kid: a.kid, keys: [a, b] });
    expect(check(before, added)).not.toThrow();
    expect(check(added, set({ active_kid: b.kid, keys: [a, b] }))).not.toThrow();
  });

  it('refuses dropping the active key, naming it and the lifetime', () => {
    const before = set({ active_kid: a.kid, keys: [a, b] });
    expect(check(before, set({ active_kid: b.kid, keys: [b] }))).toThrow(
      new RegExp(`${a.kid} is the active signing key; tokens it signed may be valid for 600 s`),
    );
  });

  it('refuses dropping a key this process signed a still-valid token with, until that exp', () => {
    const use = new KeyUse();
    const before = set({ active_kid: a.kid, keys: [a, b] });
    use.track(before.signer).sign({ exp: t0 / 1000 + 600 });
    use.track(before.signer).sign({ exp: t0 / 1000 + 300 }); // an earlier exp changes nothing
    use.track(before.signer).sign({ exp: 'soon' }); // no numeric exp: nothing recorded
    const switched = set({ active_kid: b.kid, keys: [a, b] });
    const dropped = set({ active_kid: b.kid, keys: [b] });
    expect(check(switched, dropped, 599, use)).toThrow(
      new RegExp(`${a.kid} signed tokens that may be valid until ${at(600)}`),
    );
    expect(check(switched, dropped, 600, use)).not.toThrow();
    expect(refusal(check(switched, dropped, 599, use)).retryAtMs).toBe(t0 + 600_000);
    expect(use.validUntilMs(a.kid as string)).toBe(t0 + 600_000);
  });

  it('refuses dropping a key retired less than the longest lifetime ago (tokens of other instances)', () => {
    const before = set({
      active_kid: b.kid,
      keys: [a, b],
      retired_kids: [a.kid],
      retired_at: { [a.kid as string]: at(0) },
    });
    const dropped = set({ active_kid: b.kid, keys: [b] });
    expect(check(before, dropped, 3599, new KeyUse(), 3600)).toThrow(
      `signed tokens that may be valid until ${at(3600)}. It is applied by itself at ${at(3600)}.`,
    );
    expect(check(before, dropped, 3600, new KeyUse(), 3600)).not.toThrow();
  });

  it('accepts dropping a retired key with no recorded time that this process never signed with', () => {
    const before = set({ active_kid: b.kid, keys: [a, b], retired_at: { [a.kid as string]: 'x' } });
    expect(before.rotation.retiredAtMs.size).toBe(0);
    expect(check(before, set({ active_kid: b.kid, keys: [b] }))).not.toThrow();
  });

  it('refuses a kid that names other key material or another alg', async () => {
    const before = set({ active_kid: a.kid, keys: [a, b] });
    const swapped = set({ active_kid: a.kid, keys: [a, { ...other, kid: b.kid }] });
    expect(check(before, swapped)).toThrow(new RegExp(`kid ${b.kid} now names other key material`));
    const es384 = await generateSigningJwk('ES384');
    const realg = prepareSigningKeys(
      { active_kid: a.kid, keys: [a, { ...es384, kid: b.kid }] },
      'ES256',
    );
    expect(check(before, realg)).toThrow(/other key material/);
  });

  it('lists every refused kid in one message, and says how to force', () => {
    const before = set({ active_kid: a.kid, keys: [a, b] });
    const next = set({ active_kid: other.kid, keys: [other, { ...a, kid: b.kid }] });
    let message = '';
    try {
      check(before, next)();
    } catch (error) {
      expect(error).toBeInstanceOf(SigningKeyError);
      message = (error as Error).message;
    }
    expect(message).toContain(`${a.kid} is the active signing key`);
    expect(message).toContain(`kid ${b.kid} now names other key material`);
    expect(message).toContain('forced_kids');
    // Waiting cannot make these safe: no retry time.
    expect(refusal(check(before, next)).retryAtMs).toBeUndefined();
    expect(message).not.toContain('applied by itself');
  });

  it('applies what forced_kids names, and only that', () => {
    const use = new KeyUse();
    const before = set({ active_kid: a.kid, keys: [a, b] });
    use.track(before.signer).sign({ exp: t0 / 1000 + 600 });
    const forcedA = set({
      active_kid: b.kid,
      keys: [b],
      forced_kids: { [a.kid as string]: at(0) },
    });
    expect(check(before, forcedA, 0, use)).not.toThrow();
    const forcedB = set({
      active_kid: a.kid,
      keys: [a, { ...other, kid: b.kid }],
      forced_kids: { [b.kid as string]: at(0) },
    });
    expect(check(before, forcedB, 0, use)).not.toThrow();
    const wrongKid = set({
      active_kid: b.kid,
      keys: [b],
      forced_kids: { [b.kid as string]: at(0) },
    });
    expect(check(before, wrongKid, 0, use)).toThrow(/active signing key/);
  });

  it('forgets kids that left the key set', () => {
    const use = new KeyUse();
    const keys = set({ active_kid: a.kid, keys: [a, b] });
    use.track(keys.signer).sign({ exp: t0 / 1000 + 600 });
    use.retain(new Set([a.kid as string]));
    expect(use.validUntilMs(a.kid as string)).toBe(t0 + 600_000);
    use.retain(new Set([b.kid as string]));
    expect(use.validUntilMs(a.kid as string)).toBeUndefined();
  });

  it('signs exactly as the wrapped signer does', () => {
    const keys = set({ active_kid: a.kid, keys: [a] });
    const tracked = new KeyUse().track(keys.signer);
    expect(tracked.kid).toBe(a.kid);
    expect(tracked.alg).toBe('ES256');
    expect(tracked.sign({ exp: 1 }).split('.')[0]).toBe(keys.signer.sign({ exp: 1 }).split('.')[0]);
  });
});

describe('the rotation members of a key file', () => {
  let a: JWK;
  beforeAll(async () => {
    a = await generateSigningJwk('ES256');
  });
  const read = (extra: Record<string, unknown>) =>
    prepareSigningKeys({ active_kid: a.kid, keys: [a], ...extra }, 'ES256').rotation;

  it('reads retired_at leniently: only readable times count', () => {
    expect(read({}).retiredAtMs.size).toBe(0);
    expect(read({ retired_at: [] }).retiredAtMs.size).toBe(0);
    expect(read({ retired_at: 'x' }).retiredAtMs.size).toBe(0);
    expect([...read({ retired_at: { k1: at(5), k2: 7, k3: 'no' } }).retiredAtMs]).toEqual([
      ['k1', t0 + 5000],
    ]);
  });

  it('reads forced_kids strictly: an override must say exactly what it forces', () => {
    expect([...read({ forced_kids: { k1: at(0) } }).forcedKids]).toEqual(['k1']);
    for (const forced of [[], 'k1', null, { k1: 'yesterday' }, { k1: 1 }]) {
      expect(() => read({ forced_kids: forced })).toThrow(SigningKeyError);
    }
  });
});
