/**
 * Certificate and PEM intake: fields and thumbprints of dev CA certificates (checked against
 * node:crypto computed independently), strict refusal of malformed DER, and mutation robustness.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import {
  decodePem,
  encodePem,
  extensionOids,
  hasKeyUsage,
  keyPurposeOids,
  PkiError,
  parseCertificate,
  parseCrl,
  spkiSha256,
  validityStatus,
  x5tS256,
} from '../../src/pki/index.js';

describe('parseCertificate', () => {
  let ca: DevCa;
  let leaf: IssuedClientCertificate;
  beforeAll(async () => {
    ca = await createDevCa();
    leaf = await ca.issueClient({ clientId: 'parse-me', sanDns: ['parse-me.test'] });
  });

  it('computes x5t#S256 and the SPKI hash like node:crypto does', () => {
    const parsed = parseCertificate(leaf.certDer);
    const x509 = new X509Certificate(leaf.certDer);
    const independentX5t = Buffer.from(x509.fingerprint256.replace(/:/g, ''), 'hex').toString(
      'base64url',
    );
    expect(parsed.x5tS256).toBe(independentX5t);
    expect(x5tS256(leaf.certDer)).toBe(independentX5t);
    const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
    expect(parsed.spkiSha256).toBe(createHash('sha256').update(spki).digest('base64url'));
    expect(spkiSha256(ca.root.certDer)).toBe(ca.root.spkiSha256);
  });

  it('decodes the fields chain validation uses', () => {
    const parsed = parseCertificate(leaf.certDer);
    expect(parsed.version).toBe(3);
    expect(parsed.serialNumber).toBe(leaf.serialHex.toLowerCase());
    expect(parsed.notBefore).toEqual(leaf.notBefore);
    expect(parsed.notAfter).toEqual(leaf.notAfter);
    expect(parsed.selfIssued).toBe(false);
    expect(parsed.extensions.basicConstraints?.cA).toBe(false);
    expect(parsed.extensions.extKeyUsage).toEqual([keyPurposeOids.clientAuth]);
    expect(hasKeyUsage(parsed.extensions.keyUsage ?? 0, 'digitalSignature')).toBe(true);
    expect(parsed.extensions.unhandledCritical).toEqual([]);
    const root = parseCertificate(ca.root.certDer);
    expect(root.selfIssued).toBe(true);
    expect(root.extensions.basicConstraints).toEqual({ cA: true, pathLenConstraint: undefined });
    expect(hasKeyUsage(root.extensions.keyUsage ?? 0, 'keyCertSign')).toBe(true);
    expect(root.extensions.nameConstraints?.permitted.length).toBe(ca.permittedSubtrees.length);
    expect(parseCertificate(ca.intermediate.certDer).extensions.basicConstraints).toEqual({
      cA: true,
      pathLenConstraint: 0,
    });
    expect(extensionOids.nameConstraints).toBe('2.5.29.30');
  });

  it('keeps a private copy of the input', () => {
    const copy = Buffer.from(leaf.certDer);
    const parsed = parseCertificate(copy);
    copy.fill(0);
    expect(parsed.der.equals(leaf.certDer)).toBe(true);
  });

  it.each([
    ['empty input', () => Buffer.alloc(0)],
    ['truncated DER', () => leaf.certDer.subarray(0, 100)],
    ['trailing bytes', () => Buffer.concat([leaf.certDer, Buffer.from([0])])],
    ['a bare SEQUENCE', () => Buffer.from([0x30, 0x00])],
    ['an OCTET STRING', () => Buffer.from([0x04, 0x01, 0x00])],
    ['indefinite length', () => Buffer.from([0x30, 0x80, 0x00, 0x00])],
    ['non-minimal length', () => Buffer.from([0x30, 0x81, 0x01, 0x05])],
    ['a PEM text as bytes', () => Buffer.from(leaf.certPem)],
  ])('refuses %s', (_name, input) => {
    expect(() => parseCertificate(input())).toThrow(PkiError);
  });

  it('refuses a different signature algorithm inside and outside the TBS', async () => {
    const rsa = await createDevCa({ keyType: 'ed25519' });
    const der = Buffer.from((await rsa.issueClient({ clientId: 'alg' })).certDer);
    // Ed25519 AlgorithmIdentifier is 30 05 06 03 2B 65 70; turn the outer one into Ed448 (71).
    const outer = der.lastIndexOf(Buffer.from([0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]));
    der[outer + 6] = 0x71;
    expect(() => parseCertificate(der)).toThrow(/signature algorithm mismatch/);
  });

  it('caps the size before decoding', () => {
    expect(() => parseCertificate(leaf.certDer, { maxBytes: 100 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
  });

  it('throws only PkiError for any single-byte mutation', () => {
    // Deterministic: every position, one bit pattern each; a crash here would be a parser bug.
    for (let index = 0; index < leaf.certDer.length; index++) {
      const mutated = Buffer.from(leaf.certDer);
      mutated[index] = ((mutated[index] as number) ^ (0x55 + index)) & 0xff;
      try {
        parseCertificate(mutated);
      } catch (error) {
        expect(error, `byte ${index}`).toBeInstanceOf(PkiError);
      }
    }
  });

  it('reports the validity status', () => {
    expect(validityStatus(leaf, leaf.notBefore)).toBe('valid');
    // RFC 5280 §4.1.2.5: times have one-second precision, so the notAfter second is valid whole.
    expect(validityStatus(leaf, new Date(leaf.notAfter.getTime() + 999))).toBe('valid');
    expect(validityStatus(leaf, new Date(leaf.notAfter.getTime() + 1000))).toBe('expired');
    expect(validityStatus(leaf, new Date(leaf.notBefore.getTime() - 1))).toBe('not_yet_valid');
  });

  it('parses dev CA CRLs', async () => {
    ca.revoke(leaf);
    const crls = await ca.crls();
    const crl = parseCrl(crls.intermediate.der);
    expect(crl.revokedSerials.has(parseCertificate(leaf.certDer).serialNumber)).toBe(true);
    expect(crl.nextUpdate).toEqual(crls.intermediate.nextUpdate);
    expect(() => parseCrl(Buffer.from([0x30, 0x00]))).toThrow(PkiError);
  });
});

describe('PEM', () => {
  let ca: DevCa;
  beforeAll(async () => {
    ca = await createDevCa();
  });

  it('decodes several blocks, with explanatory text and CRLF', () => {
    const text = `Subject: root\r\n${ca.root.certPem.replace(/\n/g, '\r\n')}\n# intermediate\n${ca.intermediate.certPem}`;
    const blocks = decodePem(text, 'CERTIFICATE');
    expect(blocks.map((der) => x5tS256(der))).toEqual([ca.root.x5tS256, ca.intermediate.x5tS256]);
    expect(decodePem(encodePem('CERTIFICATE', ca.root.certDer), 'CERTIFICATE')[0]).toEqual(
      ca.root.certDer,
    );
  });

  it.each([
    ['a different label', (pem: string) => pem.replace(/CERTIFICATE/g, 'PUBLIC KEY')],
    ['a mismatched END', (pem: string) => pem.replace('END CERTIFICATE', 'END X509 CRL')],
    ['no END', (pem: string) => pem.replace(/-----END CERTIFICATE-----\n?/, '')],
    ['bad base64', (pem: string) => pem.replace(/\n[A-Za-z0-9+/]{4}/, '\n!!!!')],
    [
      'padding in the middle',
      (pem: string) => pem.replace(/\n([A-Za-z0-9+/]{2})[A-Za-z0-9+/]{2}/, '\n$1=='),
    ],
    ['an empty body', () => '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'],
    ['a stray boundary', (pem: string) => `-----END CERTIFICATE-----\n${pem}`],
  ])('refuses %s', (_name, mutate) => {
    expect(() => decodePem(mutate(ca.root.certPem), 'CERTIFICATE')).toThrow(PkiError);
  });

  it('applies caps and the strict mode', () => {
    const two = ca.root.certPem + ca.intermediate.certPem;
    expect(() => decodePem(two, 'CERTIFICATE', { maxBlocks: 1 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
    expect(() => decodePem(two, 'CERTIFICATE', { maxLength: 10 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
    expect(() =>
      decodePem(`hello\n${ca.root.certPem}`, 'CERTIFICATE', { allowExplanatoryText: false }),
    ).toThrow(PkiError);
    expect(() => decodePem(42, 'CERTIFICATE')).toThrow(PkiError);
    expect(decodePem('no blocks here', 'CERTIFICATE')).toEqual([]);
  });
});
