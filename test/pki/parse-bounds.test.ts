/**
 * Inputs built to the certificate size cap (16 KiB) to stress the parsers' loops: deep nesting,
 * thousands of SANs, RDNs, extensions and OID arcs. Each must end in a result or a typed
 * `PkiError`, and `TrustStore.validate` must return a result. The parsers are iterative walks
 * over a fixed structure (no recursion on attacker-chosen depth, no backtracking), so the work
 * is linear in the input, which the cap bounds. Random mutations are test/pki/fuzz.test.ts's.
 */
import { describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import {
  defaultMaxCertificateBytes,
  PkiError,
  parseCertificate,
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

describe('parsers at the size cap', () => {
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
