/**
 * Directory string decoding and the LDAP string preparation used to compare DN values.
 *
 * Two attribute values are equal when their prepared forms are equal: RFC 5280 §7.1 requires the
 * RFC 4518 algorithm (with insignificant-space handling) for PrintableString and UTF8String, and
 * the caseIgnoreMatch rule makes the comparison case-insensitive. We apply the same rule to every
 * string type, which is what X.520 prescribes for the naming attributes certificates use.
 *
 * Deviations, on purpose: case folding uses the platform's full Unicode case mapping
 * (`toUpperCase().toLowerCase()` after NFKC, which maps `ß` to `ss` like RFC 3454 table B.2);
 * the unassigned-code-point check uses the platform's Unicode version rather than 3.2; the bidi
 * check (RFC 4518 §2.5) is not applied. None of these can make two different ASCII names equal.
 *
 * @see RFC 4518 §2 (string preparation), RFC 5280 §7.1 (internationalized names in DNs)
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

const utf8 = new TextDecoder('utf-8', { fatal: true });

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
// control and format characters, zero width space).
const mapToNothing: Ranges = [
  [0x0000, 0x0008],
  [0x000e, 0x001f],
  [0x007f, 0x0084],
  [0x0086, 0x009f],
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x1806, 0x1806],
  [0x180b, 0x180e],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffc],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
];
// RFC 4518 §2.2: tab, line feed and friends, NEL become SPACE; so does every other separator.
const mapToSpace: Ranges = [
  [0x0009, 0x000d],
  [0x0085, 0x0085],
];
const separator = /^[\p{Zs}\p{Zl}\p{Zp}]$/u;
// RFC 4518 §2.4: unassigned, private use and surrogate code points (by property), the
// replacement character and the non-characters.
const prohibitedCategory = /[\p{Cn}\p{Co}\p{Cs}]/u;
const prohibited: Ranges = [
  [0xfdd0, 0xfdef],
  [0xfffd, 0xfffd],
];

function inRanges(codePoint: number, ranges: Ranges): boolean {
  return ranges.some(([low, high]) => codePoint >= low && codePoint <= high);
}

function map(input: string): string {
  let output = '';
  for (const char of input) {
    const codePoint = char.codePointAt(0) as number;
    if (inRanges(codePoint, mapToNothing)) continue;
    output += inRanges(codePoint, mapToSpace) || separator.test(char) ? ' ' : char;
  }
  return output;
}

function isProhibited(text: string): boolean {
  if (prohibitedCategory.test(text)) return true;
  for (const char of text) {
    const codePoint = char.codePointAt(0) as number;
    // U+nFFFE and U+nFFFF are non-characters in every plane.
    if (inRanges(codePoint, prohibited) || (codePoint & 0xfffe) === 0xfffe) return true;
  }
  return false;
}

/**
 * Prepares a string for caseIgnoreMatch: map, case fold, NFKC, prohibit, and remove
 * insignificant spaces (leading and trailing removed, inner runs collapsed to one).
 *
 * Returns `undefined` when the string contains a prohibited code point: RFC 4518 §2.4 says such a
 * value matches nothing.
 *
 * @see RFC 4518 §2.1–§2.6.1
 */
export function prepareString(input: string): string | undefined {
  const folded = map(input).normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
  if (isProhibited(folded)) return undefined;
  return folded.replace(/ +/g, ' ').trim();
}
