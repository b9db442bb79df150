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
    expect(keyStatus(retireKey(activateKey(file, kid, later), activeKid), activeKid)).toBe(
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
    expect(() => retireKey(base, activeKid)).toThrow(
      new KeyRotationError(`${activeKid} is the active key; activate another key first`),
    );
  });

  it('retires a key of a file without retired_kids, and retiring twice changes nothing', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    const retired = retireKey(file, kid);
    expect(retired.retired_kids).toEqual([kid]);
    expect(retireKey(retired, kid)).toBe(retired);
  });

  it('refuses to remove a key that is not retired', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    expect(() => removeKey(file, kid)).toThrow(
      new KeyRotationError(
        `${kid} is not retired; retire it and wait until its tokens expire before removing it`,
      ),
    );
    expect(() => removeKey(file, activeKid)).toThrow(KeyRotationError);
  });

  it('removes a retired key from a file without added_at', async () => {
    const { file, kid } = await addKey(base, 'ES256', now);
    const { added_at: _added, ...handWritten } = retireKey(file, kid);
    const removed = removeKey(handWritten, kid);
    expect(removed.keys.map((key) => key.kid)).toEqual([activeKid]);
    expect(removed.retired_kids).toEqual([]);
    expect(removed.added_at).toEqual({});
  });

  it('refuses every step for a kid that is not in the file', () => {
    const message = 'no key missing-kid in the key file';
    expect(() => activateKey(base, 'missing-kid', now)).toThrow(new KeyRotationError(message));
    expect(() => retireKey(base, 'missing-kid')).toThrow(new KeyRotationError(message));
    expect(() => removeKey(base, 'missing-kid')).toThrow(new KeyRotationError(message));
  });
});
