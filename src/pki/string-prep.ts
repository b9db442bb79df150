/**
 * Directory string decoding and the comparison rule for DN attribute values.
 *
 * The rule is exact trust: an identity matches only itself, never a look-alike. RFC 4518's
 * preparation (NFKC, full case folding, mapping invisible characters to nothing) is a
 * *matching* convenience that turns many different strings into one; a CA that issues by exact
 * string (most internal, tenant and Vault-style CAs) treats `admın` (dotless ı), `ａｄｍｉｎ`
 * (full-width) or `ad<U+00AD>min` (soft hyphen) as names distinct from `admin` and will issue them
 * to someone else. So every value falls in exactly one class, and values of different classes
 * never compare equal:
 * - `ascii`: only printable ASCII (U+0020–U+007E). Compared ASCII-case-insensitively with RFC 4518
 *   insignificant-space handling (leading and trailing spaces dropped, inner runs of spaces
 *   collapsed to one): what RFC 4518 gives for ASCII text.
 * - `unicode`: some non-ASCII character, already in NFC and in NFKC (no compatibility
 *   character), and nothing invisible or ambiguous (no control or format character, nothing
 *   RFC 4518 maps to nothing, no space other than U+0020, no unassigned, private-use or
 *   non-character code point). Compared after the same space handling and a lower-case mapping
 *   of each code point that maps to exactly one code point (final `ς` taken as `σ`, as case
 *   folding does); a code point whose lower case is longer (`İ` U+0130, whose lower case is `i`
 *   and a combining dot) is kept as it is. So case is all that is ignored: JavaScript's
 *   whole-string `toLowerCase()` also maps compatibility characters onto letters (`ϴ` U+03F4 to
 *   `θ`) and `İ` onto a two-code-point sequence anyone can write, and such names authenticated
 *   as the registered `Θ…` and `İ…` ones (round 23).
 * - `exact`: everything else (invisible or control characters, non-NFC or non-NFKC text, other
 *   spaces).
 *   Such a value equals only the identical sequence of code points; registrations cannot contain
 *   one (see {@link lookalikeProblem}), so it never authenticates anyone.
 *
 * Deviation from RFC 4518, on purpose and documented in docs/security.md: no NFKC, no mapping to
 * nothing, no folding across the ASCII boundary, and non-NFC values compare exactly. Two names
 * that are the same for a human but differ in code points must be registered as the CA wrote
 * them.
 *
 * @see RFC 4518 §2 (string preparation), RFC 5280 §7.1 (internationalized names in DNs),
 *   Unicode UTS #39 §5.2 (restriction levels, for {@link lookalikeProblem})
 */
import { DerError, type Tlv, tagClass, universalTag } from './der.js';

/** Universal tags of the string types a DirectoryString (or IA5String attribute) may use. */
const stringTags: ReadonlySet<number> = new Set([
  universalTag.utf8String,
  universalTag.printableString,
  universalTag.teletexString,
  universalTag.ia5String,
  universalTag.visibleString,
  universalTag.numericString,
  universalTag.universalString,
  universalTag.bmpString,
]);

