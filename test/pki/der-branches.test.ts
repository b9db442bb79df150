/**
 * Strictness of the DER building blocks, branch by branch: the reader's integer, length, OID and
 * BIT STRING rules, the signature-algorithm policy, every extension decoder's refusals, and the
 * DN and string-preparation edge cases the certificate-level tests do not produce.
 */
import { constants, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ParsedCertificate } from '../../src/pki/certificate.js';
import {
  DerError,
  decodeOid,
  integerBytes,
  readBitString,
  readChildren,
  readSingle,
  readSmallInteger,
} from '../../src/pki/der.js';
import { readExtensions } from '../../src/pki/extensions.js';
import {
  dnEquals,
  dnFromDer,
  encodePem,
  formatDn,
  PkiError,
  parseDn,
  subjectAltNames,
} from '../../src/pki/index.js';
import { nameConstraintViolation } from '../../src/pki/name-constraints.js';
import { verifySignature } from '../../src/pki/signature.js';
import { decodeStringValue } from '../../src/pki/string-prep.js';
import {
  bits,
  bool,
  ctx,
  ctxPrimitive,
  extension,
  int,
  nul,
  octets,
  oid,
  seq,
  set,
  utf8,
} from './der-builder.js';

const hex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/ /g, ''), 'hex'));

describe('DER reader strictness', () => {
  it('refuses a long-form length with a leading zero octet', () => {
    expect(() => readSingle(hex('04 82 00 81'))).toThrow(new DerError('non-minimal length'));
  });

  it('refuses to read children of a primitive value', () => {
    expect(() => readChildren(readSingle(hex('04 00')))).toThrow(
      new DerError('expected a constructed value'),
    );
  });

  it('refuses an OID arc beyond the safe integer range', () => {
    expect(() => decodeOid(hex('ff ff ff ff ff ff ff ff 7f'))).toThrow(
      new DerError('OID arc too large'),
    );
  });

  it('refuses empty and non-minimal INTEGERs, accepts minimal ones', () => {
    expect(() => integerBytes(readSingle(hex('02 00')), 'n')).toThrow('empty INTEGER in n');
    expect(() => integerBytes(readSingle(hex('02 02 00 7f')), 'n')).toThrow(
      'non-minimal INTEGER in n',
    );
    expect(() => integerBytes(readSingle(hex('02 02 ff 80')), 'n')).toThrow(
      'non-minimal INTEGER in n',
    );
    expect(integerBytes(readSingle(hex('02 02 00 80')), 'n')).toEqual(hex('00 80'));
    expect(integerBytes(readSingle(hex('02 02 ff 7f')), 'n')).toEqual(hex('ff 7f'));
  });

  it('reads small non-negative INTEGERs only', () => {
    expect(readSmallInteger(readSingle(hex('02 02 01 00')), 'n')).toBe(256);
    expect(() => readSmallInteger(readSingle(hex('02 01 80')), 'n')).toThrow(
      'negative INTEGER in n',
    );
    expect(() => readSmallInteger(readSingle(hex('02 05 01 00 00 00 00')), 'n')).toThrow(
      'INTEGER too large in n',
    );
  });

  it('refuses a BIT STRING with unused bits but no octets', () => {
    expect(() => readBitString(readSingle(hex('03 01 01')), 'b')).toThrow('bad BIT STRING in b');
    expect(() => readBitString(readSingle(hex('03 00')), 'b')).toThrow('bad BIT STRING in b');
    expect(readBitString(readSingle(hex('03 01 00')), 'b')).toEqual({
      bytes: new Uint8Array(0),
      unusedBits: 0,
    });
  });
});

