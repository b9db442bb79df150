/**
 * Hostile bytes through the certificate and CRL parsers and through chain validation: seeded
 * mutations (byte changes, bit flips, truncations, insertions, deletions, duplicated runs) of
 * dev CA certificates and CRLs, and inputs built to the size cap to stress the parsers' loops
 * (deep nesting, thousands of SANs, RDNs, extensions and OID arcs). Every input must end in a
 * result or a typed `PkiError` (never another exception), and `TrustStore.validate` must
 * return a result for every one. The parsers are iterative walks over a fixed structure (no
 * recursion on attacker-chosen depth, no backtracking), so the work is linear in the input,
 * which the size cap (16 KiB) bounds; the inputs at the cap show it completes.
 */
import { describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import {
  defaultMaxCertificateBytes,
  PkiError,
  parseCertificate,
  parseCrl,
  TrustStore,
} from '../../src/pki/index.js';
import {
  childrenOf,
  ctx,
  ctxPrimitive,
  extension,
  oid,
  seq,
  set,
  tlv,
  utf8,
} from './der-builder.js';
import { prng } from './differential/cases.js';

/** Mutations per seed input; four inputs, so about 4 × 600 parses and validations. */
const perInput = 600;

function mutate(bytes: Uint8Array, rng: () => number): Uint8Array {
  const input = Buffer.from(bytes);
  const at = Math.floor(rng() * input.length);
  const octet = Math.floor(rng() * 256);
  switch (Math.floor(rng() * 6)) {
    case 0:
      input[at] = octet;
      return input;
    case 1:
      input[at] = (input[at] as number) ^ (1 << Math.floor(rng() * 8));
      return input;
    case 2:
      return input.subarray(0, at);
    case 3:
      return Buffer.concat([input.subarray(0, at), Buffer.of(octet), input.subarray(at)]);
    case 4:
      return Buffer.concat([input.subarray(0, at), input.subarray(at + 1)]);
    default: {
      const run = input.subarray(at, at + Math.floor(rng() * 40));
      return Buffer.concat([input.subarray(0, at), run, input.subarray(at)]);
    }
  }
}

/** Runs `parse`; returns 'ok', or 'refused' for a PkiError, and rethrows anything else. */
function outcome(parse: () => unknown): 'ok' | 'refused' {
  try {
    parse();
    return 'ok';
  } catch (error) {
    if (error instanceof PkiError) return 'refused';
    throw error;
  }
}

/** A certificate whose TBS fields are the dev CA leaf's, with `edit` applied (unsigned: parse only). */
function withTbs(der: Uint8Array, edit: (fields: Uint8Array[]) => Uint8Array[]): Uint8Array {
  const [tbs, algorithm, signature] = childrenOf(der) as [Uint8Array, Uint8Array, Uint8Array];
  return seq(seq(...edit(childrenOf(tbs))), algorithm, signature);
}

describe('parsers under hostile input', () => {
  it('end every mutated certificate and CRL in a result or a PkiError; validation always returns', async () => {
    const ca = await createDevCa();
    const leaf = await ca.issueClient({ clientId: 'fuzz', sanDns: ['fuzz.test'] });
    const crls = await ca.crls();
    const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const now = new Date();
    const rng = prng(22);
    const counts = { ok: 0, refused: 0 };
    for (const seed of [leaf.certDer, ca.intermediate.certDer, ca.root.certDer]) {
      for (let index = 0; index < perInput; index++) {
        let input = mutate(seed, rng);
        if (rng() < 0.3) input = mutate(input, rng);
        counts[outcome(() => parseCertificate(input))]++;
        const result = store.validate(input, [ca.intermediate.certDer], { now });
        expect(typeof result.ok).toBe('boolean');
        const chained = store.validate(leaf.certDer, [input], { now });
        expect(typeof chained.ok).toBe('boolean');
      }
    }
    for (let index = 0; index < perInput; index++) {
      counts[outcome(() => parseCrl(mutate(crls.intermediate.der, rng)))]++;
    }
    // Both outcomes occur, or the mutations prove nothing.
    expect(counts.ok).toBeGreaterThan(perInput / 10);
    expect(counts.refused).toBeGreaterThan(perInput);
  });

  it('handle inputs built to the size cap', async () => {
    const ca = await createDevCa();
    const leaf = (await ca.issueClient({ clientId: 'fuzz', sanDns: ['fuzz.test'] })).certDer;
    const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const extensionsWith =
      (...list: Uint8Array[]) =>
      (fields: Uint8Array[]) => {
        const index = fields.findIndex((field) => field[0] === 0xa3);
        const next = [...fields];
        next[index] = ctx(3, seq(...list));
        return next;
      };
    // Nested SEQUENCEs as deep as 16 KiB allows, as the subject.
    let deep: Uint8Array = seq();
    while (deep.length < defaultMaxCertificateBytes - 600) deep = seq(deep);
    const inputs: [string, Uint8Array][] = [
      [
        'deep nesting as the subject',
        withTbs(leaf, (fields) => fields.map((field, index) => (index === 5 ? deep : field))),
      ],
      [
        'thousands of SANs',
        withTbs(
          leaf,
          extensionsWith(
            extension(
              '2.5.29.17',
              seq(
                ...Array.from({ length: 1600 }, (_, n) => ctxPrimitive(2, Buffer.from(`${n}.t`))),
              ),
            ),
          ),
        ),
      ],
      [
        'thousands of RDNs',
        withTbs(leaf, (fields) =>
          fields.map((field, index) =>
            index === 5
              ? seq(...Array.from({ length: 1200 }, () => set(seq(oid('2.5.4.3'), utf8('a')))))
              : field,
          ),
        ),
      ],
      [
        'thousands of extensions',
        withTbs(
          leaf,
          extensionsWith(
            ...Array.from({ length: 850 }, (_, n) =>
              extension(`1.3.6.1.4.1.55555.${n}`, tlv(0x05)),
            ),
          ),
        ),
      ],
      [
        'an OID of thousands of arcs',
        withTbs(leaf, extensionsWith(extension(`1.3${'.1'.repeat(14_000)}`, tlv(0x05)))),
      ],
    ];
    for (const [what, input] of inputs) {
      expect(input.length, what).toBeLessThanOrEqual(defaultMaxCertificateBytes);
      expect(['ok', 'refused'], what).toContain(outcome(() => parseCertificate(input)));
      expect(typeof store.validate(input, [ca.intermediate.certDer], { now: new Date() }).ok).toBe(
        'boolean',
      );
    }
  });
});
