/**
 * `doctor`: verifies a dev PKI directory the way the server and clients will use it: every chain
 * (signatures, CA flags, name constraints), key/certificate pairs, file and folder modes, expiry,
 * CRL signatures and freshness, and that every registry entry matches the files it points to.
 *
 * @see RFC 5280 §6.1 (path validation), §6.3 (CRL processing), RFC 8705 §2
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { verifySignature } from '../pki/index.js';
import type { ClientMetadata, TlsClientAuthIdentityField } from '../registry/metadata.js';
import { describeCert } from './ca.js';
import { parseCrl } from './crl.js';
import { readCertificateRequest } from './csr.js';
import { clientPath, clientsFolder, folderMode, layout, negativeFolder } from './layout.js';
import { type CertOnDisk, issuedBy, type Printed, type Workspace } from './workspace.js';
import { ekuOids, fromPem } from './x509.js';

const dayMs = 86_400_000;

export interface DoctorCheck {
  readonly status: 'ok' | 'warn' | 'fail';
  readonly subject: string;
  readonly message: string;
}

/** The registered identity of a tls_client_auth client, as the certificate must show it. */
const identityMatches: Readonly<
  Record<TlsClientAuthIdentityField, (cert: CertOnDisk, value: string) => boolean>
> = {
  tls_client_auth_subject_dn: (cert, value) => value === cert.subject,
  tls_client_auth_san_dns: (cert, value) =>
    cert.sans.dns.some((d) => d.toLowerCase() === value.toLowerCase()),
  tls_client_auth_san_uri: (cert, value) => cert.sans.uri.includes(value),
  tls_client_auth_san_ip: (cert, value) => cert.sans.ip.includes(value),
  tls_client_auth_san_email: (cert, value) => cert.sans.email.includes(value),
};

/** Key-like files, wherever they are: 0600. */
const secretFile = /(^|[/-])key\.pem$|private\.jwk\.json$|\.p12$|\.p12\.password$/;

/** `doctor`: every check, one line each (or JSON), and exit 1 when one fails. */
export async function doctor(ws: Workspace): Promise<Printed> {
  const checks = await runChecks(ws);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = checks.map(
    (check) => `${mark[check.status]}  ${check.subject}: ${check.message}\n`,
  );
  lines.push(
    failed === 0
      ? `\ndev-ca doctor: ${ws.dir} is healthy (${checks.length} checks, ${warned} warnings).\nNext: npm start\n`
      : `\ndev-ca doctor: ${failed} problem(s) in ${ws.dir}.\nNext: npm run dev-ca -- ensure${ws.dirFlag} (or fix the files named above)\n`,
  );
  const report = { command: 'doctor', dir: ws.dir, ok: failed === 0, checks };
  return {
    text: lines.join(''),
    json: `${JSON.stringify(report, null, 2)}\n`,
    code: failed === 0 ? 0 : 1,
  };
}