/** True when `tlv` is one of the ASN.1 character string types we decode. */
export function isStringValue(tlv: Tlv): boolean {
  return tlv.tagClass === tagClass.universal && !tlv.constructed && stringTags.has(tlv.tagNumber);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes an ASN.1 character string to a JavaScript string; throws {@link DerError}. */
export function decodeStringValue(tlv: Tlv): string {
  const bytes = tlv.value;
  switch (tlv.tagNumber) {
    case universalTag.utf8String:
      try {
        return utf8.decode(bytes);
      } catch {
        throw new DerError('invalid UTF-8 in UTF8String');
      }
    case universalTag.printableString:
    case universalTag.visibleString:
      // Real CAs put `*`, `@` and `&` in PrintableString; printable ASCII is what matters here.
      return asciiRange(bytes, 0x20, 0x7e);
    case universalTag.ia5String:
      return asciiRange(bytes, 0x00, 0x7f);
    case universalTag.numericString:
      if (!/^[0-9 ]*$/.test(asciiRange(bytes, 0x20, 0x7e))) throw new DerError('bad NumericString');
      return asciiRange(bytes, 0x20, 0x7e);
    case universalTag.teletexString:
      // T.61 is rarely used correctly; CAs that use it put Latin-1 in it (RFC 5280 §4.1.2.4).
      return String.fromCharCode(...bytes);
    case universalTag.bmpString:
      return decodeUcs(bytes, 2);
    case universalTag.universalString:
      return decodeUcs(bytes, 4);
    default:
      throw new DerError('not a string type');
  }
}

function asciiRange(bytes: Uint8Array, low: number, high: number): string {
  let text = '';
  for (const octet of bytes) {
    if (octet < low || octet > high) throw new DerError('character outside the string type');
    text += String.fromCharCode(octet);
  }
  return text;
}

function decodeUcs(bytes: Uint8Array, width: 2 | 4): string {
  if (bytes.length % width !== 0) throw new DerError('bad BMPString/UniversalString length');
  let text = '';
  for (let index = 0; index < bytes.length; index += width) {
    let codePoint = 0;
    for (let octet = 0; octet < width; octet++) {
      codePoint = codePoint * 256 + (bytes[index + octet] as number);
    }
    if ((codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff) {
      throw new DerError('surrogate or out-of-range code point');
    }
    text += String.fromCodePoint(codePoint);
  }
  return text;
}

type Ranges = readonly (readonly [number, number])[];

// RFC 4518 §2.2: code points mapped to nothing (soft hyphens, joiners, variation selectors,
// control and format characters, zero width space), and fillers that render as nothing.
const invisible: Ranges = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x061c, 0x061c],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x1806, 0x1806],
  [0x180b, 0x180f],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x206f],
  [0x2800, 0x2800],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xfff9, 0xfffc],
  [0x1d173, 0x1d17a],
  [0xe0000, 0xe0fff],
];
// RFC 4518 §2.4: unassigned, private use and surrogate code points (by property), the
// replacement character and the non-characters; plus other controls, formats and separators.
const prohibitedCategory = /[\p{Cn}\p{Co}\p{Cs}]/u;
const otherInvisibleCategory = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;
const prohibited: Ranges = [
  [0xfdd0, 0xfdef],
  [0xfffd, 0xfffd],
];

function inRanges(codePoint: number, ranges: Ranges): boolean {
  return ranges.some(([low, high]) => codePoint >= low && codePoint <= high);
}

/**
 * True when `text` holds a code point RFC 4518 §2.4 prohibits (unassigned, private use,
 * surrogate, non-character, U+FFFD): such a value matches nothing a client may register.
 */
export function hasProhibitedCharacter(text: string): boolean {
  if (prohibitedCategory.test(text)) return true;
  for (const char of text) {
    const codePoint = char.codePointAt(0) as number;
    // U+nFFFE and U+nFFFF are non-characters in every plane.
    if (inRanges(codePoint, prohibited) || (codePoint & 0xfffe) === 0xfffe) return true;
  }
  return false;
}

/** The first invisible, control or non-U+0020 space character of `text`, if any. */
function firstInvisible(text: string): number | undefined {
  for (const char of text) {
    const codePoint = char.codePointAt(0) as number;
    if (inRanges(codePoint, invisible) || otherInvisibleCategory.test(char)) return codePoint;
  }
  return undefined;
}

const printableAscii = /^[\x20-\x7e]*$/;

/** The comparison class of a value (see the module comment). */
export type ValueClass = 'ascii' | 'unicode' | 'exact';

/** Which class `text` falls in. */
export function valueClass(text: string): ValueClass {
  if (printableAscii.test(text)) return 'ascii';
  if (
    firstInvisible(text) !== undefined ||
    hasProhibitedCharacter(text) ||
    text.normalize('NFC') !== text ||
    // A compatibility character may lower-case onto a letter (`ϴ` to `θ`); none can be registered.
    text.normalize('NFKC') !== text
  ) {
    return 'exact';
  }
  return 'unicode';
}

