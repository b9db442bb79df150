/**
 * Structural rules of certificates and CRLs that only hand-assembled encodings reach: dev CA
 * certificates and CRLs re-assembled field by field (versions, unique identifiers, trailing fields,
 * BIT STRING padding, unknown public keys, CRL extensions), and what each consumer makes of them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  type DevCa,
  generateSigningJwk,
  type IssuedClientCertificate,
} from '../../src/dev-ca/index.js';
import {
  certificateMatchesJwk,
  certificatePublicKey,
  PkiError,
  parseCertificate,
  parseCrl,
  publicKeyMatchesJwk,
  TrustStore,
  TrustStoreError,
} from '../../src/pki/index.js';
import {
  bits,
  childrenOf,
  ctx,
  ctxPrimitive,
  extension,
  int,
  nul,
  oid,
  reassemble,
  seq,
  tlv,
} from './der-builder.js';

const malformed = (message: string) => expect.objectContaining({ code: 'malformed', message });

describe('certificate structure', () => {
  let ca: DevCa;
  let leaf: IssuedClientCertificate;
  beforeAll(async () => {
    ca = await createDevCa();
    leaf = await ca.issueClient({ clientId: 'crafted' });
  });

  /** TBS fields of the dev CA leaf: version, serial, signature, issuer, validity, subject, spki, extensions. */
  const edit = (change: (fields: Uint8Array[]) => Uint8Array[]) => reassemble(leaf.certDer, change);
  const refuses = (der: Uint8Array, message: string) => {
    expect(() => parseCertificate(der)).toThrow(PkiError);
    expect(() => parseCertificate(der)).toThrow(malformed(`malformed certificate: ${message}`));
  };

  it('refuses input that is not bytes', () => {
    expect(() => parseCertificate('MIIB' as never)).toThrow(malformed('certificate must be bytes'));
  });

  it('refuses a fourth top-level field', () => {
    refuses(
      reassemble(
        leaf.certDer,
        (fields) => fields,
        (outer) => [...outer, nul()],
      ),
      'trailing fields in Certificate',
    );
  });

  it('refuses a version beyond v3', () => {
    refuses(
      edit(([, ...rest]) => [ctx(0, int(3)), ...rest]),
      'unknown certificate version',
    );
  });

  it('refuses a Validity of three times', () => {
    refuses(
      edit((fields) => {
        const times = childrenOf(fields[4] as Uint8Array);
        return fields.map((field, index) =>
          index === 4 ? seq(...times, times[0] as Uint8Array) : field,
        );
      }),
      'bad Validity',
    );
  });

  it('accepts unique identifiers in v3 and refuses them in v1', () => {
    const uid = (n: number) => ctxPrimitive(n, Uint8Array.of(0, 0xaa));
    const v3 = parseCertificate(
      edit((fields) => [...fields.slice(0, 7), uid(1), uid(2), ...fields.slice(7)]),
    );
    expect(v3.version).toBe(3);
    expect(v3.subject.key).toBe(parseCertificate(leaf.certDer).subject.key);
    refuses(
      edit((fields) => [...fields.slice(1, 7), uid(1)]),
      'unique identifier in a v1 certificate',
    );
  });

  it('refuses extensions in a v2 certificate', () => {
    refuses(
      edit(([, ...rest]) => [ctx(0, int(1)), ...rest]),
      'extensions in a pre-v3 certificate',
    );
  });

  it('refuses a signature BIT STRING with unused bits', () => {
    refuses(
      reassemble(
        leaf.certDer,
        (fields) => fields,
        ([tbs, algorithm, signature]) => {
          const bytes = childrenOf(seq(signature as Uint8Array))[0] as Uint8Array;
          return [tbs as Uint8Array, algorithm as Uint8Array, bits(1, bytes.subarray(3))];
        },
      ),
      'signature is not whole octets',
    );
  });

  describe('a public key OpenSSL cannot import', () => {
    const unknownKey = seq(seq(oid('1.2.3.4.5')), bits(0, Uint8Array.of(1, 2, 3)));
    const withUnknownKey = (der: Uint8Array) =>
      reassemble(der, (fields) => fields.map((field, index) => (index === 6 ? unknownKey : field)));

    it('parses, but has no public key and matches no JWK', async () => {
      const certificate = parseCertificate(withUnknownKey(leaf.certDer));
      expect(certificatePublicKey(certificate)).toBeUndefined();
      const jwk = (await generateSigningJwk('ES256')).publicJwk;
      expect(publicKeyMatchesJwk(certificate, jwk)).toBe(false);
      expect(certificateMatchesJwk(certificate, jwk)).toBe(false);
    });

    it('is refused as a trust anchor', () => {
      expect(() => TrustStore.fromPem({ anchors: [withUnknownKey(ca.root.certDer)] })).toThrow(
        new TrustStoreError('anchors[0]', 'public key algorithm 1.2.3.4.5 is not accepted'),
      );
    });

    it('never verifies a signature when offered as an issuer in the chain', () => {
      const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
      const result = store.validate(leaf.certDer, [withUnknownKey(ca.intermediate.certDer)], {
        now: new Date(),
      });
      expect(result).toMatchObject({
        ok: false,
        reason: 'untrusted',
        check: 'path',
        detail: 'no issuer signature verifies up to a trust anchor',
      });
    });
  });
});

