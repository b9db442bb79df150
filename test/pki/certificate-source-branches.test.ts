/**
 * Where a certificate comes from, at the edges: proxy address lists (IPv6, IPv4-mapped, junk),
 * sockets without an address or without TLS peer certificates, nginx's default header, and the
 * proxy header parsers' rarer refusals.
 */
import type { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import {
  CertificateSource,
  dnMatches,
  PkiError,
  parseCertificate,
  parseCidrs,
  parseDn,
  parseNginxEscapedCertHeader,
  parseXfccHeader,
  TrustStore,
} from '../../src/pki/index.js';

describe('CertificateSource edges', () => {
  let leaf: IssuedClientCertificate;
  beforeAll(async () => {
    leaf = await (await createDevCa()).issueClient({ clientId: 'edges' });
  });

  const nginxHeaders = () => ['X-SSL-Client-Cert', encodeURIComponent(leaf.certPem)];

  it('refuses a proxy entry that is not an address', () => {
    expect(() => parseCidrs(['proxy.internal'])).toThrow(
      new TypeError('not an IP address or CIDR: proxy.internal'),
    );
    expect(() => parseCidrs(['fd00::/129'])).toThrow(
      new TypeError('bad prefix length: fd00::/129'),
    );
  });

  it('refuses trusted proxies without a header format', () => {
    expect(
      () => new CertificateSource({ trustedProxies: ['10.0.0.1'], proxyFormat: null }),
    ).toThrow(new TypeError('trusted proxies need a proxy certificate header format'));
  });

  it('trusts IPv6 proxies and IPv4-mapped IPv6 peers, not unknown or missing addresses', () => {
    const source = new CertificateSource({
      trustedProxies: ['10.0.0.0/8', 'fd00::/8'],
      proxyFormat: 'nginx',
    });
    expect(source.isTrustedPeer({ remoteAddress: 'fd00::1' })).toBe(true);
    expect(source.isTrustedPeer({ remoteAddress: 'fe80::1' })).toBe(false);
    expect(source.isTrustedPeer({ remoteAddress: '::ffff:10.1.2.3' })).toBe(true);
    expect(source.isTrustedPeer({ remoteAddress: '::ffff:11.1.2.3' })).toBe(false);
    expect(source.isTrustedPeer({ remoteAddress: 'localhost' })).toBe(false);
    expect(source.isTrustedPeer({})).toBe(false);
  });

  it('reads the default nginx header from a trusted proxy', () => {
    const source = new CertificateSource({ trustedProxies: ['10.0.0.1'], proxyFormat: 'nginx' });
    const presented = source.fromRequest({
      socket: { encrypted: false, remoteAddress: '10.0.0.1' },
      rawHeaders: nginxHeaders(),
    });
    expect(presented?.source).toBe('proxy');
    expect(presented?.x5tS256).toBe(leaf.x5tS256);
  });

  it('reports a certificate header from a peer without an address as unknown', () => {
    const onUntrustedHeader = vi.fn();
    const source = new CertificateSource({
      trustedProxies: ['10.0.0.1'],
      proxyFormat: 'nginx',
      onUntrustedHeader,
    });
    expect(source.fromRequest({ socket: { encrypted: false }, rawHeaders: nginxHeaders() })).toBe(
      undefined,
    );
    expect(onUntrustedHeader).toHaveBeenCalledWith('unknown', 'x-ssl-client-cert');
  });

  it('has no certificate on an encrypted socket that cannot report a peer certificate', () => {
    const source = new CertificateSource({ trustedProxies: [], proxyFormat: null });
    expect(
      source.fromRequest({
        socket: { encrypted: true, remoteAddress: '127.0.0.1' },
        rawHeaders: [],
      }),
    ).toBeUndefined();
  });
});

describe('a TLS 1.2 connection whose certificate went away', () => {
  it('refuses to validate once a renegotiation dropped the client certificate', async () => {
    const ca = await createDevCa();
    const leaf = await ca.issueClient({ clientId: 'renegotiated' });
    const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const x509 = {
      raw: leaf.certDer,
      issuerCertificate: { raw: ca.intermediate.certDer, issuerCertificate: undefined },
    } as unknown as X509Certificate;
    let current: X509Certificate | undefined = x509;
    const socket = {
      encrypted: true,
      remoteAddress: '127.0.0.1',
      getPeerX509Certificate: () => current,
      getProtocol: () => 'TLSv1.2',
    };
    const source = new CertificateSource({ trustedProxies: [], proxyFormat: null });
    const presented = source.fromRequest({ socket, rawHeaders: [] });
    expect(presented?.validate(store, { now: new Date() }).ok).toBe(true);
    current = undefined;
    expect(() => presented?.validate(store, { now: new Date() })).toThrow(
      new PkiError('malformed', 'the connection has no client certificate'),
    );
    expect(source.fromRequest({ socket, rawHeaders: [] })).toBeUndefined();
  });
});

describe('proxy header parsers, rarer refusals', () => {
  let leaf: IssuedClientCertificate;
  beforeAll(async () => {
    leaf = await (await createDevCa()).issueClient({ clientId: 'headers' });
  });

  it('nginx: a value that decodes to no PEM block is malformed, not absent', () => {
    expect(() => parseNginxEscapedCertHeader('%0A')).toThrow(PkiError);
    expect(() => parseNginxEscapedCertHeader('%0A')).toThrow(
      'nginx client certificate header: no certificate',
    );
    expect(parseNginxEscapedCertHeader('')).toBeNull();
  });

  it('XFCC: a backslash that escapes neither a quote nor a backslash is kept as is', () => {
    const header = `By="spiffe://mesh\\x/sa";Cert="${encodeURIComponent(leaf.certPem)}"`;
    const forwarded = parseXfccHeader(header);
    expect(forwarded?.leaf.equals(leaf.certDer)).toBe(true);
    expect(forwarded?.chain).toEqual([]);
  });
});

describe('dnMatches', () => {
  it('parses a DER certificate and a string DN', async () => {
    const leaf = await (await createDevCa()).issueClient({
      clientId: 'dn',
      subject: 'CN=svc-dn,O=Tollgate Dev,C=US',
    });
    expect(dnMatches('cn=SVC-DN, o=tollgate dev, c=us', leaf.certDer)).toBe(true);
    expect(dnMatches('CN=svc-other,O=Tollgate Dev,C=US', leaf.certDer)).toBe(false);
    expect(
      dnMatches(parseDn('CN=svc-dn,O=Tollgate Dev,C=US'), parseCertificate(leaf.certDer)),
    ).toBe(true);
  });
});
