/**
 * The one certificate builder (x509.ts, pkijs) for every profile and key type: deterministic RSA
 * output for a template, names and keys the old node-forge path could not express, and an RSA dev
 * CA that openssl and node:tls accept with the same extensions as the EC one. node-forge builds
 * no certificate at all (it only writes the legacy PKCS#12).
 */
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import forge from 'node-forge';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createDevCa,
  type DevCa,
  type DevCaCrls,
  encodeDn,
  type IssuedCertificate,
} from '../../src/dev-ca/index.js';
import { type DevKeyPair, generateDevKeyPair } from '../../src/dev-ca/keys.js';
import {
  buildCertificate,
  type CertificateTemplate,
  ekuOids,
  randomSerial,
} from '../../src/dev-ca/x509.js';
import { openssl, tempDir, writeAll } from './helpers.js';

const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const hourMs = 3_600_000;
const clientSubject =
  'CN=svc-a,OU=Payments,O=Acme\\, Inc.,DC=tollgate,emailAddress=svc-a@example.org,C=DE';
const clientSans = {
  sanDns: ['svc-a.test'],
  sanUri: ['spiffe://tollgate.test/ns/prod/sa/svc-a'],
  sanIp: ['127.0.0.1', '::1'],
  sanEmail: ['svc-a@example.org'],
};
const serverSans = ['localhost', '127.0.0.1', '::1', 'api.test'];

describe('buildCertificate with an RSA signer', () => {
  let rootKey: DevKeyPair;
  let leafKey: DevKeyPair;
  let ecKey: DevKeyPair;
  const rootName = encodeDn('CN=Forge Root,O=Tollgate Dev,C=US');

  beforeAll(async () => {
    [rootKey, leafKey, ecKey] = await Promise.all([
      generateDevKeyPair('rsa2048'),
      generateDevKeyPair('rsa2048'),
      generateDevKeyPair('p256'),
    ]);
  });

  const template = (overrides: Partial<CertificateTemplate> = {}): CertificateTemplate => ({
    serial: randomSerial(),
    subject: encodeDn(clientSubject),
    issuer: rootName,
    notBefore: now,
    notAfter: new Date(now.getTime() + hourMs),
    subjectSpki: leafKey.spkiDer,
    issuerSpki: rootKey.spkiDer,
    signer: rootKey,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    // A known EKU and one forge has no name for: both must come out as the same OIDs.
    extKeyUsage: [ekuOids.clientAuth, '1.3.6.1.4.1.99999.1'],
    subjectAltNames: {
      dns: ['svc-a.test', 'localhost'],
      ip: ['127.0.0.1', '::1', '::ffff:192.0.2.1', '2001:db8::7'],
      uri: ['spiffe://tollgate.test/svc-a'],
      email: ['svc-a@example.org'],
    },
    ...overrides,
  });

  it('writes the same DER for the same template (PKCS #1 v1.5): root, intermediate and leaf profiles', () => {
    const cases: Record<string, CertificateTemplate> = {
      root: template({
        subject: rootName,
        subjectSpki: rootKey.spkiDer,
        ca: {},
        keyUsage: ['keyCertSign', 'cRLSign'],
        permittedSubtrees: ['localhost', '.localhost', '.test', '127.0.0.1/32', '::1/128'],
        subjectAltNames: {},
        notAfter: new Date(Date.UTC(2051, 0, 1)), // GeneralizedTime from 2050 on
      }),
      intermediate: template({
        subject: encodeDn('CN=Forge Intermediate,O=Tollgate Dev,C=US'),
        ca: { pathLength: 0 },
        keyUsage: ['keyCertSign', 'cRLSign'],
        permittedSubtrees: ['.test', '10.0.0.0/8'],
        subjectAltNames: {},
      }),
      leaf: template(),
      'leaf without EKU': (({ extKeyUsage, ...rest }) => rest)(
        template({ keyUsage: ['digitalSignature'] }),
      ),
    };
    for (const [name, t] of Object.entries(cases)) {
      const built = buildCertificate(t);
      // PKCS #1 v1.5 signatures are deterministic: same TBS, same key => same certificate.
      expect(built.der.equals(buildCertificate(t).der), name).toBe(true);
      expect(new X509Certificate(built.der).verify(rootKey.publicKey), name).toBe(true);
    }
  });

  it('builds what node-forge could not express: multi-valued RDNs, EC keys under RSA, EC signers', () => {
    const multiValued = buildCertificate(
      template({ subject: encodeDn('CN=svc-a+OU=Payments,O=Acme,C=US') }),
    );
    expect(new X509Certificate(multiValued.der).verify(rootKey.publicKey)).toBe(true);
    expect(new X509Certificate(multiValued.der).subject).toBe(
      'C=US\nO=Acme\nCN=svc-a + OU=Payments',
    );

    const ecLeaf = buildCertificate(template({ subjectSpki: ecKey.spkiDer }));
    expect(new X509Certificate(ecLeaf.der).publicKey.asymmetricKeyType).toBe('ec');
    expect(new X509Certificate(ecLeaf.der).verify(rootKey.publicKey)).toBe(true);

    const ecSigned = buildCertificate(
      template({ signer: ecKey, issuerSpki: ecKey.spkiDer, subjectSpki: leafKey.spkiDer }),
    );
    expect(new X509Certificate(ecSigned.der).verify(ecKey.publicKey)).toBe(true);
  });
});

