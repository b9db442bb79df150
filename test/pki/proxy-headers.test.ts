/**
 * Proxy header forms: RFC 9440 Client-Cert / Client-Cert-Chain (with the RFC's Appendix A example),
 * nginx `$ssl_client_escaped_cert`, Envoy `x-forwarded-client-cert`; sizes, duplicates, junk.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import {
  PkiError,
  parseClientCertChainHeader,
  parseClientCertHeader,
  parseNginxEscapedCertHeader,
  parseRfc9440Headers,
  parseXfccHeader,
} from '../../src/pki/index.js';

// RFC 9440 Appendix A, Figures 2 and 3 (line breaks there are for display only). The
// certificates expired in 2021: they are parsing fixtures, never validated.
const rfc9440ClientCert =
  ':MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTAeFw0yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmckC8vdgJ1p5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDVR0TBAIwADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf8EBAMCBsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6bMjeSkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=:';
const rfc9440ClientCertChain =
  ':MIIB5jCCAYugAwIBAgIBFjAKBggqhkjOPQQDAjBWMQswCQYDVQQGEwJVUzEbMBkGA1UECgwSTGV0J3MgQXV0aGVudGljYXRlMSowKAYDVQQDDCFMZXQncyBBdXRoZW50aWNhdGUgUm9vdCBBdXRob3JpdHkwHhcNMjAwMTE0MjEzMjMwWhcNMzAwMTExMjEzMjMwWjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJf+aA54RC5pyLAR5yfXVYmNpgd+CGUTDp2KOGhc0gK91zxhHesEYkdXkpS2UN8Kati+yHtWCV3kkhCngGyv7RqjZjBkMB0GA1UdDgQWBBRm3WjLa38lbEYCuiCPct0ZaSED2DAfBgNVHSMEGDAWgBTEA2Q6eecKu9g9yb5glbkhhVINGDASBgNVHRMBAf8ECDAGAQH/AgEAMA4GA1UdDwEB/wQEAwIBhjAKBggqhkjOPQQDAgNJADBGAiEA5pLvaFwRRkxomIAtDIwg9D7gC1xzxBl4r28EzmSO1pcCIQCJUShpSXO9HDIQMUgH69fNDEMHXD3RRX5gP7kuu2KGMg==:, :MIICBjCCAaygAwIBAgIJAKS0yiqKtlhoMAoGCCqGSM49BAMCMFYxCzAJBgNVBAYTAlVTMRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRpY2F0ZSBSb290IEF1dGhvcml0eTAeFw0yMDAxMTQyMTI1NDVaFw00MDAxMDkyMTI1NDVaMFYxCzAJBgNVBAYTAlVTMRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxKjAoBgNVBAMMIUxldCdzIEF1dGhlbnRpY2F0ZSBSb290IEF1dGhvcml0eTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFoaHU+Z5bPKmGzlYXtCf+E6HYj62fORaHDOrt+yyh3H/rTcs7ynFfGn+gyFsrSP3Ez88rajv+U2NfD0o0uZ4PmjYzBhMB0GA1UdDgQWBBTEA2Q6eecKu9g9yb5glbkhhVINGDAfBgNVHSMEGDAWgBTEA2Q6eecKu9g9yb5glbkhhVINGDAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAKBggqhkjOPQQDAgNIADBFAiEAmAeg1ycKHriqHnaD4M/UDBpQRpkmdcRFYGMg1Qyrkx4CIB4ivz3wQcQkGhcsUZ1SOImd/lq1Q0FLf09rGfLQPWDc:';

const subjectOf = (der: Uint8Array): string => new X509Certificate(der).subject;
const byteSequence = (der: Uint8Array): string => `:${Buffer.from(der).toString('base64')}:`;

describe('RFC 9440', () => {
  it('decodes the Appendix A Client-Cert example', () => {
    const der = parseClientCertHeader(rfc9440ClientCert);
    expect(der).not.toBeNull();
    expect(subjectOf(der as Buffer)).toBe('CN=BC');
  });

  it('decodes the Appendix A Client-Cert-Chain example in TLS order', () => {
    const chain = parseClientCertChainHeader(rfc9440ClientCertChain);
    expect(chain.map(subjectOf)).toEqual([
      "O=Let's Authenticate\nCN=LA Intermediate CA",
      "C=US\nO=Let's Authenticate\nCN=Let's Authenticate Root Authority",
    ]);
    const both = parseRfc9440Headers(rfc9440ClientCert, rfc9440ClientCertChain);
    expect(both?.chain).toHaveLength(2);
  });

  it('treats a chain split over several field lines as one list', () => {
    const [first, second] = rfc9440ClientCertChain.split(', ');
    expect(parseClientCertChainHeader([first, second])).toHaveLength(2);
  });

  it('accepts unpadded base64 and surrounding spaces', () => {
    const unpadded = rfc9440ClientCert.replace(/=+:$/, ':');
    expect(parseClientCertHeader(`  ${unpadded} `)).toEqual(
      parseClientCertHeader(rfc9440ClientCert),
    );
  });

  it('means "no certificate" for absent, empty or empty Byte Sequence values', () => {
    expect(parseClientCertHeader(undefined)).toBeNull();
    expect(parseClientCertHeader('')).toBeNull();
    expect(parseClientCertHeader('::')).toBeNull();
    expect(parseRfc9440Headers(undefined, rfc9440ClientCertChain)).toBeNull();
    expect(parseClientCertChainHeader(undefined)).toEqual([]);
  });

  it.each([
    ['a token, not a Byte Sequence', 'MIIBqDCC'],
    ['an unterminated Byte Sequence', ':MIIB'],
    ['base64url alphabet', ':ab-_:'],
    ['a list where an item is expected', `${rfc9440ClientCert}, ${rfc9440ClientCert}`],
    ['parameters', `${rfc9440ClientCert};a=1`],
    ['impossible base64 length', ':abcde:'],
    ['padding in the middle', ':ab=c:'],
  ])('refuses %s in Client-Cert', (_name, value) => {
    expect(() => parseClientCertHeader(value)).toThrow(PkiError);
  });

  it.each([
    ['an empty member', `${rfc9440ClientCert},,${rfc9440ClientCert}`],
    ['a trailing comma', `${rfc9440ClientCert},`],
    ['an inner list', `(${rfc9440ClientCert})`],
    ['an empty Byte Sequence', '::'],
  ])('refuses %s in Client-Cert-Chain', (_name, value) => {
    expect(() => parseClientCertChainHeader(value)).toThrow(PkiError);
  });

  it('refuses a Client-Cert sent twice', () => {
    expect(() => parseClientCertHeader([rfc9440ClientCert, rfc9440ClientCert])).toThrow(
      expect.objectContaining({ code: 'duplicate' }),
    );
    expect(parseClientCertHeader([rfc9440ClientCert])).not.toBeNull();
  });

  it('caps sizes before decoding', () => {
    expect(() => parseClientCertHeader(rfc9440ClientCert, { maxHeaderLength: 100 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
    expect(() => parseClientCertHeader(rfc9440ClientCert, { maxCertificateBytes: 100 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
    expect(() => parseClientCertChainHeader(rfc9440ClientCertChain, { maxChainLength: 1 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
  });

  it('refuses values that are not strings', () => {
    expect(() => parseClientCertHeader(42)).toThrow(PkiError);
    expect(() => parseClientCertChainHeader([1, 2])).toThrow(PkiError);
  });
});

describe('nginx and Envoy (dev CA certificates)', () => {
  let leaf: IssuedClientCertificate;
  let intermediatePem: string;
  let rootPem: string;
  beforeAll(async () => {
    const ca = await createDevCa();
    leaf = await ca.issueClient({ clientId: 'svc-proxy' });
    intermediatePem = ca.intermediate.certPem;
    rootPem = ca.root.certPem;
  });

  it('decodes nginx $ssl_client_escaped_cert', () => {
    const header = encodeURIComponent(leaf.certPem);
    const forwarded = parseNginxEscapedCertHeader(header);
    expect(forwarded?.leaf.equals(leaf.certDer)).toBe(true);
    expect(forwarded?.chain).toEqual([]);
    // nginx escapes fewer characters than encodeURIComponent; `+`, `/` and `=` stay literal.
    const nginxStyle = leaf.certPem.replace(/\n/g, '%0A').replace(/ /g, '%20');
    expect(parseNginxEscapedCertHeader(nginxStyle)?.leaf.equals(leaf.certDer)).toBe(true);
    expect(parseNginxEscapedCertHeader('')).toBeNull();
  });

  it.each([
    ['bad percent-encoding', '%E0%A4%A'],
    ['not PEM', 'hello'],
    ['two certificates', () => encodeURIComponent(leaf.certPem + intermediatePem)],
    ['a private key', () => encodeURIComponent(leaf.keyPem)],
    ['text around the block', () => encodeURIComponent(`junk\n${leaf.certPem}`)],
  ])('refuses nginx header with %s', (_name, value) => {
    const header = typeof value === 'function' ? value() : value;
    expect(() => parseNginxEscapedCertHeader(header)).toThrow(PkiError);
  });

  it('reads Cert and Chain from an XFCC element, quoted or not', () => {
    const cert = encodeURIComponent(leaf.certPem);
    const chain = encodeURIComponent(leaf.certPem + intermediatePem);
    for (const header of [
      `By=spiffe://proxy.test;Hash=abc;Cert="${cert}";Chain="${chain}";Subject="CN=svc-proxy,O=Tollgate Dev";URI=;DNS=a.test;DNS=b.test`,
      `hash=abc;cert=${cert};chain=${chain}`,
    ]) {
      const forwarded = parseXfccHeader(header);
      expect(forwarded?.leaf.equals(leaf.certDer)).toBe(true);
      expect(forwarded?.chain).toHaveLength(1);
      expect(subjectOf(forwarded?.chain[0] as Buffer)).toContain('Intermediate');
    }
  });

  it('uses the last XFCC element: the one the proxy next to Tollgate appended', () => {
    const forged = encodeURIComponent(rootPem);
    const real = encodeURIComponent(leaf.certPem);
    const header = `By=spiffe://edge;Cert="${forged}",By=spiffe://inner;Cert="${real}"`;
    expect(parseXfccHeader(header)?.leaf.equals(leaf.certDer)).toBe(true);
    expect(parseXfccHeader(header.replace('",By', '", By'))?.leaf.equals(leaf.certDer)).toBe(true);
    expect(() => parseXfccHeader(header, { element: 'single' })).toThrow(PkiError);
    expect(
      parseXfccHeader(`Cert="${real}"`, { element: 'single' })?.leaf.equals(leaf.certDer),
    ).toBe(true);
  });

  it('takes the leaf from Chain when Cert is absent, and returns null without either', () => {
    const chain = encodeURIComponent(leaf.certPem + intermediatePem);
    expect(parseXfccHeader(`Chain="${chain}"`)?.leaf.equals(leaf.certDer)).toBe(true);
    expect(parseXfccHeader('By=spiffe://x;Hash=abc;Subject="CN=a"')).toBeNull();
    expect(parseXfccHeader(undefined)).toBeNull();
  });

  it('unescapes quoted values', () => {
    const cert = encodeURIComponent(leaf.certPem);
    const header = `Subject="CN=\\"quoted\\", O=x;y";Cert="${cert}"`;
    expect(parseXfccHeader(header)?.leaf.equals(leaf.certDer)).toBe(true);
  });

  it.each([
    ['a pair without "="', 'Cert'],
    ['an empty key', '=abc'],
    ['an unterminated quote', 'Cert="abc'],
    ['junk after a quoted value', 'Cert="a"b'],
    ['a quote inside an unquoted value', 'Cert=a"b'],
    ['an empty pair', 'Hash=a;;Cert=b'],
    ['a duplicate Cert', () => `Cert=${encodeURIComponent(leaf.certPem)};Cert=x`],
    ['a Cert that is not PEM', 'Cert=hello'],
    [
      'a chain over the cap',
      () => `Chain=${encodeURIComponent(leaf.certPem + intermediatePem + rootPem)}`,
    ],
  ])('refuses XFCC with %s', (_name, value) => {
    const header = typeof value === 'function' ? value() : value;
    expect(() => parseXfccHeader(header, { maxChainLength: 1 })).toThrow(PkiError);
  });

  it('refuses a duplicate or oversized XFCC header', () => {
    const cert = `Cert=${encodeURIComponent(leaf.certPem)}`;
    expect(() => parseXfccHeader([cert, cert])).toThrow(
      expect.objectContaining({ code: 'duplicate' }),
    );
    expect(() => parseXfccHeader(cert, { maxHeaderLength: 64 })).toThrow(
      expect.objectContaining({ code: 'too_large' }),
    );
  });

  it('round-trips a dev CA certificate through Client-Cert', () => {
    expect(parseClientCertHeader(byteSequence(leaf.certDer))?.equals(leaf.certDer)).toBe(true);
  });
});
