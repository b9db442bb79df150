/**
 * `dev-ca sign`: CSRs made by the real `openssl req` for every key type Tollgate accepts are
 * signed, verify with `openssl verify -x509_strict -purpose sslclient`, register the client as
 * `client` does, and (the acceptance test) get a certificate-bound token with curl from a running
 * Tollgate. Refused: a CSR whose signature does not verify, one asking for CA:TRUE, a weak key, an
 * EKU not allowed, a name outside the name constraints; a refusal changes no byte.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevCa, runDevCaCli } from '../../src/dev-ca/index.js';
import { claimsOf, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { cli, openssl, quiet, tempDir } from './helpers.js';

/** `openssl req -new -newkey <spec> -nodes` in `dir`: writes `<name>.csr` and `<name>-key.pem`. */
async function makeCsr(dir: string, name: string, newkey: string[], extra: string[] = []) {
  const result = await openssl(
    [
      'req',
      '-new',
      ...newkey,
      '-nodes',
      '-keyout',
      `${name}-key.pem`,
      '-subj',
      `/C=US/O=Acme/CN=${name}`,
      ...extra,
      '-out',
      `${name}.csr`,
    ],
    dir,
  );
  expect(result.code, result.output).toBe(0);
  return { csr: join(dir, `${name}.csr`), key: join(dir, `${name}-key.pem`) };
}

const keySpecs: Record<string, string[]> = {
  p256: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  rsa2048: ['-newkey', 'rsa:2048'],
  rsa3072: ['-newkey', 'rsa:3072'],
  ed25519: ['-newkey', 'ed25519'],
};

