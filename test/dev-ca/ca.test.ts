import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createNegativeFixtures,
  type DevCa,
  type DevCaCrls,
  type IssuedCertificate,
  type NegativeFixtureSet,
  negativeKinds,
  openDevCa,
  parseCrl,
} from '../../src/dev-ca/index.js';
import { openssl, tempDir, writeAll } from './helpers.js';

const now = new Date();

describe('createDevCa with openssl as referee', () => {
  let ca: DevCa;
  let server: IssuedCertificate;
  let client: IssuedCertificate;
  let negative: NegativeFixtureSet;
  let crls: DevCaCrls;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    ca = await createDevCa({ now });
    server = await ca.issueServer({ sans: ['localhost', '127.0.0.1', '::1', 'api.test'] });
    client = await ca.issueClient({
      clientId: 'svc-a',
      subject: 'CN=svc-a,OU=Payments+L=Berlin,O=Acme\\, Inc.,C=DE',
      sanDns: ['svc-a.test'],
      sanUri: ['spiffe://tollgate.test/ns/prod/sa/svc-a'],
      sanIp: ['127.0.0.1', '::1'],
      sanEmail: ['svc-a@example.org'],
    });
    negative = await createNegativeFixtures(ca, { now });
    crls = await ca.crls();
    await writeAll(dir, {
      'root.pem': ca.root.certPem,
      'intermediate.pem': ca.intermediate.certPem,
      'crls.pem': crls.combinedPem,
      'intermediate.crl.pem': crls.intermediate.pem,
      'server.pem': server.certPem,
      'client.pem': client.certPem,
    });
  });
  afterAll(async () => cleanup());

  const verify = (leaf: string, extra: readonly string[] = []) =>
    openssl(
      ['verify', '-CAfile', 'root.pem', '-untrusted', 'intermediate.pem', ...extra, leaf],
      dir,
    );

  it('openssl accepts the server leaf for TLS server use and the client leaf for client use', async () => {
    const serverResult = await verify('server.pem', [
      '-purpose',
      'sslserver',
      '-crl_check_all',
      '-CRLfile',
      'crls.pem',
    ]);
    expect(serverResult.output).toContain('server.pem: OK');
    expect(serverResult.code).toBe(0);
    const clientResult = await verify('client.pem', [
      '-purpose',
      'sslclient',
      '-crl_check_all',
      '-CRLfile',
      'crls.pem',
    ]);
    expect(clientResult.output).toContain('client.pem: OK');
    expect(clientResult.code).toBe(0);
  });

  it('openssl rejects each negative fixture for its own reason', async () => {
    for (const kind of negativeKinds) {
      const fixture = negative.fixtures[kind];
      const name = `${kind}.pem`;
      await writeAll(dir, {
        [name]: fixture.cert.certPem,
        [`${kind}-chain.pem`]: fixture.presentedChainPem,
      });
      const args =
        kind === 'leaf-without-intermediate'
          ? ['verify', '-CAfile', 'root.pem', '-purpose', 'sslclient', name]
          : [
              'verify',
              '-CAfile',
              'root.pem',
              '-untrusted',
              'intermediate.pem',
              '-purpose',
              'sslclient',
              '-crl_check_all',
              '-CRLfile',
              'crls.pem',
              name,
            ];
      const result = await openssl(args, dir);
      if (fixture.opensslError === undefined) {
        // Valid chain; only the registration match (subject or SAN) fails.
        expect(result.code, `${kind}: ${result.output}`).toBe(0);
      } else {
        expect(result.code, kind).not.toBe(0);
        expect(result.output, kind).toContain(fixture.opensslError);
      }
    }
  });

  it('the foreign CA has our subject DNs but not our keys', () => {
    expect(negative.foreignCa.root.subject).toBe(ca.root.subject);
    expect(negative.foreignCa.intermediate.subject).toBe(ca.intermediate.subject);
    expect(negative.foreignCa.root.spkiSha256).not.toBe(ca.root.spkiSha256);
  });

  it('mismatch fixtures carry registrations that differ from the certificate', () => {
    const subject = negative.fixtures['subject-mismatch'];
    expect(subject.registration.tls_client_auth_subject_dn).toBe(
      'CN=neg-subject-mismatch,O=Tollgate Dev,C=US',
    );
    expect(subject.cert.subject).toBe('CN=neg-subject-mismatch-imposter,O=Tollgate Dev,C=US');
    const san = negative.fixtures['san-mismatch'];
    expect(san.registration.tls_client_auth_san_uri).toBe(
      'spiffe://tollgate.test/neg-san-mismatch',
    );
    expect(san.cert.sans.uri).toEqual(['spiffe://tollgate.test/neg-san-mismatch-imposter']);
  });

  it('openssl crl -text lists the revoked serial with its reason', async () => {
    const result = await openssl(['crl', '-in', 'intermediate.crl.pem', '-noout', '-text'], dir);
    expect(result.code).toBe(0);
    const revoked = negative.fixtures.revoked.cert.serialHex;
    expect(result.output).toContain(`Serial Number: ${revoked}`);
    expect(result.output).toMatch(
      new RegExp(`${revoked}[\\s\\S]*?CRL Reason Code:\\s*\\n\\s*Key Compromise`),
    );
    expect(result.output).toContain('Next Update:');
    expect(parseCrl(crls.intermediate.der).entries).toEqual([
      { serialHex: revoked, revokedAt: expect.any(Date), reason: 'keyCompromise' },
    ]);
  });

  it('both CAs carry critical basic constraints, key usage and name constraints, and SKI/AKI', async () => {
    for (const [name, pem] of [
      ['root', ca.root.certPem],
      ['intermediate', ca.intermediate.certPem],
    ] as const) {
      await writeAll(dir, { [`${name}-only.pem`]: pem });
      const text = (await openssl(['x509', '-in', `${name}-only.pem`, '-noout', '-text'], dir))
        .output;
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
      expect(text).toMatch(
        /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:localhost\s+DNS:\.localhost\s+DNS:\.test\s+IP:127\.0\.0\.1\/255\.255\.255\.255\s+IP:0:0:0:0:0:0:0:1\/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF/,
      );
      expect(text).toContain('X509v3 Subject Key Identifier');
      expect(text).toContain('X509v3 Authority Key Identifier');
    }
    expect(
      new X509Certificate(ca.intermediate.certPem).checkIssued(
        new X509Certificate(ca.root.certPem),
      ),
    ).toBe(true);
  });

  it('the server leaf has serverAuth only and exactly the requested SANs', async () => {
    const text = (await openssl(['x509', '-in', 'server.pem', '-noout', '-text'], dir)).output;
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Server Authentication\s*\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(new X509Certificate(server.certPem).subjectAltName).toBe(
      'DNS:localhost, DNS:api.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
  });

  it('the client leaf has clientAuth only and exactly the requested DN and SANs', async () => {
    const text = (
      await openssl(['x509', '-in', 'client.pem', '-noout', '-text', '-nameopt', 'RFC2253'], dir)
    ).output;
    expect(text).toMatch(/X509v3 Extended Key Usage:\s*\n\s*TLS Web Client Authentication\s*\n/);
    expect(text).toContain('Subject: CN=svc-a,L=Berlin+OU=Payments,O=Acme\\, Inc.,C=DE');
    const x509 = new X509Certificate(client.certPem);
    expect(x509.subjectAltName).toBe(
      'DNS:svc-a.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://tollgate.test/ns/prod/sa/svc-a, email:svc-a@example.org',
    );
    expect(client.subject).toBe('CN=svc-a,OU=Payments+L=Berlin,O=Acme\\, Inc.,C=DE');
    expect(client.chainPem).toBe(`${client.certPem}${ca.intermediate.certPem}`);
  });

  it('defaults test fixtures to one hour and never outlives the intermediate', () => {
    expect(client.notAfter.getTime() - client.notBefore.getTime()).toBe(3_600_000);
    expect(client.notAfter.getTime()).toBeLessThanOrEqual(ca.intermediate.notAfter.getTime());
  });

  it('refuses SANs outside the name constraints, and accepts them with permit', async () => {
    await expect(ca.issueServer({ sans: ['example.com'] })).rejects.toThrow(/--permit/);
    const wide = await createDevCa({ now, permit: ['example.com'] });
    const leaf = await wide.issueServer({ sans: ['api.example.com'] });
    expect(leaf.sans.dns).toEqual(['api.example.com']);
  });

  it('re-opens from PEM with the revocations carried over', async () => {
    const reopened = await openDevCa({
      rootCertPem: ca.root.certPem,
      intermediateCertPem: ca.intermediate.certPem,
      intermediateKeyPem: ca.intermediate.keyPem,
      rootCrlPem: crls.root.pem,
      intermediateCrlPem: crls.intermediate.pem,
      now,
    });
    const again = await reopened.crls();
    expect(again.intermediate.entries.map((e) => e.serialHex)).toEqual([
      negative.fixtures.revoked.cert.serialHex,
    ]);
    expect(again.intermediate.crlNumber).toBe(crls.intermediate.crlNumber + 1);
    // No root key: the root CRL is carried over unchanged.
    expect(again.root.pem).toBe(crls.root.pem);
    expect(reopened.permittedSubtrees).toEqual(ca.permittedSubtrees);
  });
});

describe('key types', () => {
  for (const keyType of ['rsa2048', 'ed25519', 'p384'] as const) {
    it(`builds a ${keyType} PKI that openssl accepts`, async () => {
      const { dir, cleanup } = await tempDir();
      try {
        const ca = await createDevCa({ keyType });
        const leaf = await ca.issueClient({ clientId: 'k' });
        const crls = await ca.crls();
        await writeAll(dir, {
          'root.pem': ca.root.certPem,
          'intermediate.pem': ca.intermediate.certPem,
          'leaf.pem': leaf.certPem,
          'crls.pem': crls.combinedPem,
        });
        const result = await openssl(
          [
            'verify',
            '-CAfile',
            'root.pem',
            '-untrusted',
            'intermediate.pem',
            '-crl_check_all',
            '-CRLfile',
            'crls.pem',
            'leaf.pem',
          ],
          dir,
        );
        expect(result.output).toContain('leaf.pem: OK');
        expect(leaf.keyType).toBe(keyType);
      } finally {
        await cleanup();
      }
    });
  }
});
