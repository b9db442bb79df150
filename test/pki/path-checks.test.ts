/**
 * The key check of a path (src/pki/path-checks.ts `checkKeyPolicy`): every key must meet the
 * policy and decode. The leaf's key verifies no signature on the path, so before round 22 a
 * leaf whose EC point is not on its curve passed Tollgate while OpenSSL refuses it (the
 * differential test's `spki:ec-off-curve@leaf`). Chains are built with the differential test's
 * builder (the dev CA's profile) and run through a real TrustStore.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bits, oid, seq } from './der-builder.js';
import { encode, keyEntry, keyIdOf, oids } from './differential/builder.js';
import { basePlan, type KeyPool, prng, realize, setExt } from './differential/cases.js';
import { tollgateVerdict } from './differential/tollgate.js';

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

describe('checkKeyPolicy', () => {
  const good = [0, 1, 2, 3].map((index) => keyEntry(`p256-${index}`, p256().privateKey));
  const pool: KeyPool = { good, byName: new Map(good.map((key) => [key.name, key])) };
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);

  /** A chain whose leaf carries `point` as its P-256 public key. */
  const withLeafPoint = (point: Uint8Array) => {
    const plan = basePlan('k1', prng(22), pool, now, 1);
    const spki = Buffer.from(
      seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), bits(0, point)),
    );
    plan.leaf.key = keyEntry('leaf', plan.leaf.key.privateKey, spki);
    setExt(plan.leaf, oids.subjectKeyIdentifier, (ext) =>
      ext === undefined ? undefined : { ...ext, value: encode.keyIdentifier(keyIdOf(spki)) },
    );
    return tollgateVerdict(realize(plan, 'key'), now);
  };
  const point = () =>
    Uint8Array.from(p256().publicKey.export({ type: 'spki', format: 'der' }).subarray(-65));

  it('accepts a leaf with a P-256 point on the curve, uncompressed or compressed', () => {
    const onCurve = point();
    expect(withLeafPoint(onCurve)).toEqual({ ok: true, reason: 'ok' });
    const prefix = ((onCurve[64] as number) & 1) === 1 ? 3 : 2;
    expect(withLeafPoint(Uint8Array.from([prefix, ...onCurve.subarray(1, 33)]))).toEqual({
      ok: true,
      reason: 'ok',
    });
  });

  it('refuses a leaf whose point is off the curve, or has no point for its x', () => {
    const offCurve = point();
    offCurve[64] = (offCurve[64] as number) ^ 1;
    expect(withLeafPoint(offCurve).reason).toBe(
      'key_policy: leaf: public key does not decode (e.g. an EC point not on its curve)',
    );
    // x = 2^256 - 1 is above the P-256 field prime: no point has it.
    expect(withLeafPoint(Uint8Array.from([2, ...new Array(32).fill(0xff)])).reason).toMatch(
      /^key_policy: leaf: public key does not decode/,
    );
  });
});
