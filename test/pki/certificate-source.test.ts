/**
 * The certificate source's use of the shared chain cache: forwarded certificates from a trusted
 * proxy share parses and results with each other and with TLS connections, and trust in the
 * headers is still decided per request before the cache is consulted.
 */
import type { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { CertificateSource, ChainCache, PkiError, TrustStore } from '../../src/pki/index.js';

const byteSequence = (der: Uint8Array): string => `:${Buffer.from(der).toString('base64')}:`;

describe('CertificateSource with a shared chain cache', () => {
  let ca: DevCa;
  let store: TrustStore;
  let leaf: Buffer;
  beforeAll(async () => {
    ca = await createDevCa();
    store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    leaf = (await ca.issueClient({ clientId: 'proxied' })).certDer;
  });

  const proxied = (remoteAddress: string, cert: Buffer) => ({
    socket: { encrypted: false, remoteAddress },
    rawHeaders: [
      'Client-Cert',
      byteSequence(cert),
      'Client-Cert-Chain',
      byteSequence(ca.intermediate.certDer),
    ],
  });

  it('parses and validates a forwarded certificate once across requests and TLS connections', () => {
    const chainCache = new ChainCache();
    const source = new CertificateSource({
      trustedProxies: ['10.0.0.0/8'],
      proxyFormat: 'rfc9440',
      chainCache,
    });
    const validate = vi.spyOn(store, 'validate');
    try {
      const now = new Date();
      const first = source.fromRequest(proxied('10.0.0.1', leaf));
      const second = source.fromRequest(proxied('10.0.0.2', leaf));
      expect(first?.source).toBe('proxy');
      expect(second?.leaf).toBe(first?.leaf);
      const result = first?.validate(store, { now });
      expect(result?.ok).toBe(true);
      expect(second?.validate(store, { now })).toBe(result);
      // A TLS connection presenting the same certificates.
      const x509 = {
        raw: leaf,
        issuerCertificate: { raw: ca.intermediate.certDer, issuerCertificate: undefined },
      } as unknown as X509Certificate;
      const tls = source.fromRequest({
        socket: {
          encrypted: true,
          remoteAddress: '192.0.2.1',
          getPeerX509Certificate: () => x509,
          getProtocol: () => 'TLSv1.3',
        },
        rawHeaders: [],
      });
      expect(tls?.source).toBe('tls');
      expect(tls?.validate(store, { now })).toBe(result);
      expect(validate).toHaveBeenCalledTimes(1);
      expect(chainCache.size).toBe(1);
    } finally {
      validate.mockRestore();
    }
  });

  it('ignores the headers of an untrusted peer, cached or not', () => {
    const onUntrustedHeader = vi.fn();
    const source = new CertificateSource({
      trustedProxies: ['10.0.0.0/8'],
      proxyFormat: 'rfc9440',
      onUntrustedHeader,
    });
    expect(source.fromRequest(proxied('10.0.0.1', leaf))?.source).toBe('proxy');
    expect(source.fromRequest(proxied('192.0.2.1', leaf))).toBeUndefined();
    expect(onUntrustedHeader).toHaveBeenCalledWith('192.0.2.1', 'client-cert');
  });

  it('throws the parse error of a forwarded certificate on every request', () => {
    const source = new CertificateSource({ trustedProxies: ['10.0.0.1'], proxyFormat: 'rfc9440' });
    const junk = Buffer.from('not a certificate');
    expect(() => source.fromRequest(proxied('10.0.0.1', junk))).toThrow(PkiError);
    expect(() => source.fromRequest(proxied('10.0.0.1', junk))).toThrow(PkiError);
  });
});
