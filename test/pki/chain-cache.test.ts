/**
 * The cross-connection chain cache: keying by the exact bytes, bounds (entries and memory, least
 * recently used first), results per store and pins, and nothing cached past recheckAfter.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { ChainCache, PkiError, parsedOverheadBytes, TrustStore } from '../../src/pki/index.js';

describe('ChainCache', () => {
  let ca: DevCa;
  let store: TrustStore;
  let leaves: Buffer[];
  beforeAll(async () => {
    ca = await createDevCa();
    store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    leaves = [];
    for (let index = 0; index < 4; index++) {
      leaves.push((await ca.issueClient({ clientId: `client-${index}` })).certDer);
    }
  });

  it('returns the same entry for the same bytes, even from other buffers', () => {
    const chains = new ChainCache();
    const leaf = leaves[0] as Buffer;
    const entry = chains.get(leaf, [ca.intermediate.certDer]);
    expect(chains.get(Buffer.from(leaf), [Buffer.from(ca.intermediate.certDer)])).toBe(entry);
    expect(chains.get(new Uint8Array(leaf), [ca.intermediate.certDer])).toBe(entry);
    // The same leaf with another chain is another entry.
    expect(chains.get(leaf, [])).not.toBe(entry);
    expect(chains.get(leaf, [ca.intermediate.certDer, ca.root.certDer])).not.toBe(entry);
    expect(chains.size).toBe(3);
  });

  it('shares validation results per store and pins', () => {
    const chains = new ChainCache();
    const leaf = leaves[1] as Buffer;
    const validate = vi.spyOn(store, 'validate');
    try {
      const now = new Date();
      const first = chains.get(leaf, [ca.intermediate.certDer]).validate(store, { now });
      expect(first.ok).toBe(true);
      expect(chains.get(leaf, [ca.intermediate.certDer]).validate(store, { now })).toBe(first);
      expect(validate).toHaveBeenCalledTimes(1);
      const pins = { now, pinnedSpkiSha256: [ca.root.spkiSha256, 'other'] };
      const pinned = chains.get(leaf, [ca.intermediate.certDer]).validate(store, pins);
      expect(pinned).not.toBe(first);
      expect(pinned.ok).toBe(true);
      const reordered = { now, pinnedSpkiSha256: ['other', ca.root.spkiSha256] };
      expect(chains.get(leaf, [ca.intermediate.certDer]).validate(store, reordered)).toBe(pinned);
      expect(validate).toHaveBeenCalledTimes(2);
    } finally {
      validate.mockRestore();
    }
  });

  it('keeps parse failures as results, not thrown', () => {
    const chains = new ChainCache();
    const junk = Buffer.from('not a certificate');
    const entry = chains.get(junk, []);
    expect(entry.peer).toBeInstanceOf(PkiError);
    expect(chains.get(Buffer.from(junk), [])).toBe(entry);
    const result = entry.validate(store, { now: new Date() });
    expect(result.ok === false && result.reason).toBe('malformed');
  });

  it('refuses an invalid time even when a result is cached', () => {
    const chains = new ChainCache();
    const entry = chains.get(leaves[2] as Buffer, [ca.intermediate.certDer]);
    expect(entry.validate(store, { now: new Date() }).ok).toBe(true);
    expect(() => entry.validate(store, { now: new Date(Number.NaN) })).toThrow(TypeError);
  });

  it('is bounded by entries, least recently used first', () => {
    const chains = new ChainCache({ maxEntries: 2 });
    const [a, b, c] = leaves as [Buffer, Buffer, Buffer];
    const entryA = chains.get(a, []);
    const entryB = chains.get(b, []);
    expect(chains.get(a, [])).toBe(entryA);
    chains.get(c, []);
    expect(chains.size).toBe(2);
    expect(chains.get(a, [])).toBe(entryA);
    // b was the least recently used: parsed again.
    expect(chains.get(b, [])).not.toBe(entryB);
    expect(chains.size).toBe(2);
  });

  it('is bounded by memory, and keeps nothing larger than its budget', () => {
    const [a, b] = leaves as [Buffer, Buffer];
    const oneEntry = a.length + parsedOverheadBytes;
    const chains = new ChainCache({ maxBytes: oneEntry + 100 });
    const entryA = chains.get(a, []);
    expect(chains.get(a, [])).toBe(entryA);
    chains.get(b, []);
    expect(chains.size).toBe(1);
    expect(chains.get(a, [])).not.toBe(entryA);
    // A long chain over the whole budget is parsed and returned, never kept.
    const big = chains.get(a, [ca.intermediate.certDer, ca.root.certDer]);
    expect(big.peer).not.toBeInstanceOf(PkiError);
    expect(chains.get(a, [ca.intermediate.certDer, ca.root.certDer])).not.toBe(big);
    expect(new ChainCache({ maxEntries: 0 }).get(a, []).peer).not.toBeInstanceOf(PkiError);
  });

  it('stays within 10,000 entries by default', () => {
    const chains = new ChainCache();
    const junk = Buffer.alloc(8);
    for (let index = 0; index < 10_050; index++) {
      junk.writeUInt32BE(index);
      chains.get(junk, []);
    }
    expect(chains.size).toBe(10_000);
  });

  it('rejects bad bounds', () => {
    expect(() => new ChainCache({ maxEntries: -1 })).toThrow(TypeError);
    expect(() => new ChainCache({ maxBytes: 1.5 })).toThrow(TypeError);
  });
});
