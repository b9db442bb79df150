/**
 * Unit tests of the internal building blocks where the certificate-level tests cannot reach every
 * branch: string types, DER strictness, signature algorithm policy, name-constraint forms.
 */
import { constants, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ParsedCertificate } from '../../src/pki/certificate.js';
import { decodeOid, readSingle, readTime, readTlv } from '../../src/pki/der.js';
import type { NameConstraints } from '../../src/pki/extensions.js';
import { type GeneralName, readGeneralNames } from '../../src/pki/general-name.js';
import { dnEquals, PkiError, parseDn, parseIpAddress } from '../../src/pki/index.js';
import { nameConstraintViolation } from '../../src/pki/name-constraints.js';
import { checkCriticalExtensions } from '../../src/pki/path-checks.js';
import { verifySignature } from '../../src/pki/signature.js';
import { rsaKeyWithExponent } from '../helpers/rsa.js';

const hex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/ /g, ''), 'hex'));

describe('ASN.1 string types in #hex DN values', () => {
  it.each([
    ['BMPString', 'CN=#1e0400610062', 'CN=AB'],
    ['UniversalString', 'CN=#1c080000006100000062', 'CN=ab'],
    ['TeletexString as Latin-1', 'CN=#1402e974', 'CN=ÉT'],
    ['NumericString', 'CN=#1203313233', 'CN=123'],
    ['IA5String', 'CN=#16026162', 'CN=ab'],
    ['VisibleString', 'CN=#1a026162', 'CN=ab'],
  ])('%s', (_name, a, b) => {
    expect(dnEquals(parseDn(a), parseDn(b))).toBe(true);
  });

  it.each([
    ['odd BMPString', 'CN=#1e03006100'],
    ['surrogate in UniversalString', 'CN=#1c040000d800'],
    ['letters in NumericString', 'CN=#120141'],
    ['8-bit PrintableString', 'CN=#130180'],
    ['8-bit IA5String', 'CN=#160180'],
  ])('refuses %s', (_name, input) => {
    expect(() => parseDn(input)).toThrow(PkiError);
  });
});

describe('DER reader', () => {
  it('reads high tag numbers and refuses non-minimal ones', () => {
    expect(readSingle(hex('9f 1f 00')).tagNumber).toBe(31);
    expect(() => readSingle(hex('9f 1e 00'))).toThrow(/non-minimal/);
    expect(() => readSingle(hex('9f 80 1f 00'))).toThrow(/non-minimal/);
    expect(() => readSingle(hex('9f ff ff ff ff 7f 00'))).toThrow(/too large/);
    expect(() => readSingle(hex('30 85 00 00 00 00 01'))).toThrow(/too large/);
    expect(() => readTlv(hex('30'), 0)).toThrow(/truncated/);
  });

  it('decodes OIDs strictly', () => {
    expect(decodeOid(hex('2a 86 48 86 f7 0d 01 09 01'))).toBe('1.2.840.113549.1.9.1');
    expect(decodeOid(hex('88 37'))).toBe('2.999');
    expect(decodeOid(hex('06'))).toBe('0.6');
    expect(() => decodeOid(hex(''))).toThrow();
    expect(() => decodeOid(hex('80 01'))).toThrow();
    expect(() => decodeOid(hex('86'))).toThrow();
  });

  it('reads RFC 5280 times only', () => {
    const time = (tag: number, text: string) =>
      readTime(readSingle(Uint8Array.from([tag, text.length, ...Buffer.from(text)])), 't');
    expect(time(23, '491231235959Z').toISOString()).toBe('2049-12-31T23:59:59.000Z');
    expect(time(23, '500101000000Z').toISOString()).toBe('1950-01-01T00:00:00.000Z');
    expect(time(24, '20500101000000Z').toISOString()).toBe('2050-01-01T00:00:00.000Z');
    for (const [tag, text] of [
      [23, '2402300000Z'],
      [23, '240230000000Z'],
      [23, '240101000000+0100'],
      [24, '20240101000000.5Z'],
      [24, '20241301000000Z'],
      [4, '240101000000Z'],
    ] as const) {
      expect(() => time(tag, text), text).toThrow();
    }
  });
});