/** Runs every check; the PKI is healthy when none fails. */
async function runChecks(ws: Workspace): Promise<DoctorCheck[]> {
  const { dir } = ws;
  const now = ws.now();
  const checks: DoctorCheck[] = [];
  const report =
    (status: DoctorCheck['status']) =>
    (subject: string, message: string): void =>
      void checks.push({ status, subject, message });
  const [ok, warn, fail] = [report('ok'), report('warn'), report('fail')];
  const check = (good: boolean, subject: string, yes: string, no: string, bad = fail): void =>
    good ? ok(subject, yes) : bad(subject, no);
  const expiry = (subject: string, notAfter: Date, renewDays: number): void => {
    const days = (notAfter.getTime() - now.getTime()) / dayMs;
    if (days < 0) fail(subject, `expired ${notAfter.toISOString()}`);
    else if (days < renewDays)
      warn(subject, `expires ${notAfter.toISOString()} (in ${days.toFixed(1)} days); run ensure`);
    else ok(subject, `valid until ${notAfter.toISOString()}`);
  };
  const mode = async (path: string): Promise<number> => (await stat(join(dir, path))).mode & 0o777;
  const key = async (path: string, cert: X509Certificate): Promise<void> => {
    const pem = await ws.text(path);
    if (pem === undefined) return fail(path, 'missing');
    try {
      const matches = cert.checkPrivateKey(createPrivateKey(pem));
      check(matches, path, 'matches its certificate', 'does not match its certificate');
    } catch (error) {
      fail(path, `unreadable: ${(error as Error).message}`);
    }
    await secret(path);
  };
  const secret = async (path: string): Promise<void> => {
    const actual = (await mode(path)).toString(8);
    check(
      actual === '600',
      path,
      `mode 0${actual}`,
      `mode 0${actual}, want 0600 (chmod 600 ${path})`,
    );
  };
  const eku = (subject: string, cert: X509Certificate, wanted: string): void => {
    const usages = cert.keyUsage ?? [];
    const only = usages.length === 1 && usages[0] === wanted;
    check(
      only,
      subject,
      `EKU ${wanted} only`,
      `EKU is ${usages.join(', ') || 'absent'}, want ${wanted} only`,
    );
  };

  const root = await ws.cert(layout.rootCert);
  const intermediate = await ws.cert(layout.intermediateCert);
  if (root === undefined || intermediate === undefined) {
    fail('ca', `missing ${layout.rootCert} or ${layout.intermediateCert}; run init`);
    return checks;
  }
  check(
    root.x509.verify(root.x509.publicKey) && root.x509.ca,
    layout.rootCert,
    'self-signed CA certificate',
    'not a valid self-signed CA certificate',
  );
  check(
    issuedBy(intermediate.x509, root.x509) && intermediate.x509.ca,
    layout.intermediateCert,
    'issued by the root',
    'not issued by ca/root.pem',
  );
  for (const [path, cert] of [
    [layout.rootCert, root],
    [layout.intermediateCert, intermediate],
  ] as const) {
    expiry(path, cert.notAfter, 30);
    const constraints = pkijs.Certificate.fromBER(cert.x509.raw).extensions?.find(
      (e) => e.extnID === pkijs.id_NameConstraints,
    );
    const critical = constraints?.critical === true;
    check(
      critical,
      path,
      'name constraints present and critical',
      'no critical name constraints',
      warn,
    );
  }
  const chain = await ws.text(layout.caChain);
  const chainOk = chain === `${intermediate.x509.toString()}${root.x509.toString()}`;
  check(chainOk, layout.caChain, 'intermediate then root', 'missing or not intermediate + root');
  await key(layout.intermediateKey, intermediate.x509);
  if (await ws.has(layout.rootKey)) await key(layout.rootKey, root.x509);

  const server = await ws.cert(layout.serverCert);
  if (server === undefined) {
    fail(layout.serverCert, 'missing; run ensure or server');
  } else {
    const subject = layout.serverCert;
    const issued = issuedBy(server.x509, intermediate.x509);
    check(issued, subject, 'issued by the intermediate', 'not issued by the current intermediate');
    const presented = fromPem('CERTIFICATE', (await ws.text(subject)) ?? '');
    check(
      presented.length === 2 && presented[1]?.equals(intermediate.x509.raw) === true,
      subject,
      'full chain (leaf + intermediate)',
      'not leaf + intermediate: clients without the intermediate will fail',
      warn,
    );
    if (!server.sans.dns.includes('localhost')) warn(subject, 'no DNS SAN localhost');
    eku(subject, server.x509, ekuOids.serverAuth);
    expiry(subject, server.notAfter, 10);
    await key(layout.serverKey, server.x509);
  }

  for (const [path, issuer] of [
    [layout.rootCrl, root],
    [layout.intermediateCrl, intermediate],
  ] as const) {
    const der = fromPem('X509 CRL', (await ws.text(path)) ?? '')[0];
    if (der === undefined) {
      fail(path, 'missing; run crl');
      continue;
    }
    const signed = crlSignedBy(der, issuer.x509);
    const by = describeCert(issuer.x509).subject;
    check(signed, path, `signed by ${by}`, 'signature does not verify with its CA');
    const { nextUpdate, entries } = parseCrl(der);
    if (nextUpdate === undefined) warn(path, 'no nextUpdate');
    else if (nextUpdate.getTime() < now.getTime())
      fail(path, `stale since ${nextUpdate.toISOString()}; run crl (TLS with CRLs will fail)`);
    else if (nextUpdate.getTime() - now.getTime() < dayMs)
      warn(path, `nextUpdate ${nextUpdate.toISOString()} is within a day; run crl`);
    else ok(path, `fresh until ${nextUpdate.toISOString()}, ${entries.length} revoked`);
  }
  const intermediateCrl = (await ws.text(layout.intermediateCrl)) ?? '';
  const bothCrls = `${intermediateCrl}${(await ws.text(layout.rootCrl)) ?? ''}`;
  const crlChainOk = (await ws.text(layout.crlChain)) === bothCrls;
  check(crlChainOk, layout.crlChain, 'both CRLs', 'missing or out of date; run crl');
  const revoked = new Set(
    fromPem('X509 CRL', intermediateCrl).flatMap((der) =>
      parseCrl(der).entries.map((e) => e.serialHex),
    ),
  );
  if (server !== undefined && revoked.has(server.serialHex)) {
    fail(layout.serverCert, 'is revoked; re-issue it with `server --force`');
  }

  let clients: ClientMetadata[] = [];
  try {
    clients = (await ws.registry()).clients;
    ok(layout.registry, `${clients.length} clients`);
  } catch (error) {
    fail(layout.registry, (error as Error).message);
  }
  for (const client of clients) {
    const id = client.client_id;
    if (await ws.has(join(negativeFolder, id))) {
      ok(`${negativeFolder}/${id}`, 'negative fixture (expected to fail authentication)');
      continue;
    }
    const subject = `${clientsFolder}/${id}`;
    const method = client.token_endpoint_auth_method;
    if (method === 'private_key_jwt') {
      const publicText = await ws.text(clientPath(id, 'publicJwk'));
      if (publicText === undefined) {
        if (client.jwks_uri === undefined)
          warn(subject, 'no public.jwk.json on disk (registered elsewhere?)');
        continue;
      }
      const kid = (JSON.parse(publicText) as { kid?: string }).kid;
      check(
        (client.jwks?.keys.map((k) => k.kid) ?? []).includes(kid),
        subject,
        `registered key ${kid} matches public.jwk.json`,
        'registry jwks does not contain public.jwk.json',
      );
      if (await ws.has(clientPath(id, 'privateJwk'))) await secret(clientPath(id, 'privateJwk'));
    } else if (method === 'tls_client_auth' || method === 'self_signed_tls_client_auth') {
      const cert = await ws.cert(clientPath(id, 'cert'));
      const selfSigned = method === 'self_signed_tls_client_auth';
      if (cert === undefined) {
        warn(
          subject,
          selfSigned ? 'no cert.pem on disk' : 'no cert.pem on disk (issued elsewhere?)',
        );
      } else if (selfSigned) {
        const x5c = client.jwks?.keys.flatMap((k) => k.x5c ?? []) ?? [];
        const registered = x5c.includes(cert.x509.raw.toString('base64'));
        check(
          registered,
          subject,
          'registered x5c matches cert.pem',
          'registry jwks has no x5c equal to cert.pem',
        );
        expiry(subject, cert.notAfter, 10);
        await key(clientPath(id, 'key'), cert.x509);
      } else {
        const issued = issuedBy(cert.x509, intermediate.x509);
        const reissue = 'not issued by the current intermediate; re-issue with client --force';
        check(issued, subject, 'issued by the intermediate', reissue);
        eku(subject, cert.x509, ekuOids.clientAuth);
        if (revoked.has(cert.serialHex))
          warn(subject, `revoked (serial ${cert.serialHex}); it will be refused`);
        expiry(subject, cert.notAfter, 10);
        const csrPem = await ws.text(clientPath(id, 'csr'));
        if (csrPem === undefined || (await ws.has(clientPath(id, 'key')))) {
          await key(clientPath(id, 'key'), cert.x509);
        } else {
          // A signed client keeps only its request here; the certificate must certify its key.
          const spki = cert.x509.publicKey.export({ type: 'spki', format: 'der' });
          try {
            const certifies = readCertificateRequest(csrPem).spkiDer.equals(spki);
            const yes = 'certifies the key of request.csr (the key stays with the client)';
            check(certifies, subject, yes, 'does not certify the key of request.csr');
          } catch (error) {
            fail(subject, `request.csr unreadable: ${(error as Error).message}`);
          }
        }
        identity(client, cert, subject);
      }
    } else {
      fail(subject, `unsupported token_endpoint_auth_method ${String(method)}`);
    }
  }

  function identity(client: ClientMetadata, cert: CertOnDisk, subject: string): void {
    const fields = Object.keys(identityMatches).filter(
      (field) => client[field as TlsClientAuthIdentityField] !== undefined,
    ) as TlsClientAuthIdentityField[];
    const [field] = fields;
    if (fields.length !== 1 || field === undefined) {
      const count = fields.length;
      fail(
        subject,
        `registers ${count} tls_client_auth identity fields; RFC 8705 wants exactly one`,
      );
      return;
    }
    const value = client[field] as string;
    check(
      identityMatches[field](cert, value),
      subject,
      `${field} matches the certificate`,
      `${field} ${JSON.stringify(value)} does not match the certificate (${cert.subject})`,
    );
  }

  // Key-like files 0600 and the folders we create 0700, wherever they are.
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(dir, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        const actual = await mode(path);
        if (actual !== folderMode)
          fail(`${path}/`, `folder mode 0${actual.toString(8)}, want 0700`);
        await walk(path);
      } else if (secretFile.test(path)) {
        const actual = await mode(path);
        if (actual !== 0o600) fail(path, `mode 0${actual.toString(8)}, want 0600`);
      }
    }
  };
  await walk('');
  return checks;
}

/** Verifies a CRL signature with src/pki's verifier (node:crypto, no pkijs engine needed). */
function crlSignedBy(der: Buffer, issuer: X509Certificate): boolean {
  const crl = pkijs.CertificateRevocationList.fromBER(der);
  const algorithm = new Uint8Array(crl.signatureAlgorithm.toSchema().toBER(false));
  const signature = crl.signatureValue.valueBlock.valueHexView;
  return verifySignature(algorithm, crl.tbsView, signature, issuer.publicKey) === 'valid';
}
