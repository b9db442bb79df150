/**
 * DN serialisation (src/pki/dn-format.ts): the inverse of dnFromDer for every value form, with the
 * string types X.520 / RFC 5280 expect, checked by decoding the bytes back with src/pki and by
 * node:crypto's own X.509 parser through a certificate.
 */
import { describe, expect, it } from 'vitest';
import {
  dnEquals,
  dnFromDer,
  encodeDn,
  encodeDnString,
  formatDnDer,
  PkiError,
  parseDn,
} from '../../src/pki/index.js';

/** The universal tag of each attribute value, in ASN.1 order. */
function valueTags(der: Buffer): number[] {
  return dnFromDer(der).rdns.flatMap((rdn) =>
    rdn.map((attribute) => {
      const bytes = encodeDn({ rdns: [[attribute]], rdnKeys: [], key: '' });
      // SEQUENCE { SET { SEQUENCE { OID, value } } }: the value's tag follows the OID.
      const oidLength = bytes[7] as number;
      return bytes[8 + oidLength] as number;
    }),
  );
}

describe('encodeDnString', () => {
  it('round-trips through dnFromDer and formatDnDer, most specific RDN first', () => {
    const text = 'CN=svc-a+OU=Payments,O=Acme\\, Inc.,DC=tollgate,emailAddress=a@example.org,C=DE';
    const der = encodeDnString(text);
    expect(dnEquals(dnFromDer(der), parseDn(text))).toBe(true);
    expect(formatDnDer(der)).toBe(text);
  });

  it('writes PrintableString for C and a printable serialNumber, IA5String for DC and email, UTF8String otherwise', () => {
    expect(valueTags(encodeDnString('CN=x,serialNumber=AB 12,C=US'))).toEqual([0x13, 0x13, 0x0c]);
    expect(valueTags(encodeDnString('serialNumber=ä1'))).toEqual([0x0c]);
    expect(valueTags(encodeDnString('emailAddress=a@b.test,DC=test'))).toEqual([0x16, 0x16]);
  });

  it('writes a #hex value as the DER it holds, and long values with long-form lengths', () => {
    const hex = encodeDnString('CN=#0c03616263');
    expect(formatDnDer(hex)).toBe('CN=abc');
    const opaque = encodeDnString('1.2.3.4=#020105');
    expect(formatDnDer(opaque)).toBe('1.2.3.4=#020105');
    const long = `CN=${'a'.repeat(300)}`;
    expect(formatDnDer(encodeDnString(long))).toBe(long);
    expect(formatDnDer(encodeDnString('2.999.1=x'))).toBe('2.999.1=x');
  });

  it('refuses a country that is not two letters and non-ASCII DC or email values', () => {
    expect(() => encodeDnString('C=USA')).toThrow(PkiError);
    expect(() => encodeDnString('C=USA')).toThrow(/two-letter/);
    expect(() => encodeDnString('DC=exämple')).toThrow(/printable ASCII/);
    expect(() => encodeDnString('CN=a,,')).toThrow(PkiError);
  });
});