describe('signature policy', () => {
  const data = Buffer.from('tbs');
  const algorithm = (text: string) => hex(text);
  // AlgorithmIdentifiers: ecdsa-with-SHA256, sha256WithRSAEncryption (NULL params),
  // sha1WithRSAEncryption, and RSASSA-PSS with SHA-256 / MGF1-SHA-256 / salt 32.
  const ecdsaSha256 = '30 0a 06 08 2a 86 48 ce 3d 04 03 02';
  const rsaSha256 = '30 0d 06 09 2a 86 48 86 f7 0d 01 01 0b 05 00';
  const rsaSha1 = '30 0d 06 09 2a 86 48 86 f7 0d 01 01 05 05 00';
  const sha256Id = '30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00';
  const pss = (salt: string, mgfHash = sha256Id) => {
    const mgf = `30 1a 06 09 2a 86 48 86 f7 0d 01 01 08 ${mgfHash}`;
    const params = `a0 0f ${sha256Id} a1 1c ${mgf} a2 03 02 01 ${salt}`;
    const paramsLength = hex(params).length.toString(16);
    const body = `06 09 2a 86 48 86 f7 0d 01 01 0a 30 ${paramsLength} ${params}`;
    return `30 ${hex(body).length.toString(16)} ${body}`;
  };

  it('verifies ECDSA and refuses the wrong key type', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signature = sign('sha256', data, ec.privateKey);
    expect(verifySignature(algorithm(ecdsaSha256), data, signature, ec.publicKey)).toBe('valid');
    expect(verifySignature(algorithm(ecdsaSha256), Buffer.from('x'), signature, ec.publicKey)).toBe(
      'invalid',
    );
    const ed = generateKeyPairSync('ed25519');
    expect(verifySignature(algorithm(ecdsaSha256), data, signature, ed.publicKey)).toBe(
      'unsupported',
    );
    const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(verifySignature(algorithm(ecdsaSha256), data, signature, secp256k1.publicKey)).toBe(
      'unsupported',
    );
  });

  it('refuses an RSA key with a public exponent over 33 bits before verifying with it', () => {
    // A presented intermediate's key is used before the key policy runs on the path; a long
    // exponent makes each verification cost up to 140 times as much.
    const long = rsaKeyWithExponent((1n << 40n) + 1n);
    const longest = rsaKeyWithExponent((1n << 32n) + 1n);
    for (const [key, expected] of [
      [long, 'unsupported'],
      [longest, 'valid'],
    ] as const) {
      const signature = sign('sha256', data, key);
      expect(verifySignature(algorithm(rsaSha256), data, signature, createPublicKey(key))).toBe(
        expected,
      );
    }
  });

  it('verifies RSASSA-PSS and refuses SHA-1, small keys and odd parameters', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pssSignature = sign('sha256', data, {
      key: rsa.privateKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
    expect(verifySignature(algorithm(pss('20')), data, pssSignature, rsa.publicKey)).toBe('valid');
    expect(verifySignature(algorithm(pss('21')), data, pssSignature, rsa.publicKey)).toBe(
      'invalid',
    );
    const sha384Id = '30 0d 06 09 60 86 48 01 65 03 04 02 02 05 00';
    expect(verifySignature(algorithm(pss('20', sha384Id)), data, pssSignature, rsa.publicKey)).toBe(
      'unsupported',
    );
    const pkcs1 = sign('sha256', data, rsa.privateKey);
    expect(verifySignature(algorithm(rsaSha256), data, pkcs1, rsa.publicKey)).toBe('valid');
    expect(
      verifySignature(algorithm(rsaSha1), data, sign('sha1', data, rsa.privateKey), rsa.publicKey),
    ).toBe('unsupported');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(
      verifySignature(
        algorithm(rsaSha256),
        data,
        sign('sha256', data, small.privateKey),
        small.publicKey,
      ),
    ).toBe('unsupported');
    expect(verifySignature(hex('04 00'), data, pkcs1, rsa.publicKey)).toBe('unsupported');
    expect(
      verifySignature(
        algorithm(`${ecdsaSha256.replace('30 0a', '30 0c')} 05 00`),
        data,
        pkcs1,
        rsa.publicKey,
      ),
    ).toBe('unsupported');
  });
});