describe('signature algorithm policy', () => {
  const data = Buffer.from('tbs');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pkcs1 = sign('sha256', data, rsa.privateKey);
  const sha256WithRsa = oid('1.2.840.113549.1.1.11');
  const sha256 = seq(oid('2.16.840.1.101.3.4.2.1'), nul());
  const pssSignature = sign('sha256', data, {
    key: rsa.privateKey,
    padding: constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
  const pss = (...fields: Uint8Array[]) => seq(oid('1.2.840.113549.1.1.10'), seq(...fields));
  const mgf1 = (params?: Uint8Array) =>
    ctx(1, seq(oid('1.2.840.113549.1.1.8'), ...(params === undefined ? [] : [params])));

  it('accepts sha256WithRSAEncryption with absent parameters, refuses other parameters', () => {
    expect(verifySignature(seq(sha256WithRsa), data, pkcs1, rsa.publicKey)).toBe('valid');
    expect(verifySignature(seq(sha256WithRsa, octets(hex('00'))), data, pkcs1, rsa.publicKey)).toBe(
      'unsupported',
    );
  });

  it('refuses an AlgorithmIdentifier with a third field', () => {
    expect(verifySignature(seq(sha256WithRsa, nul(), nul()), data, pkcs1, rsa.publicKey)).toBe(
      'unsupported',
    );
  });

  it('verifies Ed25519 without parameters and refuses it with parameters', () => {
    const ed = generateKeyPairSync('ed25519');
    const signature = sign(null, data, ed.privateKey);
    expect(verifySignature(seq(oid('1.3.101.112')), data, signature, ed.publicKey)).toBe('valid');
    expect(verifySignature(seq(oid('1.3.101.112'), nul()), data, signature, ed.publicKey)).toBe(
      'unsupported',
    );
  });

  it('accepts RSASSA-PSS with trailerField 1, refuses any other trailer', () => {
    const base = [ctx(0, sha256), mgf1(sha256), ctx(2, int(32))];
    expect(verifySignature(pss(...base, ctx(3, int(1))), data, pssSignature, rsa.publicKey)).toBe(
      'valid',
    );
    expect(verifySignature(pss(...base, ctx(3, int(2))), data, pssSignature, rsa.publicKey)).toBe(
      'unsupported',
    );
  });

  it('refuses RSASSA-PSS with a mask generation other than MGF1, or MGF1 without a hash', () => {
    const otherMgf = ctx(1, seq(oid('1.2.840.113549.1.1.9'), sha256));
    expect(
      verifySignature(
        pss(ctx(0, sha256), otherMgf, ctx(2, int(32))),
        data,
        pssSignature,
        rsa.publicKey,
      ),
    ).toBe('unsupported');
    expect(
      verifySignature(
        pss(ctx(0, sha256), mgf1(), ctx(2, int(32))),
        data,
        pssSignature,
        rsa.publicKey,
      ),
    ).toBe('unsupported');
  });

  it('refuses RSASSA-PSS parameters with an unknown field', () => {
    expect(
      verifySignature(
        pss(ctx(0, sha256), mgf1(sha256), ctx(4, int(1))),
        data,
        pssSignature,
        rsa.publicKey,
      ),
    ).toBe('unsupported');
  });
});

describe('readExtensions', () => {
  const read = (...extensions: Uint8Array[]) => readExtensions(readSingle(seq(...extensions)));
  const dns = (name: string) => ctxPrimitive(2, Buffer.from(name));
  const nameConstraints = (...fields: Uint8Array[]) =>
    read(extension('2.5.29.30', seq(...fields), true)).nameConstraints;

  it('gives no extensions for a certificate without the field', () => {
    expect(readExtensions(undefined)).toEqual({
      basicConstraints: undefined,
      keyUsage: undefined,
      extKeyUsage: undefined,
      subjectAltName: undefined,
      nameConstraints: undefined,
      subjectKeyIdentifier: undefined,
      authorityKeyIdentifier: undefined,
      authorityCertIssuer: undefined,
      authorityCertSerialNumber: undefined,
      netscapeCertType: undefined,
      unhandledCritical: [],
      refused: [],
      critical: new Set(),
    });
  });

  it('refuses an empty Extensions, a malformed Extension and a duplicate', () => {
    expect(() => read()).toThrow(new DerError('empty Extensions'));
    expect(() => read(seq(oid('1.2.3'), bool(true), octets(nul()), nul()))).toThrow(
      new DerError('bad Extension'),
    );
    expect(() => read(extension('1.2.3', nul()), extension('1.2.3', nul()))).toThrow(
      new DerError('duplicate extension'),
    );
  });

  it('reports unknown critical extensions, but not certificatePolicies or non-critical ones', () => {
    const result = read(
      extension('2.5.29.32', seq(), true),
      extension('1.2.3.4', nul(), true),
      extension('1.2.3.5', nul(), false),
    );
    expect(result.unhandledCritical).toEqual(['1.2.3.4']);
  });

  it('refuses a BasicConstraints with a field too many', () => {
    expect(() => read(extension('2.5.29.19', seq(bool(true), int(0), int(1))))).toThrow(
      new DerError('bad BasicConstraints'),
    );
  });

  it('refuses a KeyUsage of no octets or more than two', () => {
    expect(() => read(extension('2.5.29.15', bits(0, new Uint8Array(0))))).toThrow(
      new DerError('bad KeyUsage'),
    );
    expect(() => read(extension('2.5.29.15', bits(0, hex('80 00 00'))))).toThrow(
      new DerError('bad KeyUsage'),
    );
  });

  it('refuses an empty ExtKeyUsageSyntax', () => {
    expect(() => read(extension('2.5.29.37', seq()))).toThrow(
      new DerError('empty ExtKeyUsageSyntax'),
    );
  });

  it('reads excluded subtrees without permitted ones', () => {
    expect(nameConstraints(ctx(1, seq(dns('evil.test'))))).toEqual({
      permitted: [],
      excluded: [{ type: 'dns', value: 'evil.test' }],
    });
  });

  it('accepts a subtree minimum of zero and refuses any other minimum or a maximum', () => {
    expect(nameConstraints(ctx(0, seq(dns('ok.test'), ctxPrimitive(0, hex('00')))))).toEqual({
      permitted: [{ type: 'dns', value: 'ok.test' }],
      excluded: [],
    });
    const refused = new DerError('GeneralSubtree minimum/maximum not supported');
    expect(() => nameConstraints(ctx(0, seq(dns('a'), ctxPrimitive(0, hex('01')))))).toThrow(
      refused,
    );
    expect(() => nameConstraints(ctx(0, seq(dns('a'), ctxPrimitive(0, hex('00 00')))))).toThrow(
      refused,
    );
    expect(() => nameConstraints(ctx(0, seq(dns('a'), ctxPrimitive(1, hex('05')))))).toThrow(
      refused,
    );
  });

  it.each([
    ['an empty NameConstraints', [], 'bad NameConstraints'],
    ['a field that is neither [0] nor [1]', [ctx(2, seq(dns('a')))], 'bad NameConstraints'],
    [
      'excluded before permitted',
      [ctx(1, seq(dns('a'))), ctx(0, seq(dns('b')))],
      'bad NameConstraints',
    ],
    ['primitive GeneralSubtrees', [ctxPrimitive(0, hex('00'))], 'bad GeneralSubtrees'],
    ['empty GeneralSubtrees', [ctx(0)], 'empty GeneralSubtrees'],
    ['an empty GeneralSubtree', [ctx(0, seq())], 'bad GeneralSubtree'],
  ])('refuses %s', (_name, fields, message) => {
    expect(() => nameConstraints(...fields)).toThrow(new DerError(message));
  });
});

describe('distinguished names at the edges', () => {
  const cn = oid('2.5.4.3');

  it('refuses an AttributeTypeAndValue without a value or with a third field', () => {
    expect(() => dnFromDer(seq(set(seq(cn))))).toThrow(new DerError('bad AttributeTypeAndValue'));
    expect(() => dnFromDer(seq(set(seq(cn, utf8('a'), utf8('b')))))).toThrow(
      new DerError('bad AttributeTypeAndValue'),
    );
  });

  it('compares values that string preparation refuses by their exact code points', () => {
    // U+FFFE is a non-character: a certificate's value holding it cannot be prepared (the DN
    // string parser refuses it outright), so it equals only the very same text, unfolded.
    const name = (text: string) => dnFromDer(seq(set(seq(cn, utf8(text)))));
    expect(() => parseDn('CN=a\uFFFEb')).toThrow(/prohibited character/);
    expect(dnEquals(name('a\uFFFEb'), name('a\uFFFEb'))).toBe(true);
    expect(dnEquals(name('a\uFFFEb'), name('A\uFFFEB'))).toBe(false);
    expect(dnEquals(name('ab'), name('AB'))).toBe(true);
    // U+FFFD is assigned (not caught by the general category) but prohibited by RFC 4518 §2.4.
    expect(() => parseDn('CN=a\uFFFDb')).toThrow(/prohibited character/);
    expect(dnEquals(name('a\uFFFDb'), name('a\uFFFDb'))).toBe(true);
    expect(dnEquals(name('a\uFFFDb'), name('A\uFFFDB'))).toBe(false);
  });

  it('escapes a leading # or space when formatting', () => {
    expect(formatDn(parseDn('CN=\\#tag'))).toBe('CN=\\#tag');
    expect(formatDn(parseDn('CN=\\ lead'))).toBe('CN=\\ lead');
  });

  it('escapes control characters as hex pairs when formatting', () => {
    const name = dnFromDer(seq(set(seq(cn, utf8('a\u0001b\u007f')))));
    expect(formatDn(name)).toBe('CN=a\\01b\\7f');
  });

  it('keeps characters outside the BMP', () => {
    expect(formatDn(parseDn('CN=rocket \u{1F680}'))).toBe('CN=rocket \u{1F680}');
  });

  it('refuses a lone surrogate and junk after a #hex value', () => {
    expect(() => parseDn('CN=a\uD800')).toThrow(PkiError);
    expect(() => parseDn('CN=a\uD800')).toThrow(/lone surrogate/);
    expect(() => parseDn('CN=#0c0161x')).toThrow(PkiError);
  });

  it('refuses to decode a value that is not a string type', () => {
    expect(() => decodeStringValue(readSingle(hex('04 01 61')))).toThrow(
      new DerError('not a string type'),
    );
  });
});

describe('names of odd certificates', () => {
  const certificate = (subject: Uint8Array, subjectAltName: unknown[]): ParsedCertificate =>
    ({
      subject: dnFromDer(subject),
      extensions: { subjectAltName },
    }) as unknown as ParsedCertificate;

  it('does not apply directoryName constraints to an empty subject', () => {
    const constraints = {
      permitted: [{ type: 'directory' as const, dn: parseDn('O=Acme') }],
      excluded: [],
    };
    expect(
      nameConstraintViolation(constraints, certificate(seq(), [{ type: 'dns', value: 'a.test' }])),
    ).toBeUndefined();
    expect(
      nameConstraintViolation(
        constraints,
        certificate(seq(set(seq(oid('2.5.4.10'), utf8('Evil')))), []),
      ),
    ).toBe('subject DN is outside the permitted subtrees');
  });

  it('lists only DNS, URI, 4- or 16-octet IP and email SANs', () => {
    const names = subjectAltNames(
      certificate(seq(), [
        { type: 'ip', bytes: hex('0a 00 00 00 ff 00 00 00') },
        { type: 'directory', dn: parseDn('CN=x') },
        { type: 'other', tag: 0 },
        { type: 'ip', bytes: hex('7f 00 00 01') },
      ]),
    );
    expect(names).toEqual({ dns: [], uri: [], ip: [hex('7f 00 00 01')], email: [] });
  });

  it('encodes empty DER as an empty PEM block', () => {
    expect(encodePem('X', new Uint8Array(0))).toBe('-----BEGIN X-----\n\n-----END X-----\n');
  });
});
