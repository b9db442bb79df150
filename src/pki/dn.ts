/**
 * Distinguished names: the RFC 4514 string parser, the ASN.1 `Name` decoder, and one normalized
 * form both produce, so that a DN a client registered and the subject of the certificate it
 * presents can be compared exactly as RFC 5280 §7.1 asks.
 *
 * Normalization: attribute types become OIDs; string values get the exact-trust comparison key
 * of `string-prep.ts` (ASCII case-insensitive with RFC 4518 insignificant spaces; non-ASCII
 * values never equal ASCII ones and are never NFKC-folded); `#hex` values that hold a string
 * type are decoded and keyed like any string, other values are compared as their DER bytes; each RDN is a set
 * (its attributes sorted); RDN order is kept. Each normalized RDN and the whole DN are rendered to
 * an injective key, so comparing two DNs is one string comparison, and a registered DN is parsed
 * once and kept in its compiled form.
 *
 * Accepted beyond strict RFC 4514, because humans type registered DNs: spaces around `,`, `+`
 * and `=` (RFC 4514 §3 allows recognizing other forms; unescaped edge spaces of a string value
 * are insignificant anyway). Refused: `;` as a separator, unescaped `"`, `<`, `>`, `;`, NUL,
 * unknown attribute type names, empty RDNs, an empty DN, repeated types inside one RDN.
 *
 * @see RFC 4514 §2–§3 (string form), RFC 4518 (preparation), RFC 5280 §4.1.2.4 and §7.1
 */
import { attributeTypeName, attributeTypeOid } from './attribute-types.js';
import {
  DerError,
  expectUniversal,
  readChildren,
  readOid,
  readSingle,
  sequenceChildren,
  type Tlv,
  universalTag,
} from './der.js';
import { bytesToHex } from './encoding.js';
import { PkiError } from './errors.js';
import {
  comparisonKey,
  decodeStringValue,
  hasProhibitedCharacter,
  isStringValue,
} from './string-prep.js';

/**
 * A value as written or encoded: a character string (with its universal string tag when it came
 * from DER; comparison ignores it), or the DER of any other type.
 */
export type DnValue =
  | { readonly kind: 'string'; readonly text: string; readonly tag?: number }
  | { readonly kind: 'der'; readonly der: Uint8Array };

/** One attribute type and value, with its comparison key. */
export interface DnAttribute {
  /** The attribute type as a dotted OID. */
  readonly type: string;
  readonly value: DnValue;
  /** Injective comparison key of the normalized attribute. */
  readonly key: string;
}

/** A parsed and normalized distinguished name. */
export interface DistinguishedName {
  /** RDNs in order (first RDN first, as in the certificate's `Name` SEQUENCE). */
  readonly rdns: readonly (readonly DnAttribute[])[];
  /** Comparison key of each RDN (attribute keys sorted: an RDN is a set). */
  readonly rdnKeys: readonly string[];
  /** Comparison key of the whole DN: equal keys mean equal DNs. */
  readonly key: string;
}

/** Longest registered DN string we accept; real DNs are far shorter. */
export const maxDnStringLength = 4096;

/**
 * Parses an RFC 4514 DN string into its normalized form; throws {@link PkiError} `malformed`.
 *
 * The string lists RDNs in the same order as the certificate encodes them (RFC 4514 reverses
 * the ASN.1 order, so `CN=leaf,O=org` is the Name `O=org, CN=leaf`); comparison against a
 * certificate accounts for that.
 *
 * @see RFC 4514 §3
 */
export function parseDn(input: unknown): DistinguishedName {
  if (typeof input !== 'string') throw new PkiError('malformed', 'a DN must be a string');
  if (input.length > maxDnStringLength) throw new PkiError('too_large', 'DN string too long');
  const rdns = new DnStringParser(input).parse();
  // RFC 4514 §2.1: the string starts with the last RDN of the ASN.1 sequence.
  return buildDn(rdns.reverse());
}

/**
 * Decodes a DER `Name` (a certificate's subject or issuer) into the normalized form; throws
 * {@link DerError} for anything that is not a well-formed Name.
 *
 * @see RFC 5280 §4.1.2.4
 */
export function dnFromDer(nameDer: Uint8Array): DistinguishedName {
  return dnFromTlv(readSingle(nameDer));
}

