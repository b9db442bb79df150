/**
 * Serialising distinguished names: the inverse of {@link dnFromDer}, so a DN typed in the RFC
 * 4514 string form (parsed by dn.ts, the one DN grammar in Tollgate) becomes the DER `Name` a
 * certificate carries. The development CA issues with it; the server only ever parses.
 *
 * String types follow X.520 and RFC 5280 Appendix A: PrintableString for `C` (two letters) and
 * for a printable `serialNumber`, IA5String for `DC` and `emailAddress`, UTF8String otherwise
 * (RFC 5280 §4.1.2.4: the MUST for new certificates). A `#hex` value is written as the DER it
 * holds. A multi-valued RDN keeps the order written: the dev CA has always issued it so and its
 * tests pin those bytes (strict DER would sort the SET OF, X.690 §11.6; verifiers compare RDNs
 * as sets, as dn.ts does).
 *
 * @see RFC 4514 §2–§3, RFC 5280 §4.1.2.4 and Appendix A, X.690 §8.9 and §11.6
 */
import { type DistinguishedName, type DnAttribute, dnFromDer, formatDn, parseDn } from './dn.js';
import { PkiError } from './errors.js';

const tag = {
  oid: 0x06,
  utf8: 0x0c,
  printable: 0x13,
  ia5: 0x16,
  sequence: 0x30,
  set: 0x31,
} as const;
const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/**
 * Encodes an RFC 4514 DN string (most specific RDN first, `CN=svc-a,O=Acme,C=US`) as a DER
 * `Name`; throws {@link PkiError} `malformed` for a string dn.ts refuses or a bad country code.
 *
 * @see RFC 5280 §4.1.2.4
 */
export function encodeDnString(dn: string): Buffer {
  return encodeDn(parseDn(dn));
}

/** Encodes a parsed DN as a DER `Name` (RDNs in the ASN.1 order {@link parseDn} keeps). */
export function encodeDn(dn: DistinguishedName): Buffer {
  return tlv(
    tag.sequence,
    Buffer.concat(dn.rdns.map((rdn) => tlv(tag.set, Buffer.concat(rdn.map(encodeAttribute))))),
  );
}

/** Prints a DER `Name` as an RFC 4514 string, most specific RDN first. */
export function formatDnDer(nameDer: Uint8Array): string {
  return formatDn(dnFromDer(nameDer));
}

function encodeAttribute(attribute: DnAttribute): Buffer {
  const value = attribute.value;
  const valueDer =
    value.kind === 'der'
      ? Buffer.from(value.der)
      : tlv(stringTag(attribute.type, value.text), Buffer.from(value.text, 'utf8'));
  return tlv(tag.sequence, Buffer.concat([tlv(tag.oid, oidBytes(attribute.type)), valueDer]));
}

function stringTag(type: string, text: string): number {
  switch (type) {
    case '2.5.4.6':
      if (!/^[A-Za-z]{2}$/.test(text)) {
        throw new PkiError('malformed', 'C must be a two-letter country code');
      }
      return tag.printable;
    case '2.5.4.5':
      return printable.test(text) ? tag.printable : tag.utf8;
    case '0.9.2342.19200300.100.1.25':
    case '1.2.840.113549.1.9.1':
      if (!/^[ -~]*$/.test(text)) {
        throw new PkiError(
          'malformed',
          'DC and emailAddress values must be printable ASCII (IA5String)',
        );
      }
      return tag.ia5;
    default:
      return tag.utf8;
  }
}

/** X.690 §8.19: the first two arcs share an octet, every arc is base-128 big-endian. */
function oidBytes(oid: string): Buffer {
  const arcs = oid.split('.').map(BigInt);
  const out: number[] = [];
  const [first = 0n, second = 0n, ...rest] = arcs;
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return Buffer.from(out);
}

function tlv(tagByte: number, content: Buffer): Buffer {
  const length = content.length;
  let header: number[];
  if (length < 0x80) header = [tagByte, length];
  else {
    const octets: number[] = [];
    for (let v = length; v > 0; v >>= 8) octets.unshift(v & 0xff);
    header = [tagByte, 0x80 | octets.length, ...octets];
  }
  return Buffer.concat([Buffer.from(header), content]);
}
