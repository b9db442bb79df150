/**
 * Seeded fuzzing: a reproducible random source, byte-level mutations of DER and a catalogue of
 * hostile values. Every fuzz test reads its seed and size from the environment so a failure can
 * be replayed and a bigger corpus run by hand:
 *
 *   TOLLGATE_FUZZ_SEED=7 TOLLGATE_FUZZ_CASES=50000 npx vitest run test/pki/fuzz.test.ts
 *
 * The failing case's index and seed are in the assertion message.
 */
import { prng, type Rng } from '../pki/differential/cases.js';

export type { Rng };

/** The run's seed and case count (`fallbackCases` unless TOLLGATE_FUZZ_CASES says otherwise). */
export function fuzzRun(fallbackCases: number): { seed: number; cases: number; rng: Rng } {
  const seed = Number(process.env.TOLLGATE_FUZZ_SEED ?? 2026);
  const cases = Number(process.env.TOLLGATE_FUZZ_CASES ?? fallbackCases);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(cases) || cases < 1) {
    throw new TypeError('TOLLGATE_FUZZ_SEED and TOLLGATE_FUZZ_CASES must be integers');
  }
  return { seed, cases, rng: prng(seed) };
}

export const pick = <T>(rng: Rng, items: readonly T[]): T =>
  items[Math.floor(rng() * items.length)] as T;

export const below = (rng: Rng, n: number): number => Math.floor(rng() * n);

/** Bytes that sit on DER's edges: tags, length forms, sign bits. */
const edgeBytes = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x17, 0x18, 0x1e, 0x30];
const lengthBytes = [0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0xff];

/**
 * One to four byte-level mutations of `der`: a flipped bit, a byte set to an edge value, a
 * length byte in another form, a range deleted, duplicated or taken from `donor`, a truncation.
 * The result always differs from `der`.
 */
export function mutateDer(rng: Rng, der: Uint8Array, donor: Uint8Array = der): Buffer {
  let bytes = Buffer.from(der);
  const rounds = 1 + below(rng, 4);
  for (let round = 0; round < rounds; round++) {
    const at = below(rng, Math.max(bytes.length, 1));
    switch (below(rng, 7)) {
      case 0:
        if (bytes.length > 0) bytes[at] = (bytes[at] as number) ^ (1 << below(rng, 8));
        break;
      case 1:
        if (bytes.length > 0) bytes[at] = pick(rng, edgeBytes);
        break;
      case 2:
        if (bytes.length > 0) bytes[at] = pick(rng, lengthBytes);
        break;
      case 3: {
        const length = 1 + below(rng, 16);
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + length)]);
        break;
      }
      case 4: {
        const length = 1 + below(rng, 16);
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          bytes.subarray(at, at + length),
          bytes.subarray(at),
        ]);
        break;
      }
      case 5: {
        const from = below(rng, Math.max(donor.length, 1));
        const length = 1 + below(rng, 64);
        const piece = donor.subarray(from, from + length);
        bytes = Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(at + piece.length)]);
        break;
      }
      default:
        bytes = bytes.subarray(0, at);
    }
  }
  if (bytes.equals(Buffer.from(der))) bytes = Buffer.concat([bytes, Buffer.from([0])]);
  return bytes;
}

/** Strings that have broken parsers before: empty, huge, control characters, lone surrogates... */
export const hostileStrings: readonly string[] = [
  '',
  ' ',
  'a',
  'x'.repeat(300),
  'x'.repeat(5000),
  '\u0000',
  'a\u0000b',
  '\r\n',
  '\t',
  '\ud800',
  '\udfff\ud800',
  '\u202e',
  '\ufeff',
  '😀',
  '%',
  '%00',
  '%zz',
  '%25',
  '+',
  '=',
  '&',
  '..',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  '-1',
  '0',
  '1e309',
  '9007199254740993',
  '{}',
  '[]',
  '{"a":',
  '"',
  "'",
  '\\',
  'https://evil.example/',
  'http://127.0.0.1/',
  'spiffe://example.org/svc',
  'none',
  'HS256',
  'ES256',
  '*',
  'a.b.c',
  '..',
  'eyJhbGciOiJub25lIn0.e30.',
];

/** JSON values of every type and edge, for claims and header members. */
export function hostileJson(rng: Rng, depth = 0): unknown {
  switch (below(rng, depth > 2 ? 6 : 9)) {
    case 0:
      return pick(rng, hostileStrings);
    case 1:
      return pick(rng, [
        0,
        -1,
        1,
        0.5,
        -0,
        1e308,
        -1e308,
        2 ** 53 + 2,
        2 ** 31,
        4_102_444_800,
        1_000_000_000_000,
      ]);
    case 2:
      return pick(rng, [true, false, null]);
    case 3:
      return (
        Math.floor(Date.now() / 1000) + pick(rng, [-86_400, -61, -1, 0, 1, 30, 299, 301, 86_400])
      );
    case 4:
      return pick(rng, hostileStrings).repeat(1 + below(rng, 3));
    case 5:
      return `${pick(rng, hostileStrings)}${below(rng, 1000)}`;
    case 6:
      return Array.from({ length: below(rng, 4) }, () => hostileJson(rng, depth + 1));
    case 7:
      return Object.fromEntries(
        Array.from({ length: below(rng, 4) }, () => [
          pick(rng, hostileStrings),
          hostileJson(rng, depth + 1),
        ]),
      );
    default:
      // Deep nesting: parsers that recurse per level must still bound it.
      return JSON.parse(`${'['.repeat(200)}${']'.repeat(200)}`) as unknown;
  }
}
