/**
 * A small, strict DER reader.
 *
 * Certificates arrive from strangers (TLS peers, proxy headers), so the structures we read on the
 * hot path are walked with this reader rather than a general BER library: it accepts definite,
 * minimally encoded lengths only, never reads past its input, and allocates nothing but views.
 * That makes a certificate parse a few microseconds, and every oddity a thrown {@link DerError}.
 *
 * @see ITU-T X.690 §8 (BER) and §10 (DER restrictions)
 */

/** Thrown for any encoding that is not valid DER; callers turn it into a typed PKI error. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

/** Universal tag numbers this module names. */
export const universalTag = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  null: 5,
  oid: 6,
  utf8String: 12,
  sequence: 16,
  set: 17,
  numericString: 18,
  printableString: 19,
  teletexString: 20,
  ia5String: 22,
  utcTime: 23,
  generalizedTime: 24,
  visibleString: 26,
  universalString: 28,
  bmpString: 30,
} as const;

export const tagClass = { universal: 0, application: 1, context: 2, private: 3 } as const;

/** One tag-length-value, as views into the input. */
export interface Tlv {
  readonly tagClass: number;
  readonly constructed: boolean;
  readonly tagNumber: number;
  /** The content octets. */
  readonly value: Uint8Array;
  /** The whole encoding: tag, length and content. */
  readonly raw: Uint8Array;
}

/** Reads one TLV starting at `offset`; returns it with the offset just past it. */
export function readTlv(bytes: Uint8Array, offset: number): { tlv: Tlv; next: number } {
  let position = offset;
  const first = byteAt(bytes, position++);
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tagNumber = first & 0x1f;
  if (tagNumber === 0x1f) {
    // High tag number form: base-128, minimal (no leading 0x80), and really needed (>= 31).
    tagNumber = 0;
    let octet: number;
    let count = 0;
    do {
      octet = byteAt(bytes, position++);
      if (count === 0 && octet === 0x80) throw new DerError('non-minimal tag number');
      tagNumber = tagNumber * 128 + (octet & 0x7f);
      if (++count > 4) throw new DerError('tag number too large');
    } while (octet & 0x80);
    if (tagNumber < 31) throw new DerError('non-minimal tag number');
  }
  const lengthOctet = byteAt(bytes, position++);
  let length: number;
  if (lengthOctet < 0x80) {
    length = lengthOctet;
  } else if (lengthOctet === 0x80) {
    throw new DerError('indefinite length is not DER');
  } else {
    const count = lengthOctet & 0x7f;
    if (count > 4) throw new DerError('length too large');
    length = 0;
    for (let index = 0; index < count; index++) {
      const octet = byteAt(bytes, position++);
      if (index === 0 && octet === 0) throw new DerError('non-minimal length');
      length = length * 256 + octet;
    }
    if (length < 0x80) throw new DerError('non-minimal length');
  }
  const end = position + length;
  if (end > bytes.length) throw new DerError('length exceeds input');
  return {
    tlv: {
      tagClass: cls,
      constructed,
      tagNumber,
      value: bytes.subarray(position, end),
      raw: bytes.subarray(offset, end),
    },
    next: end,
  };
}

/** Reads exactly one TLV that spans all of `bytes` (no trailing data). */
export function readSingle(bytes: Uint8Array): Tlv {
  const { tlv, next } = readTlv(bytes, 0);
  if (next !== bytes.length) throw new DerError('trailing data after DER value');
  return tlv;
}

/** Reads the children of a constructed TLV. */
export function readChildren(parent: Tlv): Tlv[] {
  if (!parent.constructed) throw new DerError('expected a constructed value');
  const children: Tlv[] = [];
  let offset = 0;
  while (offset < parent.value.length) {
    const { tlv, next } = readTlv(parent.value, offset);
    children.push(tlv);
    offset = next;
  }
  return children;
}

/** True when `tlv` carries the given universal tag. */
export function isUniversal(tlv: Tlv, tagNumber: number): boolean {
  return tlv.tagClass === tagClass.universal && tlv.tagNumber === tagNumber;
}

/** True when `tlv` carries the given context-specific tag. */
export function isContext(tlv: Tlv, tagNumber: number): boolean {
  return tlv.tagClass === tagClass.context && tlv.tagNumber === tagNumber;
}

/** Asserts a universal tag and constructed-ness, returning the TLV for chaining. */
export function expectUniversal(tlv: Tlv | undefined, tagNumber: number, what: string): Tlv {
  if (tlv === undefined || !isUniversal(tlv, tagNumber)) throw new DerError(`expected ${what}`);
  const shouldBeConstructed = tagNumber === universalTag.sequence || tagNumber === universalTag.set;
  if (tlv.constructed !== shouldBeConstructed) throw new DerError(`bad encoding of ${what}`);
  return tlv;
}

/** Reads a SEQUENCE's children. */
export function sequenceChildren(tlv: Tlv | undefined, what: string): Tlv[] {
  return readChildren(expectUniversal(tlv, universalTag.sequence, what));
}