describe('dev-ca sign', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const strictVerify = (cert: string) =>
    openssl(
      [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-CAfile',
        'ca/root.pem',
        '-untrusted',
        'ca/intermediate.pem',
        cert,
      ],
      dir,
    );

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    expect(await runDevCaCli(['init', '--dir', dir], quiet)).toBe(0);
  });
  afterAll(async () => cleanup());

  for (const [keyType, newkey] of Object.entries(keySpecs)) {
    it(`signs an openssl ${keyType} CSR into a strict sslclient certificate for that key`, async () => {
      const id = `svc-${keyType}`;
      const { csr, key } = await makeCsr(dir, id, newkey);
      expect((await cli(dir, 'sign', '--csr', csr, '--client-id', id)).code).toBe(0);
      const result = await strictVerify(`clients/${id}/cert.pem`);
      expect(result.output).toContain('OK');
      expect(result.code).toBe(0);
      const cert = new X509Certificate(await readFile(join(dir, 'clients', id, 'cert.pem')));
      expect(cert.checkPrivateKey(createPrivateKey(await readFile(key)))).toBe(true);
      expect(cert.subject).toBe(`C=US\nO=Acme\nCN=${id}`);
      // The key never reaches the CA's folder; the request is kept to renew from.
      await expect(readFile(join(dir, 'clients', id, 'key.pem'))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(dir, 'clients', id, 'request.csr'), 'utf8')).toContain(
        'BEGIN CERTIFICATE REQUEST',
      );
      const registry = JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8')) as {
        clients: Record<string, unknown>[];
      };
      expect(registry.clients.find((c) => c.client_id === id)).toMatchObject({
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: `CN=${id},O=Acme,C=US`,
        tls_client_certificate_bound_access_tokens: true,
      });
    });
  }

  it('acceptance: an openssl P-256 CSR, signed, gets a bound token with curl from a running Tollgate', async () => {
    const { csr, key } = await makeCsr(dir, 'svc-x', keySpecs.p256 ?? []);
    expect((await cli(dir, 'sign', '--csr', csr, '--client-id', 'svc-x')).code).toBe(0);
    const verified = await strictVerify('clients/svc-x/cert.pem');
    expect(verified.output).toContain('clients/svc-x/cert.pem: OK');

    const read = (path: string) => readFile(join(dir, path), 'utf8');
    const ca = await openDevCa({
      rootCertPem: await read('ca/root.pem'),
      intermediateCertPem: await read('ca/intermediate.pem'),
      intermediateKeyPem: await read('ca/intermediate-key.pem'),
      rootCrlPem: await read('ca/root.crl.pem'),
      intermediateCrlPem: await read('ca/intermediate.crl.pem'),
    });
    const registry = JSON.parse(await read('registry.json')) as { clients: unknown[] };
    const tollgate = await startMtlsTollgate({ ca, clients: registry.clients });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        execFile(
          'curl',
          [
            '--silent',
            '--show-error',
            '--cacert',
            join(dir, 'ca/root.pem'),
            '--cert',
            join(dir, 'clients/svc-x/chain.pem'),
            '--key',
            key,
            '-d',
            'grant_type=client_credentials',
            '-d',
            'client_id=svc-x',
            `${tollgate.base.replace('127.0.0.1', 'localhost')}/token`,
            '--resolve',
            `localhost:${new URL(tollgate.base).port}:127.0.0.1`,
          ],
          (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolve(stdout)),
        );
      });
      const token = JSON.parse(body) as { access_token?: string; token_type?: string };
      expect(token.token_type, body).toBe('Bearer');
      expect(claimsOf(token.access_token ?? '')).toMatchObject({
        client_id: 'svc-x',
        cnf: { 'x5t#S256': thumbprintOf(await read('clients/svc-x/cert.pem')) },
      });
    } finally {
      await tollgate.dispose();
    }
  });

  it('takes a DER CSR, adds --san-* to the SANs the CSR asks for, and --subject replaces its subject', async () => {
    const { csr } = await makeCsr(dir, 'svc-der', keySpecs.p256 ?? [], [
      '-addext',
      'subjectAltName=DNS:svc-der.test,URI:spiffe://tollgate.test/svc-der',
    ]);
    const der = await openssl(['req', '-in', csr, '-outform', 'DER', '-out', 'svc-der.der'], dir);
    expect(der.code).toBe(0);
    const signed = await cli(
      dir,
      'sign',
      '--csr',
      join(dir, 'svc-der.der'),
      '--client-id',
      'svc-der',
      '--subject',
      'CN=svc-der,OU=Payments,O=Acme,C=US',
      '--san-dns',
      'api.svc-der.test',
      '--bind',
      'san_dns',
    );
    expect(signed.code, signed.err).toBe(0);
    const cert = new X509Certificate(await readFile(join(dir, 'clients/svc-der/cert.pem')));
    expect(cert.subject).toBe('C=US\nO=Acme\nOU=Payments\nCN=svc-der');
    expect(cert.subjectAltName).toBe(
      'DNS:svc-der.test, DNS:api.svc-der.test, URI:spiffe://tollgate.test/svc-der',
    );
  });

  it('renews a signed client from its request (ensure) and doctor accepts it without a key', async () => {
    const before = await readFile(join(dir, 'clients/svc-x/cert.pem'), 'utf8');
    const later = new Date(Date.now() + 25 * 86_400_000).toISOString();
    expect(await runDevCaCli(['ensure', '--dir', dir, '--now', later], quiet)).toBe(0);
    const after = await readFile(join(dir, 'clients/svc-x/cert.pem'), 'utf8');
    expect(after).not.toBe(before);
    const [old, renewed] = [new X509Certificate(before), new X509Certificate(after)];
    expect(renewed.publicKey.equals(old.publicKey)).toBe(true);
    await expect(readFile(join(dir, 'clients/svc-x/key.pem'))).rejects.toThrow(/ENOENT/);
    const { out } = await cli(dir, 'doctor', '--json', '--now', later);
    const report = JSON.parse(out) as {
      checks: { status: string; subject: string; message: string }[];
    };
    const svcX = report.checks.filter((c) => c.subject === 'clients/svc-x');
    expect(svcX.map((c) => c.status)).not.toContain('fail');
    expect(svcX.map((c) => c.message)).toContain(
      'certifies the key of request.csr (the key stays with the client)',
    );
  });

  describe('refuses, changing nothing', () => {
    const refuse = async (args: string[], message: RegExp): Promise<void> => {
      const before = await readFile(join(dir, 'registry.json'), 'utf8');
      const result = await cli(dir, 'sign', ...args);
      expect(result.code).toBe(1);
      expect(result.err).toMatch(message);
      expect(await readFile(join(dir, 'registry.json'), 'utf8')).toBe(before);
    };

    it('a CSR whose signature does not verify', async () => {
      const { csr } = await makeCsr(dir, 'bad-sig', keySpecs.p256 ?? []);
      const der = Buffer.from(
        (await readFile(csr, 'utf8')).replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''),
        'base64',
      );
      // The signature BIT STRING ends the CSR: flip its last bit.
      der[der.length - 1] = (der[der.length - 1] as number) ^ 1;
      await writeFile(join(dir, 'bad-sig.der'), der);
      await refuse(
        ['--csr', join(dir, 'bad-sig.der'), '--client-id', 'bad-sig'],
        /signature does not verify/,
      );
    });

    it('a CSR asking for CA:TRUE', async () => {
      const { csr } = await makeCsr(dir, 'wants-ca', keySpecs.p256 ?? [], [
        '-addext',
        'basicConstraints=critical,CA:TRUE',
      ]);
      await refuse(['--csr', csr, '--client-id', 'wants-ca'], /asks for a CA certificate/);
    });

    it('a weak key (RSA-1024) by the key policy', async () => {
      const { csr } = await makeCsr(dir, 'weak', ['-newkey', 'rsa:1024']);
      await refuse(
        ['--csr', csr, '--client-id', 'weak'],
        /key is refused: RSA keys must have 2048/,
      );
    });

    it('an EKU other than clientAuth unless --eku allows it', async () => {
      const { csr } = await makeCsr(dir, 'wants-server', keySpecs.p256 ?? [], [
        '-addext',
        'extendedKeyUsage=serverAuth,clientAuth',
      ]);
      await refuse(
        ['--csr', csr, '--client-id', 'wants-server'],
        /asks for EKU 1\.3\.6\.1\.5\.5\.7\.3\.1/,
      );
      const allowed = await cli(
        dir,
        'sign',
        '--csr',
        csr,
        '--client-id',
        'wants-server',
        '--eku',
        'clientAuth,serverAuth',
      );
      expect(allowed.code, allowed.err).toBe(0);
      const cert = new X509Certificate(await readFile(join(dir, 'clients/wants-server/cert.pem')));
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1']);
    });

    it('a name outside the CA name constraints', async () => {
      const { csr } = await makeCsr(dir, 'outside', keySpecs.p256 ?? [], [
        '-addext',
        'subjectAltName=DNS:example.com',
      ]);
      await refuse(
        ['--csr', csr, '--client-id', 'outside'],
        /example\.com outside the CA's name constraints/,
      );
    });

    it('something that is not a CSR, and sign without --csr', async () => {
      await writeFile(
        join(dir, 'junk.csr'),
        '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      );
      await refuse(['--csr', join(dir, 'junk.csr'), '--client-id', 'junk'], /not a PKCS#10/);
      const usage = await cli(dir, 'sign', '--client-id', 'x');
      expect(usage.code).toBe(2);
      expect(usage.err).toContain('needs --csr FILE and --client-id ID');
    });
  });

  it('doctor reports an unparsable request.csr as a failed check instead of throwing', async () => {
    const { csr } = await makeCsr(dir, 'svc-junk-req', keySpecs.p256 ?? []);
    expect((await cli(dir, 'sign', '--csr', csr, '--client-id', 'svc-junk-req')).code).toBe(0);
    await writeFile(join(dir, 'clients/svc-junk-req/request.csr'), 'not a certificate request\n');
    const result = await cli(dir, 'doctor', '--json');
    expect(result.code).toBe(1);
    const report = JSON.parse(result.out) as {
      ok: boolean;
      checks: { status: string; subject: string; message: string }[];
    };
    expect(report.ok).toBe(false);
    const junk = report.checks.filter((c) => c.subject === 'clients/svc-junk-req');
    expect(junk.filter((c) => c.status === 'fail')).toEqual([
      {
        status: 'fail',
        subject: 'clients/svc-junk-req',
        message: 'request.csr unreadable: not a PKCS#10 certificate request',
      },
    ]);
    // The checks after it still ran: the registration and every other client were examined.
    const subjects = report.checks.map((c) => c.subject);
    expect(subjects).toContain('registry.json');
    expect(subjects).toContain('clients/svc-x');
  });
});