/** Decodes a `Name` TLV (see {@link dnFromDer}). */
export function dnFromTlv(name: Tlv): DistinguishedName {
  const rdns: DnAttribute[][] = [];
  for (const set of sequenceChildren(name, 'Name')) {
    const attributes = readChildren(expectUniversal(set, universalTag.set, 'RDN'));
    if (attributes.length === 0) throw new DerError('empty RDN');
    rdns.push(
      attributes.map((attribute) => {
        const [typeTlv, valueTlv, extra] = sequenceChildren(attribute, 'AttributeTypeAndValue');
        if (valueTlv === undefined || extra !== undefined) {
          throw new DerError('bad AttributeTypeAndValue');
        }
        const type = readOid(typeTlv, 'attribute type');
        if (isStringValue(valueTlv)) {
          return makeAttribute(type, {
            kind: 'string',
            text: decodeStringValue(valueTlv),
            tag: valueTlv.tagNumber,
          });
        }
        return makeAttribute(type, { kind: 'der', der: valueTlv.raw });
      }),
    );
  }
  return buildDn(rdns);
}

/**
 * True when a value of `dn` is a TeletexString holding a non-ASCII octet. Such values are read
 * as Latin-1, as OpenSSL reads them and as the CAs that use the type write them (RFC 5280
 * §4.1.2.4), and compare so for name chaining; but a CA that writes real T.61 means another
 * name by the same octets (0xC2 0x65 is `é` in T.61 and `Âe` in Latin-1). An identity must not
 * rest on a guess between the two, so such a subject names no client (fail closed).
 */
export function hasAmbiguousText(dn: DistinguishedName): boolean {
  return dn.rdns.some((rdn) =>
    rdn.some(
      ({ value }) =>
        value.kind === 'string' &&
        value.tag === universalTag.teletexString &&
        /[^\0-\x7f]/.test(value.text),
    ),
  );
}

/** True when two normalized DNs are equal (same RDNs, in order, each the same set). */
export function dnEquals(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.key === b.key;
}

/**
 * True when `base` is a prefix of `name` (RDN by RDN, in ASN.1 order): the directoryName rule
 * of name constraints.
 *
 * @see RFC 5280 §4.2.1.10
 */
export function dnIsWithin(name: DistinguishedName, base: DistinguishedName): boolean {
  if (base.rdnKeys.length > name.rdnKeys.length) return false;
  return base.rdnKeys.every((key, index) => name.rdnKeys[index] === key);
}