/** Decodes an OBJECT IDENTIFIER's content octets to dotted form. */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) throw new DerError('empty OID');
  const arcs: number[] = [];
  let current = 0;
  let started = false;
  for (let index = 0; index < value.length; index++) {
    const octet = value[index] as number;
    if (!started && octet === 0x80) throw new DerError('non-minimal OID arc');
    started = true;
    current = current * 128 + (octet & 0x7f);
    if (current > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large');
    if ((octet & 0x80) === 0) {
      arcs.push(current);
      current = 0;
      started = false;
    }
  }
  if (started) throw new DerError('truncated OID');
  const first = arcs[0] as number;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Reads an OBJECT IDENTIFIER TLV. */
export function readOid(tlv: Tlv | undefined, what: string): string {
  return decodeOid(expectUniversal(tlv, universalTag.oid, what).value);
}

/** Reads a BOOLEAN (DER: 0x00 or 0xFF only). */
export function readBoolean(tlv: Tlv | undefined, what: string): boolean {
  const value = expectUniversal(tlv, universalTag.boolean, what).value;
  if (value.length !== 1 || (value[0] !== 0 && value[0] !== 0xff)) {
    throw new DerError(`bad BOOLEAN in ${what}`);
  }
  return value[0] === 0xff;
}

/** Content octets of an INTEGER, checked for minimal encoding. */
export function integerBytes(tlv: Tlv | undefined, what: string): Uint8Array {
  const value = expectUniversal(tlv, universalTag.integer, what).value;
  if (value.length === 0) throw new DerError(`empty INTEGER in ${what}`);
  if (
    value.length > 1 &&
    ((value[0] === 0 && ((value[1] as number) & 0x80) === 0) ||
      (value[0] === 0xff && ((value[1] as number) & 0x80) !== 0))
  ) {
    throw new DerError(`non-minimal INTEGER in ${what}`);
  }
  return value;
}

/** Reads a small non-negative INTEGER (lengths, versions, path lengths). */
export function readSmallInteger(tlv: Tlv | undefined, what: string): number {
  const value = integerBytes(tlv, what);
  if (((value[0] as number) & 0x80) !== 0) throw new DerError(`negative INTEGER in ${what}`);
  if (value.length > 4) throw new DerError(`INTEGER too large in ${what}`);
  let result = 0;
  for (const octet of value) result = result * 256 + octet;
  return result;
}

/** Reads a BIT STRING: its bytes and the number of unused bits in the last byte. */
export function readBitString(
  tlv: Tlv | undefined,
  what: string,
): { bytes: Uint8Array; unusedBits: number } {
  const value = expectUniversal(tlv, universalTag.bitString, what).value;
  const unusedBits = value[0];
  if (unusedBits === undefined || unusedBits > 7) throw new DerError(`bad BIT STRING in ${what}`);
  if (value.length === 1 && unusedBits !== 0) throw new DerError(`bad BIT STRING in ${what}`);
  return { bytes: value.subarray(1), unusedBits };
}

/** Reads an OCTET STRING's content. */
export function readOctetString(tlv: Tlv | undefined, what: string): Uint8Array {
  return expectUniversal(tlv, universalTag.octetString, what).value;
}

/** Decodes UTCTime or GeneralizedTime in the RFC 5280 §4.1.2.5 profile (seconds, `Z`). */
export function readTime(tlv: Tlv | undefined, what: string): Date {
  if (tlv === undefined || tlv.tagClass !== tagClass.universal || tlv.constructed) {
    throw new DerError(`expected a time in ${what}`);
  }
  const text = asciiOf(tlv.value);
  let match: RegExpExecArray | null;
  let year: number;
  if (tlv.tagNumber === universalTag.utcTime) {
    match = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (match === null) throw new DerError(`bad UTCTime in ${what}`);
    const yy = Number(match[1]);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY, otherwise 20YY.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tlv.tagNumber === universalTag.generalizedTime) {
    match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (match === null) throw new DerError(`bad GeneralizedTime in ${what}`);
    year = Number(match[1]);
  } else {
    throw new DerError(`expected a time in ${what}`);
  }
  const [month, day, hour, minute, second] = [2, 3, 4, 5, 6].map((index) => Number(match[index]));
  const time = Date.UTC(year, (month as number) - 1, day, hour, minute, second);
  const date = new Date(time);
  if (
    Number.isNaN(time) ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== (month as number) - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw new DerError(`impossible date in ${what}`);
  }
  return date;
}

function asciiOf(bytes: Uint8Array): string {
  let text = '';
  for (const octet of bytes) {
    if (octet > 0x7f) throw new DerError('non-ASCII time');
    text += String.fromCharCode(octet);
  }
  return text;
}

function byteAt(bytes: Uint8Array, offset: number): number {
  const octet = bytes[offset];
  if (octet === undefined) throw new DerError('truncated DER');
  return octet;
}