/** Extensions as [OID, critical, value hex], key identifiers reduced to their presence. */
function extensionProfile(pem: string): [string, boolean, string][] {
  const cert = pkijs.Certificate.fromBER(new X509Certificate(pem).raw);
  const keyIds = new Set([pkijs.id_SubjectKeyIdentifier, pkijs.id_AuthorityKeyIdentifier]);
  return (cert.extensions ?? []).map((e) => [
    e.extnID,
    e.critical,
    keyIds.has(e.extnID)
      ? 'key id'
      : Buffer.from(e.extnValue.valueBlock.valueHexView).toString('hex'),
  ]);
}

/** `openssl x509 -text` from the extensions on, without key ids, signatures and key sizes. */
async function opensslProfile(dir: string, file: string): Promise<string> {
  const text = (await openssl(['x509', '-in', file, '-noout', '-text', '-nameopt', 'RFC2253'], dir))
    .output;
  const extensions = text.slice(
    text.indexOf('X509v3 extensions:'),
    text.indexOf('Signature Algorithm', text.indexOf('X509v3 extensions:')),
  );
  return extensions.replace(/(Key Identifier:)\s*\n\s*[0-9A-F:]+/g, '$1 <key id>');
}

describe('the RSA profile: an rsa2048 dev CA from the one builder', () => {
  let rsa: { ca: DevCa; server: IssuedCertificate; client: IssuedCertificate; crls: DevCaCrls };
  let ec: { ca: DevCa; server: IssuedCertificate; client: IssuedCertificate };
  let forgeCalls: { rsa: number; ec: number };
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    const spy = vi.spyOn(forge.pki, 'createCertificate');
    const rsaCa = await createDevCa({ keyType: 'rsa2048', now });
    rsa = {
      ca: rsaCa,
      server: await rsaCa.issueServer({ sans: serverSans }),
      client: await rsaCa.issueClient({ clientId: 'svc-a', subject: clientSubject, ...clientSans }),
      crls: await rsaCa.crls(),
    };
    const afterRsa = spy.mock.calls.length;
    const ecCa = await createDevCa({ now });
    ec = {
      ca: ecCa,
      server: await ecCa.issueServer({ sans: serverSans }),
      client: await ecCa.issueClient({ clientId: 'svc-a', subject: clientSubject, ...clientSans }),
    };
    forgeCalls = { rsa: afterRsa, ec: spy.mock.calls.length - afterRsa };
    spy.mockRestore();
    await writeAll(dir, {
      'root.pem': rsa.ca.root.certPem,
      'intermediate.pem': rsa.ca.intermediate.certPem,
      'crls.pem': rsa.crls.combinedPem,
      'server.pem': rsa.server.certPem,
      'client.pem': rsa.client.certPem,
      'ec-root.pem': ec.ca.root.certPem,
      'ec-intermediate.pem': ec.ca.intermediate.certPem,
      'ec-server.pem': ec.server.certPem,
      'ec-client.pem': ec.client.certPem,
    });
  });
  afterAll(async () => cleanup());

  it('node-forge builds none of the RSA or EC certificates; all four RSA ones are sha256WithRSA', () => {
    expect(forgeCalls).toEqual({ rsa: 0, ec: 0 });
    for (const pem of [rsa.ca.root.certPem, rsa.ca.intermediate.certPem, rsa.client.certPem]) {
      expect(
        pkijs.Certificate.fromBER(new X509Certificate(pem).raw).signatureAlgorithm.algorithmId,
      ).toBe(
        '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
      );
    }
  });

  it('openssl verifies the client leaf for sslclient and the server leaf for sslserver, with CRLs', async () => {
    for (const [leaf, purpose] of [
      ['client.pem', 'sslclient'],
      ['server.pem', 'sslserver'],
    ] as const) {
      const result = await openssl(
        [
          'verify',
          '-CAfile',
          'root.pem',
          '-untrusted',
          'intermediate.pem',
          '-purpose',
          purpose,
          '-crl_check_all',
          '-CRLfile',
          'crls.pem',
          leaf,
        ],
        dir,
      );
      expect(result.output).toContain(`${leaf}: OK`);
      expect(result.code).toBe(0);
    }
  });

  it('both CAs carry critical name constraints, basic constraints with pathLen, and key usage', async () => {
    const root = (await openssl(['x509', '-in', 'root.pem', '-noout', '-text'], dir)).output;
    const intermediate = (
      await openssl(['x509', '-in', 'intermediate.pem', '-noout', '-text'], dir)
    ).output;
    for (const text of [root, intermediate]) {
      expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
      expect(text).toMatch(
        /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:localhost\s+DNS:\.localhost\s+DNS:\.test\s+IP:127\.0\.0\.1\/255\.255\.255\.255\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/,
      );
    }
    expect(root).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE\s*\n/);
    expect(intermediate).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
  });

  it('the leaves have exactly the requested EKU, SANs and DN', async () => {
    const client = (
      await openssl(['x509', '-in', 'client.pem', '-noout', '-text', '-nameopt', 'RFC2253'], dir)
    ).output;
    expect(client).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\s*\n/);
    expect(client).toContain(
      'Subject: CN=svc-a,OU=Payments,O=Acme\\, Inc.,DC=tollgate,emailAddress=svc-a@example.org,C=DE',
    );
    expect(rsa.client.subject).toBe(clientSubject);
    expect(new X509Certificate(rsa.client.certPem).subjectAltName).toBe(
      'DNS:svc-a.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://tollgate.test/ns/prod/sa/svc-a, email:svc-a@example.org',
    );
    const server = (await openssl(['x509', '-in', 'server.pem', '-noout', '-text'], dir)).output;
    expect(server).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication\s*\n/);
    // RSA server keys keep keyEncipherment for TLS 1.2 RSA key transport, as on the pkijs path.
    expect(server).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(new X509Certificate(rsa.server.certPem).subjectAltName).toBe(
      'DNS:localhost, DNS:api.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
  });

  it('has the same names, validity and extensions as the EC profile (key ids and RSA key usage aside)', async () => {
    const pairs = [
      ['root', rsa.ca.root.certPem, ec.ca.root.certPem],
      ['intermediate', rsa.ca.intermediate.certPem, ec.ca.intermediate.certPem],
      ['client', rsa.client.certPem, ec.client.certPem],
    ] as const;
    for (const [name, rsaPem, ecPem] of pairs) {
      expect(extensionProfile(rsaPem), name).toEqual(extensionProfile(ecPem));
      const [r, e] = [new X509Certificate(rsaPem), new X509Certificate(ecPem)];
      expect([r.subject, r.issuer, r.validFrom, r.validTo], name).toEqual([
        e.subject,
        e.issuer,
        e.validFrom,
        e.validTo,
      ]);
    }
    // The server profile differs on purpose in one bit: keyEncipherment for RSA keys only.
    const withoutKeyUsage = (pem: string) =>
      extensionProfile(pem).filter(([oid]) => oid !== pkijs.id_KeyUsage);
    expect(withoutKeyUsage(rsa.server.certPem)).toEqual(withoutKeyUsage(ec.server.certPem));
    for (const [rsaFile, ecFile] of [
      ['root.pem', 'ec-root.pem'],
      ['intermediate.pem', 'ec-intermediate.pem'],
      ['client.pem', 'ec-client.pem'],
    ] as const) {
      const profile = await opensslProfile(dir, rsaFile);
      expect(profile, rsaFile).toContain('X509v3 Basic Constraints: critical');
      expect(profile, rsaFile).toBe(await opensslProfile(dir, ecFile));
    }
  });

  it('a node:tls server with the RSA server certificate accepts a client with an RSA client certificate', async () => {
    const server = createServer(
      {
        cert: rsa.server.chainPem,
        key: rsa.server.keyPem,
        ca: rsa.ca.root.certPem,
        crl: [rsa.crls.intermediate.pem, rsa.crls.root.pem],
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket: TLSSocket) => {
        const cn = socket.getPeerCertificate().subject?.CN;
        socket.end(socket.authorized ? `ok ${String(cn)}` : 'refused');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: rsa.ca.root.certPem,
          cert: rsa.client.chainPem,
          key: rsa.client.keyPem,
        });
        let data = '';
        socket.on('data', (chunk) => {
          data += chunk.toString();
        });
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      expect(reply).toBe('ok svc-a');
    } finally {
      server.close();
    }
  });
});

describe('the RSA profile with rsa3072 keys', () => {
  it('builds without node-forge and openssl accepts the chain', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const spy = vi.spyOn(forge.pki, 'createCertificate');
      const ca = await createDevCa({ keyType: 'rsa3072', now });
      const leaf = await ca.issueClient({ clientId: 'k' });
      expect(spy).not.toHaveBeenCalled();
      spy.mockRestore();
      await writeAll(dir, {
        'root.pem': ca.root.certPem,
        'intermediate.pem': ca.intermediate.certPem,
        'leaf.pem': leaf.certPem,
      });
      const result = await openssl(
        [
          'verify',
          '-CAfile',
          'root.pem',
          '-untrusted',
          'intermediate.pem',
          '-purpose',
          'sslclient',
          'leaf.pem',
        ],
        dir,
      );
      expect(result.output).toContain('leaf.pem: OK');
      expect(leaf.keyType).toBe('rsa3072');
    } finally {
      await cleanup();
    }
  });
});