describe('publicKeyMatchesJwk', () => {
  it('refuses JWKs that are not objects, and keys of another type', async () => {
    const ca = await createDevCa();
    const leaf = parseCertificate((await ca.issueClient({ clientId: 'k' })).certDer);
    for (const jwk of [null, 'jwk', [], 42]) expect(publicKeyMatchesJwk(leaf, jwk)).toBe(false);
    const rsa = (await generateSigningJwk('RS256')).publicJwk;
    expect(publicKeyMatchesJwk(leaf, rsa)).toBe(false);
  });
});

describe('CRL structure', () => {
  let ca: DevCa;
  let revokedSerial: string;
  let crl: Uint8Array;
  beforeAll(async () => {
    ca = await createDevCa();
    const leaf = await ca.issueClient({ clientId: 'revoked' });
    revokedSerial = parseCertificate(leaf.certDer).serialNumber;
    ca.revoke(leaf);
    crl = (await ca.crls()).intermediate.der;
  });

  /** TBS fields of the dev CA CRL: version, signature, issuer, thisUpdate, nextUpdate, revoked, [0] extensions. */
  const edit = (change: (fields: Uint8Array[]) => Uint8Array[]) => reassemble(crl, change);
  const crlNumber = extension('2.5.29.20', int(7));
  const withExtensions = (...extensions: Uint8Array[]) =>
    edit((fields) => [...fields.slice(0, 6), ctx(0, seq(...extensions))]);
  const withEntryExtension = (entryExtension: Uint8Array) =>
    edit((fields) => {
      const [entry] = childrenOf(fields[5] as Uint8Array);
      const [serial, date] = childrenOf(entry as Uint8Array) as [Uint8Array, Uint8Array];
      return fields.map((field, index) =>
        index === 5 ? seq(seq(serial, date, seq(entryExtension))) : field,
      );
    });

  it('reads a CRL with only a cRLNumber', () => {
    const parsed = parseCrl(withExtensions(crlNumber));
    expect([...parsed.revokedSerials]).toEqual([revokedSerial]);
    expect(parsed.issuer.key).toBe(parseCrl(crl).issuer.key);
  });

  it('refuses a CRL without a cRLNumber: without extensions, or v1 (RFC 5280 §5.2.3)', () => {
    expect(() => parseCrl(edit((fields) => fields.slice(0, 6)))).toThrow(
      malformed('CRL without a cRLNumber'),
    );
    expect(() => parseCrl(edit((fields) => fields.slice(1, 6)))).toThrow(
      malformed('CRL without a cRLNumber'),
    );
    const aki = extension('2.5.29.35', seq(tlv(0x80, Uint8Array.of(1, 2, 3))));
    expect(() => parseCrl(withExtensions(aki))).toThrow(malformed('CRL without a cRLNumber'));
  });

  it('refuses delta-CRL machinery it does not implement', () => {
    expect(() => parseCrl(withExtensions(crlNumber, extension('2.5.29.27', int(1))))).toThrow(
      malformed('unsupported CRL extension 2.5.29.27'),
    );
  });

  it('refuses an unknown critical extension and a critical cRLNumber', () => {
    expect(() => parseCrl(withExtensions(crlNumber, extension('1.2.3.4', nul(), true)))).toThrow(
      malformed('unknown critical CRL extension 1.2.3.4'),
    );
    expect(() => parseCrl(withExtensions(extension('2.5.29.20', int(7), true)))).toThrow(
      malformed('critical cRLNumber'),
    );
  });

  it('refuses an unknown critical entry extension, accepts a critical reasonCode', () => {
    expect(() => parseCrl(withEntryExtension(extension('1.2.3.4', nul(), true)))).toThrow(
      malformed('unsupported critical CRL entry extension 1.2.3.4'),
    );
    const keyCompromise = tlv(0x0a, Uint8Array.of(1));
    expect(
      parseCrl(withEntryExtension(extension('2.5.29.21', keyCompromise, true))).revokedSerials,
    ).toEqual(new Set([revokedSerial]));
  });

  it('lists the entries with their reason codes, and the cRLNumber', () => {
    const parsed = parseCrl(crl);
    expect(parsed.crlNumber).toBe(1n);
    expect(parsed.entries).toEqual([
      { serial: revokedSerial, revocationDate: expect.any(Date), reasonCode: undefined },
    ]);
    const keyCompromise = tlv(0x0a, Uint8Array.of(1));
    const withReason = parseCrl(withEntryExtension(extension('2.5.29.21', keyCompromise)));
    expect(withReason.entries.map((entry) => entry.reasonCode)).toEqual([1]);
    expect(parseCrl(withExtensions(crlNumber)).crlNumber).toBe(7n);
  });

  it('refuses a cRLNumber that is not an INTEGER (RFC 5280 §5.2.3)', () => {
    expect(() => parseCrl(withExtensions(extension('2.5.29.20', nul())))).toThrow(
      malformed('malformed cRLNumber'),
    );
  });

  it('refuses extension values asn1js cannot decode as malformed, not with its own errors', () => {
    // A BMPString of odd length: asn1js throws a RangeError from its UTF-16 decoder when pkijs
    // decodes the value on first read (found by test/pki/fuzz.test.ts).
    const oddBmp = tlv(0x1e, Uint8Array.of(0x41));
    expect(() => parseCrl(withExtensions(extension('2.5.29.20', oddBmp)))).toThrow(
      malformed('malformed CRL extension 2.5.29.20'),
    );
    expect(() => parseCrl(withEntryExtension(extension('2.5.29.21', oddBmp)))).toThrow(
      malformed('malformed CRL extension 2.5.29.21'),
    );
  });

  it('refuses a fourth top-level field, a mismatched algorithm and a padded signature', () => {
    expect(() =>
      parseCrl(
        reassemble(
          crl,
          (f) => f,
          (outer) => [...outer, nul()],
        ),
      ),
    ).toThrow(malformed('malformed CRL: trailing fields in CertificateList'));
    const ecdsaSha384 = seq(oid('1.2.840.10045.4.3.3'));
    expect(() =>
      parseCrl(
        reassemble(
          crl,
          (f) => f,
          ([tbs, , signature]) => [tbs as Uint8Array, ecdsaSha384, signature as Uint8Array],
        ),
      ),
    ).toThrow(malformed('malformed CRL: signature algorithm mismatch'));
    expect(() =>
      parseCrl(
        reassemble(
          crl,
          (f) => f,
          ([tbs, algorithm]) => [
            tbs as Uint8Array,
            algorithm as Uint8Array,
            bits(1, Uint8Array.of(0x80)),
          ],
        ),
      ),
    ).toThrow(malformed('malformed CRL: signature is not whole octets'));
  });
});
