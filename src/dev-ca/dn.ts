/**
 * RFC 4514 distinguished names for certificates the dev CA issues: parse the string form a user
 * types (`CN=svc-a,O=Acme,C=US`) into DER, and print DER back in the same form.
 *
 * src/pki owns the RFC 4518 comparison rules Tollgate authenticates with; this module only needs
 * to build names, so it stays small and encodes each attribute with the string type X.520 and
 * RFC 5280 Appendix A expect (PrintableString for `C`, IA5String for `DC` and email).
 *
 * @see RFC 4514 §2-3, RFC 5280 §4.1.2.4
 */
import * as asn1js from 'asn1js';

/** One attribute of an RDN, in the order written. */
export interface DnAttribute {
  readonly type: string;
  readonly oid: string;
  readonly value: string;
}

/** Short names accepted in DN strings (RFC 4514 §3 plus the ones certificates commonly use). */
const shortNames: Readonly<Record<string, string>> = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  SERIALNUMBER: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  T: '2.5.4.12',
  GN: '2.5.4.42',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  EMAILADDRESS: '1.2.840.113549.1.9.1',
  E: '1.2.840.113549.1.9.1',
};

const oidNames: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'T',
  '2.5.4.42': 'GN',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/**
 * Parses an RFC 4514 string into RDNs, most specific first as written. Supports `+` for
 * multi-valued RDNs and backslash escapes (`\,` and `\2C`); rejects the `#hex` BER form.
 */
export function parseDn(dn: string): DnAttribute[][] {
  if (dn.trim() === '') throw new TypeError('dev-ca: empty distinguished name');
  const rdns: DnAttribute[][] = [];
  let rdn: DnAttribute[] = [];
  let i = 0;
  while (i < dn.length) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) throw new TypeError(`dev-ca: malformed DN ${JSON.stringify(dn)} (missing "=")`);
    const type = dn.slice(i, eq).trim();
    const oid = /^\d+(\.\d+)+$/.test(type) ? type : shortNames[type.toUpperCase()];
    if (oid === undefined)
      throw new TypeError(`dev-ca: unknown DN attribute type ${JSON.stringify(type)}`);
    i = eq + 1;
    if (dn[i] === '#') throw new TypeError('dev-ca: the #hex DN value form is not supported');
    const bytes: number[] = [];
    let end = '';
    let lastSignificant = 0;
    while (i < dn.length) {
      const ch = dn[i] as string;
      if (ch === ',' || ch === '+') {
        end = ch;
        i += 1;
        break;
      }
      if (ch === '\\') {
        const next = dn.slice(i + 1, i + 3);
        if (/^[0-9a-fA-F]{2}$/.test(next)) {
          bytes.push(Number.parseInt(next, 16));
          i += 3;
        } else if (i + 1 < dn.length) {
          bytes.push(...Buffer.from(dn[i + 1] as string));
          i += 2;
        } else {
          throw new TypeError('dev-ca: DN ends with a lone backslash');
        }
        lastSignificant = bytes.length;
        continue;
      }
      // Unescaped leading spaces are insignificant (RFC 4514 §3 allows them around separators).
      if (!(ch === ' ' && bytes.length === 0)) {
        bytes.push(...Buffer.from(ch));
        if (ch !== ' ') lastSignificant = bytes.length;
      }
      i += 1;
    }
    const value = Buffer.from(bytes.slice(0, lastSignificant)).toString('utf8');
    if (value === '') throw new TypeError(`dev-ca: empty value for ${type} in DN`);
    rdn.push({ type: oidNames[oid] ?? oid, oid, value });
    if (end !== '+') {
      rdns.push(rdn);
      rdn = [];
    }
  }
  if (rdn.length > 0) rdns.push(rdn);
  return rdns;
}

/** Encodes a DN string as a DER `Name` (the RDNSequence runs from least specific, so reversed). */
export function encodeDn(dn: string): Buffer {
  const rdns = parseDn(dn);
  const sequence = new asn1js.Sequence({
    value: [...rdns].reverse().map(
      (rdn) =>
        new asn1js.Set({
          value: rdn.map(
            (attr) =>
              new asn1js.Sequence({
                value: [new asn1js.ObjectIdentifier({ value: attr.oid }), encodeValue(attr)],
              }),
          ),
        }),
    ),
  });
  return Buffer.from(sequence.toBER(false));
}

/** Formats a DER `Name` as an RFC 4514 string, most specific RDN first. */
export function formatDn(der: ArrayBuffer | Uint8Array): string {
  const parsed = asn1js.fromBER(der instanceof Uint8Array ? toArrayBuffer(der) : der);
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.Sequence)) {
    throw new TypeError('dev-ca: not a DER Name');
  }
  const rdns = parsed.result.valueBlock.value.map((set) => {
    const attrs = (set as asn1js.Set).valueBlock.value.map((atv) => {
      const [oidBlock, valueBlock] = (atv as asn1js.Sequence).valueBlock.value;
      const oid = (oidBlock as asn1js.ObjectIdentifier).valueBlock.toString();
      const value = stringOf(valueBlock);
      return `${oidNames[oid] ?? oid}=${escapeValue(value)}`;
    });
    return attrs.join('+');
  });
  return rdns.reverse().join(',');
}

/** Escapes a value for an RFC 4514 string (§2.4). */
export function escapeValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, (ch) => `\\${ch}`);
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

function encodeValue(attr: DnAttribute): asn1js.BaseBlock {
  switch (attr.oid) {
    case '2.5.4.6':
      if (!/^[A-Za-z]{2}$/.test(attr.value)) {
        throw new TypeError(`dev-ca: C must be a two-letter country code, got ${attr.value}`);
      }
      return new asn1js.PrintableString({ value: attr.value });
    case '2.5.4.5':
      return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(attr.value)
        ? new asn1js.PrintableString({ value: attr.value })
        : new asn1js.Utf8String({ value: attr.value });
    case '0.9.2342.19200300.100.1.25':
    case '1.2.840.113549.1.9.1':
      return new asn1js.IA5String({ value: attr.value });
    default:
      return new asn1js.Utf8String({ value: attr.value });
  }
}

function stringOf(block: asn1js.AsnType | undefined): string {
  if (
    block instanceof asn1js.Utf8String ||
    block instanceof asn1js.PrintableString ||
    block instanceof asn1js.IA5String ||
    block instanceof asn1js.TeletexString ||
    block instanceof asn1js.BmpString ||
    block instanceof asn1js.UniversalString ||
    block instanceof asn1js.VisibleString
  ) {
    return block.valueBlock.value;
  }
  return '';
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