/**
 * The comparison key of a directory string: equal keys mean equal values under the exact-trust
 * rule of this module. The key starts with its class letter (`a`, `u`, `x`), so values of
 * different classes never collide.
 *
 * @see RFC 4518 §2.6.1 (insignificant space handling), RFC 5280 §7.1
 */
export function comparisonKey(text: string): string {
  switch (valueClass(text)) {
    case 'ascii':
      return `a${collapseSpaces(text).replace(/[A-Z]/g, (char) => char.toLowerCase())}`;
    case 'unicode':
      return `u${lowerEachCodePoint(collapseSpaces(text))}`;
    case 'exact':
      return `x${text}`;
  }
}

/**
 * Lower case, one code point at a time, only where the mapping is one code point to one: no
 * context (final sigma) and no expansion (`İ` to `i` + U+0307), so no two strings that differ by
 * more than letter case get the same key. Final `ς` becomes `σ` (the case folding of both), so
 * `ΟΔΟΣ` still equals `οδος`.
 */
function lowerEachCodePoint(text: string): string {
  let lowered = '';
  for (const char of text) {
    const lower = char === '\u03c2' ? '\u03c3' : char.toLowerCase();
    lowered += [...lower].length === 1 ? lower : char;
  }
  return lowered;
}

function collapseSpaces(text: string): string {
  return text.replace(/ +/g, ' ').trim();
}

// UTS #39 "highly restrictive": one script, or Latin with Han and the Japanese, Chinese or
// Korean scripts that are written together with it.
const scripts = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Syriac',
  'Thaana',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Georgian',
  'Hangul',
  'Ethiopic',
  'Cherokee',
  'Khmer',
  'Mongolian',
  'Hiragana',
  'Katakana',
  'Bopomofo',
  'Han',
] as const;
const scriptPatterns = scripts.map(
  (script) => [script, new RegExp(`^\\p{Script=${script}}$`, 'u')] as const,
);
const neutral = /^[\p{Script=Common}\p{Script=Inherited}]$/u;
const allowedMixes: readonly ReadonlySet<string>[] = [
  new Set(['Latin', 'Han', 'Hiragana', 'Katakana']),
  new Set(['Latin', 'Han', 'Bopomofo']),
  new Set(['Latin', 'Han', 'Hangul']),
];

function scriptsOf(text: string): Set<string> {
  const found = new Set<string>();
  for (const char of text) {
    if (neutral.test(char)) continue;
    const script = scriptPatterns.find(([, pattern]) => pattern.test(char))?.[0];
    found.add(script ?? `U+${hex(char.codePointAt(0) as number)}`);
  }
  return found;
}

function hex(codePoint: number): string {
  return codePoint.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * Why a value a client wants to register could be mistaken for another, or `undefined`.
 * Refused: invisible, control and format characters (soft hyphen, zero-width, bidi controls,
 * variation selectors), spaces other than U+0020, prohibited code points, text not in NFC,
 * compatibility characters (full-width forms, ligatures, the Kelvin sign: NFKC would change
 * them), and scripts mixed in one value beyond UTS #39 "highly restrictive" (Latin `a` next to
 * Cyrillic `а`).
 *
 * @see UTS #39 §5.2, RFC 4518 §2.2
 */
export function lookalikeProblem(text: string): string | undefined {
  const hidden = firstInvisible(text);
  if (hidden !== undefined) {
    return `contains an invisible, control or non-ASCII space character (U+${hex(hidden)})`;
  }
  if (hasProhibitedCharacter(text)) return 'contains an unassigned or private-use character';
  if (text.normalize('NFC') !== text) return 'is not in Unicode NFC (register the composed form)';
  if (text.normalize('NFKC') !== text) {
    const char = [...text].find((one) => one.normalize('NFKC') !== one) as string;
    return `contains a compatibility character (U+${hex(char.codePointAt(0) as number)}) that looks like another`;
  }
  const found = scriptsOf(text);
  if (found.size > 1 && !allowedMixes.some((mix) => [...found].every((one) => mix.has(one)))) {
    return `mixes scripts (${[...found].sort().join(', ')}): a look-alike of another name`;
  }
  return undefined;
}