describe('name constraints', () => {
  const certificate = (subject: string, sans: GeneralName[]): ParsedCertificate =>
    ({
      subject: parseDn(subject),
      extensions: { subjectAltName: sans },
    }) as unknown as ParsedCertificate;
  const constraints = (
    permitted: GeneralName[],
    excluded: GeneralName[] = [],
  ): NameConstraints => ({
    permitted,
    excluded,
  });
  const violates = (nc: NameConstraints, cert: ParsedCertificate) =>
    nameConstraintViolation(nc, cert) !== undefined;

  it('applies DNS subtrees (host and below; leading dot: below only)', () => {
    const nc = constraints([{ type: 'dns', value: 'Example.test' }]);
    expect(violates(nc, certificate('CN=a', [{ type: 'dns', value: 'example.test' }]))).toBe(false);
    expect(violates(nc, certificate('CN=a', [{ type: 'dns', value: 'a.b.EXAMPLE.test' }]))).toBe(
      false,
    );
    expect(violates(nc, certificate('CN=a', [{ type: 'dns', value: 'badexample.test' }]))).toBe(
      true,
    );
    const below = constraints([{ type: 'dns', value: '.example.test' }]);
    expect(violates(below, certificate('CN=a', [{ type: 'dns', value: 'example.test' }]))).toBe(
      true,
    );
    expect(violates(below, certificate('CN=a', [{ type: 'dns', value: 'x.example.test' }]))).toBe(
      false,
    );
    const excluded = constraints([], [{ type: 'dns', value: 'evil.test' }]);
    expect(violates(excluded, certificate('CN=a', [{ type: 'dns', value: 'www.evil.test' }]))).toBe(
      true,
    );
    expect(violates(excluded, certificate('CN=a', [{ type: 'dns', value: 'good.test' }]))).toBe(
      false,
    );
    expect(
      violates(
        constraints([{ type: 'dns', value: '' }]),
        certificate('CN=a', [{ type: 'dns', value: 'x' }]),
      ),
    ).toBe(false);
  });

  it('applies email subtrees to SANs and to emailAddress in the subject', () => {
    const host = constraints([{ type: 'email', value: 'example.test' }]);
    expect(
      violates(host, certificate('CN=a', [{ type: 'email', value: 'Ann@EXAMPLE.test' }])),
    ).toBe(false);
    expect(
      violates(host, certificate('CN=a', [{ type: 'email', value: 'ann@sub.example.test' }])),
    ).toBe(true);
    expect(violates(host, certificate('E=ann@evil.test,CN=a', []))).toBe(true);
    expect(violates(host, certificate('CN=a', [{ type: 'email', value: 'not-a-mailbox' }]))).toBe(
      true,
    );
    const domain = constraints([{ type: 'email', value: '.example.test' }]);
    expect(
      violates(domain, certificate('CN=a', [{ type: 'email', value: 'ann@sub.example.test' }])),
    ).toBe(false);
    expect(
      violates(domain, certificate('CN=a', [{ type: 'email', value: 'ann@example.test' }])),
    ).toBe(true);
    const mailbox = constraints([{ type: 'email', value: 'ann@example.test' }]);
    expect(
      violates(mailbox, certificate('CN=a', [{ type: 'email', value: 'ann@Example.TEST' }])),
    ).toBe(false);
    expect(
      violates(mailbox, certificate('CN=a', [{ type: 'email', value: 'Ann@example.test' }])),
    ).toBe(true);
  });

  it('applies URI subtrees by host', () => {
    const nc = constraints([{ type: 'uri', value: 'tollgate.test' }]);
    expect(
      violates(nc, certificate('CN=a', [{ type: 'uri', value: 'spiffe://tollgate.test/sa/x' }])),
    ).toBe(false);
    expect(
      violates(nc, certificate('CN=a', [{ type: 'uri', value: 'spiffe://evil.test/sa/x' }])),
    ).toBe(true);
    expect(violates(nc, certificate('CN=a', [{ type: 'uri', value: 'urn:uuid:1' }]))).toBe(true);
    expect(violates(nc, certificate('CN=a', [{ type: 'uri', value: 'not a uri' }]))).toBe(true);
    const below = constraints([{ type: 'uri', value: '.tollgate.test' }]);
    expect(
      violates(below, certificate('CN=a', [{ type: 'uri', value: 'https://a.tollgate.test/' }])),
    ).toBe(false);
  });

  it('applies IP subtrees by address and mask, v4 and v6 apart', () => {
    const range = (address: string, mask: string) => ({
      type: 'ip' as const,
      bytes: Uint8Array.from([...parseIpAddress(address), ...parseIpAddress(mask)]),
    });
    const nc = constraints([range('10.0.0.0', '255.0.0.0'), range('2001:db8::', 'ffff:ffff::')]);
    const ip = (text: string) => ({ type: 'ip' as const, bytes: parseIpAddress(text) });
    expect(violates(nc, certificate('CN=a', [ip('10.1.2.3')]))).toBe(false);
    expect(violates(nc, certificate('CN=a', [ip('11.1.2.3')]))).toBe(true);
    expect(violates(nc, certificate('CN=a', [ip('2001:db8::1')]))).toBe(false);
    expect(violates(nc, certificate('CN=a', [ip('::ffff:10.1.2.3')]))).toBe(true);
  });

  it('applies directoryName subtrees as RDN prefixes', () => {
    const nc = constraints([{ type: 'directory', dn: parseDn('O=Acme,C=US') }]);
    expect(violates(nc, certificate('CN=svc,OU=x,O=acme,C=us', []))).toBe(false);
    expect(violates(nc, certificate('CN=svc,O=Evil,C=US', []))).toBe(true);
    expect(violates(nc, certificate('C=US', []))).toBe(true);
    const excluded = constraints([], [{ type: 'directory', dn: parseDn('OU=Banned,O=Acme,C=US') }]);
    expect(violates(excluded, certificate('CN=x,OU=Banned,O=Acme,C=US', []))).toBe(true);
  });

  it('refuses names of a constrained form it cannot evaluate', () => {
    const other = { type: 'other' as const, tag: 0 };
    expect(violates(constraints([other]), certificate('CN=a', [other]))).toBe(true);
    expect(violates(constraints([], [other]), certificate('CN=a', [other]))).toBe(true);
    expect(violates(constraints([{ type: 'dns', value: 'x' }]), certificate('CN=a', [other]))).toBe(
      false,
    );
  });
});

