/**
 * RFC 4514 parsing and RFC 4518/5280 comparison of distinguished names: the equivalences that
 * must hold, the tricks that must not match, malformed strings, and certificate subjects decoded
 * from DER (fixtures from the dev CA).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import {
  dnEquals,
  dnFromDer,
  dnMatches,
  formatDn,
  PkiError,
  parseCertificate,
  parseDn,
} from '../../src/pki/index.js';

const same = (a: string, b: string): boolean => dnEquals(parseDn(a), parseDn(b));

describe('parseDn: equivalent DNs', () => {
  it.each([
    ['attribute type case', 'CN=svc,O=Acme,C=US', 'cn=svc,o=Acme,c=US'],
    ['long attribute names', 'CN=svc,O=Acme', 'commonName=svc,organizationName=Acme'],
    ['numeric OID', 'CN=svc,O=Acme', '2.5.4.3=svc,2.5.4.10=Acme'],
    ['emailAddress by OID', 'emailAddress=a@b.test', '1.2.840.113549.1.9.1=a@b.test'],
    ['E alias of emailAddress', 'E=a@b.test,CN=x', 'emailAddress=a@b.test,CN=x'],
    [
      'DC and UID',
      'UID=jdoe,DC=example,DC=test',
      '0.9.2342.19200300.100.1.1=jdoe,dc=example,dc=test',
    ],
    ['GN/SN aliases', 'GN=Ann+SN=Lee', 'givenName=Ann+surname=Lee'],
    ['value case', 'CN=Svc-A,O=ACME', 'CN=svc-a,O=acme'],
    ['inner space runs', 'CN=Marianne   Swanson', 'CN=Marianne Swanson'],
    ['leading and trailing escaped spaces', 'CN=\\ svc\\ ', 'CN=svc'],
    ['spaces around separators', 'CN = svc , O = Acme', 'CN=svc,O=Acme'],
    ['hex escape for comma', 'CN=a\\2Cb,O=x', 'CN=a\\,b,O=x'],
    ['hex escape lower case', 'CN=a\\2cb', 'CN=a\\,b'],
    ['hex escape of a plain letter', 'CN=\\61bc', 'CN=abc'],
    ['UTF-8 hex escapes', 'CN=Lu\\C4\\8Di\\C4\\87', 'CN=Lučić'],
    ['UTF-8 escape vs uppercase', 'CN=\\C3\\A9t\\C3\\A9', 'CN=ÉTÉ'],
    ['escaped plus', 'CN=a\\+b', 'CN=a\\2Bb'],
    ['escaped quote', 'CN=say \\"hi\\"', 'CN=say \\22hi\\22'],
    ['escaped backslash', 'CN=a\\\\b', 'CN=a\\5Cb'],
    ['escaped angle brackets and semicolon', 'CN=\\<a\\>\\;', 'CN=\\3Ca\\3E\\3B'],
    ['escaped equals and unescaped equals', 'CN=a\\=b', 'CN=a=b'],
    ['escaped leading sharp', 'CN=\\#1', 'CN=\\231'],
    ['#hex UTF8String equals its text', 'CN=#0c03737663', 'CN=svc'],
    ['#hex PrintableString', 'C=#13025553', 'C=us'],
    ['#hex upper-case digits', 'CN=#0C03737663', 'CN=SVC'],
    ['multi-valued RDN in any order', 'CN=svc+UID=42,O=Acme', 'UID=42+CN=svc,O=Acme'],
    ['non-ASCII case', 'CN=Łukasz Żółć', 'CN=łUKASZ żÓŁĆ'],
    ['Greek case', 'CN=ΩΜΕΓΑ', 'CN=ωμεγα'],
    ['Cyrillic case and spaces', 'CN=  Иван   Петров ', 'CN=иван петров'],
    ['the same invisible character matches only itself', 'CN=co\\C2\\ADop', 'CN=co\\C2\\ADop'],
    [
      'Greek final sigma in upper and lower case',
      'CN=\u039f\u0394\u039f\u03a3',
      'CN=\u03bf\u03b4\u03bf\u03c2',
    ],
    ['capital I with dot above, other letters in another case', 'CN=\u0130zmir', 'CN=\u0130ZMIR'],
  ])('%s: %s == %s', (_name, a, b) => {
    expect(same(a, b)).toBe(true);
    expect(same(b, a)).toBe(true);
  });
});

describe('parseDn: DNs that must not match', () => {
  it.each([
    ['RDN order changed', 'CN=svc,O=Acme', 'O=Acme,CN=svc'],
    ['multi-valued RDN vs two RDNs', 'CN=svc+O=Acme', 'CN=svc,O=Acme'],
    ['two RDNs vs multi-valued RDN', 'CN=svc,UID=1,O=Acme', 'CN=svc+UID=1,O=Acme'],
    ['extra RDN', 'CN=svc,O=Acme', 'CN=svc,O=Acme,C=US'],
    ['missing RDN', 'CN=svc,OU=Eng,O=Acme', 'CN=svc,O=Acme'],
    ['comma injected into a value', 'CN=a\\,O=evil', 'CN=a,O=evil'],
    ['hex-escaped comma injected into a value', 'CN=a\\2CO=evil', 'CN=a,O=evil'],
    ['plus injected into a value', 'CN=a\\+O=evil', 'CN=a+O=evil'],
    ['different value', 'CN=svc-a', 'CN=svc-b'],
    ['different attribute type', 'CN=svc', 'OU=svc'],
    ['inner space is significant', 'CN=ab', 'CN=a b'],
    ['string vs non-string #hex (INTEGER)', 'CN=#020101', 'CN=\\01'],
    ['punctuation differs', 'CN=a-b', 'CN=a_b'],
    ['duplicate attribute in multi-valued RDN is not a superset', 'CN=svc+UID=1', 'CN=svc'],
    // Exact trust: nothing folds a different name into an ASCII one (string-prep.ts).
    ['NFKC compatibility forms', 'CN=ﬁle', 'CN=file'],
    ['full-width letters', 'CN=ａｄｍｉｎ', 'CN=admin'],
    ['dotless i', 'CN=admın', 'CN=admin'],
    ['sharp s does not fold to ss', 'CN=straße', 'CN=STRASSE'],
    ['soft hyphen is not ignored', 'CN=co\\C2\\ADop', 'CN=coop'],
    ['zero-width space is not ignored', 'CN=ad\u200bmin', 'CN=admin'],
    ['bidi override is not ignored', 'CN=\u202eadmin', 'CN=admin'],
    ['tab is not a space', 'CN=a\\09b', 'CN=a b'],
    ['no-break space is not a space', 'CN=a\\C2\\A0b', 'CN=a b'],
    ['Cyrillic a', 'CN=\u0430dmin', 'CN=admin'],
    ['Greek omicron', 'CN=r\u03bfot', 'CN=root'],
    ['combining acute', 'CN=a\u0301dmin', 'CN=admin'],
    ['NFD does not equal NFC', 'CN=Jose\u0301', 'CN=Jos\u00e9'],
    ['Kelvin sign does not fold into K', 'CN=\u212aelvin-\u00e9', 'CN=Kelvin-\u00e9'],
    ['dotless i in a non-ASCII name', 'CN=caf\u00e9-\u0131', 'CN=caf\u00e9-I'],
    // Round 23: toLowerCase() maps more than case.
    [
      'theta symbol (compatibility) does not lower-case onto theta',
      'CN=\u03f4\u03b5\u03bf',
      'CN=\u0398\u03b5\u03bf',
    ],
    ['capital I with dot above is not i + combining dot', 'CN=\u0130zmir', 'CN=i\u0307zmir'],
  ])('%s: %s != %s', (_name, a, b) => {
    expect(same(a, b)).toBe(false);
    expect(same(b, a)).toBe(false);
  });
});

describe('parseDn: malformed strings', () => {
  it.each([
    ['empty', ''],
    ['spaces only', '   '],
    ['no equals', 'CN'],
    ['missing type', '=svc'],
    ['unknown short name', 'XYZ=1'],
    ['leading zero in OID arc', '2.5.04.3=x'],
    ['single-arc OID', '2=x'],
    ['trailing comma', 'CN=svc,'],
    ['leading comma', ',CN=svc'],
    ['empty RDN', 'CN=a,,O=b'],
    ['trailing plus', 'CN=a+'],
    ['semicolon separator', 'CN=a;O=b'],
    ['unescaped quote', 'CN=a"b'],
    ['unescaped angle bracket', 'CN=a<b'],
    ['dangling backslash', 'CN=a\\'],
    ['bad escape', 'CN=a\\zz'],
    ['half hex pair', 'CN=a\\4'],
    ['escaped bytes not UTF-8', 'CN=\\C3\\28'],
    ['#hex odd length', 'CN=#0c0'],
    ['#hex empty', 'CN=#'],
    ['#hex not one DER value', 'CN=#0c0561'],
    ['#hex trailing bytes', 'CN=#0c016100'],
    ['#hex followed by junk', 'CN=#0c0161x'],
    ['#hex bad UTF8String', 'CN=#0c01ff'],
    ['repeated type in one RDN', 'CN=a+CN=b'],
    ['unassigned code point', 'CN=\\F4\\8F\\BF\\BD'],
    ['private use code point', 'CN=\\EE\\80\\80'],
    ['NUL', 'CN=a\u0000b'],
  ])('%s', (_name, input) => {
    expect(() => parseDn(input)).toThrow(PkiError);
  });

  it('refuses non-strings and over-long input', () => {
    expect(() => parseDn(42)).toThrow(PkiError);
    expect(() => parseDn(`CN=${'a'.repeat(5000)}`)).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
  });
});

describe('formatDn', () => {
  it('round-trips through the parser', () => {
    for (const input of [
      'CN=svc+UID=42,O=Acme\\, Inc.,C=US',
      'CN=\\#lead\\ ,O=a\\+b\\;c\\<d\\>',
      'CN=#020101',
      '1.2.3.4=x,DC=test',
    ]) {
      const dn = parseDn(input);
      expect(dnEquals(parseDn(formatDn(dn)), dn)).toBe(true);
    }
  });
});

describe('certificate subjects', () => {
  let ca: DevCa;
  beforeAll(async () => {
    ca = await createDevCa();
  });

  it('matches the registered DN across spelling differences', async () => {
    const cert = await ca.issueClient({ subject: 'CN=Svc A,OU=Payments,O=Acme\\, Inc.,C=US' });
    for (const registered of [
      'CN=Svc A,OU=Payments,O=Acme\\, Inc.,C=US',
      'cn=svc a, ou=payments, o=ACME\\2C INC., c=us',
      '2.5.4.3=SVC  A,2.5.4.11=Payments,2.5.4.10=Acme\\, Inc.,2.5.4.6=US',
      'CN=#0c055376632041,OU=Payments,O=Acme\\, Inc.,C=US',
    ]) {
      expect(dnMatches(registered, cert.certDer), registered).toBe(true);
    }
  });

  it('does not match reordered, split, extended or injected DNs', async () => {
    const cert = await ca.issueClient({ subject: 'CN=a\\,O=evil,O=Acme,C=US' });
    const parsed = parseCertificate(cert.certDer);
    expect(dnMatches('CN=a\\,O=evil,O=Acme,C=US', parsed)).toBe(true);
    for (const registered of [
      'CN=a,O=evil,O=Acme,C=US',
      'O=Acme,CN=a\\,O=evil,C=US',
      'CN=a\\,O=evil,O=Acme',
      'CN=a\\,O=evil,O=Acme,C=US,DC=test',
      'CN=a\\,O=evil+O=Acme,C=US',
    ]) {
      expect(dnMatches(registered, parsed), registered).toBe(false);
    }
  });

  it('compares multi-valued RDNs from the certificate as sets', async () => {
    const cert = await ca.issueClient({ subject: 'CN=svc+UID=42,O=Acme,C=US' });
    expect(dnMatches('UID=42+CN=svc,O=Acme,C=US', cert.certDer)).toBe(true);
    expect(dnMatches('CN=svc,UID=42,O=Acme,C=US', cert.certDer)).toBe(false);
    expect(dnMatches('UID=42,CN=svc,O=Acme,C=US', cert.certDer)).toBe(false);
  });

  it('decodes a DER Name in ASN.1 order and prints it most specific first', async () => {
    const cert = parseCertificate((await ca.issueClient({ subject: 'CN=x,O=y,C=US' })).certDer);
    expect(cert.subject.rdns.map((rdn) => rdn[0]?.type)).toEqual([
      '2.5.4.6',
      '2.5.4.10',
      '2.5.4.3',
    ]);
    expect(formatDn(cert.subject)).toBe('CN=x,O=y,C=US');
    expect(dnEquals(cert.issuer, parseDn(ca.intermediate.subject))).toBe(true);
  });

  it('refuses malformed Name DER', () => {
    // SEQUENCE { SET {} }: an empty RDN.
    expect(() => dnFromDer(Uint8Array.from([0x30, 0x02, 0x31, 0x00]))).toThrow();
    // A value of an invalid UTF8String.
    const badUtf8 = Uint8Array.from([
      0x30, 0x0c, 0x31, 0x0a, 0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, 0xff,
    ]);
    expect(() => dnFromDer(badUtf8)).toThrow();
  });
});