/** Renders a DN as an RFC 4514 string (for logs and errors), last RDN first. */
export function formatDn(dn: DistinguishedName): string {
  return [...dn.rdns]
    .reverse()
    .map((rdn) =>
      rdn
        .map(
          (attribute) =>
            `${attributeTypeName(attribute.type)}=${
              attribute.value.kind === 'string'
                ? escapeValue(attribute.value.text)
                : `#${bytesToHex(attribute.value.der)}`
            }`,
        )
        .join('+'),
    )
    .join(',');
}

function buildDn(rdns: DnAttribute[][]): DistinguishedName {
  const rdnKeys = rdns.map((rdn) =>
    rdn
      .map((attribute) => attribute.key)
      .sort()
      .join('+'),
  );
  return { rdns, rdnKeys, key: rdnKeys.join(',') };
}

function makeAttribute(type: string, value: DnValue): DnAttribute {
  // Keys are `oid=` then `s` + JSON string (the comparison key, which starts with its class
  // letter) or `d` + hex (DER bytes): JSON quoting makes the RDN and DN joins unambiguous.
  if (value.kind === 'string') {
    return { type, value, key: `${type}=s${JSON.stringify(comparisonKey(value.text))}` };
  }
  return { type, value, key: `${type}=d${bytesToHex(value.der)}` };
}

function escapeValue(text: string): string {
  let escaped = '';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if ('\\"+,;<>='.includes(char)) escaped += `\\${char}`;
    else if (code < 0x20 || code === 0x7f) escaped += `\\${code.toString(16).padStart(2, '0')}`;
    else escaped += char;
  }
  if (escaped.startsWith('#') || escaped.startsWith(' ')) escaped = `\\${escaped}`;
  if (escaped.endsWith(' ')) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}

const escapable = new Set(['"', '+', ',', ';', '<', '>', '\\', ' ', '#', '=']);
const hexDigit = /^[0-9A-Fa-f]$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Recursive-descent parser over the RFC 4514 grammar; positions are code units. */
class DnStringParser {
  readonly #input: string;
  #position = 0;

  constructor(input: string) {
    this.#input = input;
  }

  parse(): DnAttribute[][] {
    const rdns: DnAttribute[][] = [];
    this.#skipSpaces();
    if (this.#position === this.#input.length) throw this.#error('empty DN');
    for (;;) {
      rdns.push(this.#rdn());
      if (this.#position === this.#input.length) return rdns;
      if (this.#input[this.#position] !== ',') throw this.#error('expected ","');
      this.#position++;
    }
  }

  #rdn(): DnAttribute[] {
    const attributes: DnAttribute[] = [];
    for (;;) {
      attributes.push(this.#attribute());
      if (this.#input[this.#position] !== '+') break;
      this.#position++;
    }
    const types = new Set(attributes.map((attribute) => attribute.type));
    if (types.size !== attributes.length) throw this.#error('attribute type repeated in an RDN');
    return attributes;
  }

  #attribute(): DnAttribute {
    this.#skipSpaces();
    const start = this.#position;
    while (this.#position < this.#input.length && /[A-Za-z0-9.-]/.test(this.#current())) {
      this.#position++;
    }
    const typeText = this.#input.slice(start, this.#position);
    if (typeText === '') throw this.#error('missing attribute type');
    const type = attributeTypeOid(typeText);
    if (type === undefined) throw this.#error('unknown or malformed attribute type');
    this.#skipSpaces();
    if (this.#input[this.#position] !== '=') throw this.#error('expected "="');
    this.#position++;
    this.#skipSpaces();
    const value = this.#input[this.#position] === '#' ? this.#hexValue() : this.#stringValue();
    return makeAttribute(type, value);
  }

  #hexValue(): DnValue {
    this.#position++;
    const start = this.#position;
    while (this.#position < this.#input.length && hexDigit.test(this.#current())) {
      this.#position++;
    }
    const hex = this.#input.slice(start, this.#position);
    if (hex.length === 0 || hex.length % 2 !== 0) throw this.#error('bad #hex value');
    this.#skipSpaces();
    this.#expectValueEnd();
    const der = Uint8Array.from(Buffer.from(hex, 'hex'));
    let tlv: Tlv;
    try {
      tlv = readSingle(der);
    } catch (error) {
      throw this.#error('#hex value is not one DER value', error);
    }
    if (!isStringValue(tlv)) return { kind: 'der', der };
    let text: string;
    try {
      text = decodeStringValue(tlv);
    } catch (error) {
      throw this.#error('#hex value is not a valid string', error);
    }
    return this.#checkedString(text);
  }

  #stringValue(): DnValue {
    const bytes: number[] = [];
    let significantLength = 0;
    while (this.#position < this.#input.length) {
      const char = this.#current();
      if (char === ',' || char === '+') break;
      if (char === '\\') {
        this.#position++;
        const next = this.#input[this.#position];
        if (next !== undefined && escapable.has(next)) {
          bytes.push(next.charCodeAt(0));
          this.#position++;
        } else {
          const pair = this.#input.slice(this.#position, this.#position + 2);
          if (
            pair.length !== 2 ||
            !hexDigit.test(pair[0] as string) ||
            !hexDigit.test(pair[1] as string)
          ) {
            throw this.#error('bad escape');
          }
          bytes.push(Number.parseInt(pair, 16));
          this.#position += 2;
        }
        significantLength = bytes.length;
        continue;
      }
      if (char === '"' || char === ';' || char === '<' || char === '>' || char === '\u0000') {
        throw this.#error('character must be escaped');
      }
      const codePoint = this.#input.codePointAt(this.#position) as number;
      if (codePoint >= 0xd800 && codePoint <= 0xdfff) throw this.#error('lone surrogate');
      const width = codePoint > 0xffff ? 2 : 1;
      for (const octet of encoder.encode(
        this.#input.slice(this.#position, this.#position + width),
      )) {
        bytes.push(octet);
      }
      this.#position += width;
      // Unescaped trailing spaces are dropped (insignificant); escaped ones are kept.
      if (char !== ' ') significantLength = bytes.length;
    }
    let text: string;
    try {
      text = utf8.decode(Uint8Array.from(bytes.slice(0, significantLength)));
    } catch (error) {
      throw this.#error('escaped bytes are not UTF-8', error);
    }
    return this.#checkedString(text);
  }

  #checkedString(text: string): DnValue {
    if (hasProhibitedCharacter(text)) throw this.#error('prohibited character in value');
    return { kind: 'string', text };
  }

  #expectValueEnd(): void {
    const char = this.#input[this.#position];
    if (char !== undefined && char !== ',' && char !== '+') throw this.#error('junk after value');
  }

  #skipSpaces(): void {
    while (this.#input[this.#position] === ' ') this.#position++;
  }

  #current(): string {
    return this.#input[this.#position] as string;
  }

  #error(reason: string, cause?: unknown): PkiError {
    return new PkiError(
      'malformed',
      `invalid DN at position ${this.#position}: ${reason}`,
      cause === undefined ? {} : { cause },
    );
  }
}