describe('critical extensions', () => {
  it('refuses an unprocessed critical extension anywhere, the trust anchor included', () => {
    const cert = (unhandledCritical: string[], refused: string[] = []) =>
      ({ extensions: { unhandledCritical, refused } }) as unknown as ParsedCertificate;
    const failure = checkCriticalExtensions([cert(['1.2.3']), cert([])]);
    expect(failure?.check).toBe('critical_extension');
    expect(checkCriticalExtensions([cert([]), cert(['1.2.3'])])).toMatchObject({
      check: 'critical_extension',
      detail: 'trust anchor has unsupported critical extension 1.2.3',
    });
    expect(checkCriticalExtensions([cert([]), cert([])])).toBeUndefined();
    expect(
      checkCriticalExtensions([cert([], ['a proxy certificate extension']), cert([])]),
    ).toMatchObject({
      check: 'critical_extension',
      detail: 'leaf has a proxy certificate extension, which Tollgate does not accept',
    });
  });
});

describe('GeneralNames', () => {
  it('decodes directoryName and keeps unsupported forms as other', () => {
    const names = readGeneralNames(
      readSingle(
        hex(
          '30 1f a4 0e 30 0c 31 0a 30 08 06 03 55 04 03 0c 01 61 88 01 2a a0 0a 06 03 2a 03 04 a0 03 0c 01 78',
        ),
      ),
    );
    expect(names.map((name) => name.type)).toEqual(['directory', 'other', 'other']);
    const [directory] = names;
    expect(directory?.type === 'directory' && dnEquals(directory.dn, parseDn('CN=A'))).toBe(true);
  });

  it.each([
    ['a constructed dNSName', '30 02 a2 00'],
    ['a primitive directoryName', '30 02 84 00'],
    ['an unknown tag', '30 02 89 00'],
    ['a universal tag', '30 02 04 00'],
    ['a constructed iPAddress', '30 02 a7 00'],
    ['a primitive otherName', '30 02 80 00'],
    ['an empty otherName (OpenSSL cannot decode it either)', '30 02 a0 00'],
    ['a constructed registeredID', '30 02 a8 00'],
    ['an empty sequence', '30 00'],
    ['8-bit IA5String', '30 03 82 01 80'],
  ])('refuses %s', (_name, der) => {
    expect(() => readGeneralNames(readSingle(hex(der)))).toThrow();
  });
});
