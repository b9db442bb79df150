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
import { tlsClientAuthIdentityFields } from '../registry/metadata.js';
import { describeCert } from './ca.js';
import { parseCrl } from './crl.js';
import { readCertificateRequest } from './csr.js';
import { clientPath, clientsFolder, folderMode, layout, negativeFolder } from './layout.js';
import { exists, readText } from './store.js';
import { issuedBy, readCert, readRegistry } from './workspace.js';
import { fromPem } from './x509.js';

const dayMs = 86_400_000;

export interface DoctorCheck {
  readonly status: 'ok' | 'warn' | 'fail';
  readonly subject: string;
  readonly message: string;
}

/** Runs every check; the PKI is healthy when none fails. */
export async function runDoctor(dir: string, now: Date): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const ok = (subject: string, message: string): void =>
    void checks.push({ status: 'ok', subject, message });
  const warn = (subject: string, message: string): void =>
    void checks.push({ status: 'warn', subject, message });
  const fail = (subject: string, message: string): void =>
    void checks.push({ status: 'fail', subject, message });
  const expiry = (subject: string, notAfter: Date, renewDays: number): void => {
    const days = (notAfter.getTime() - now.getTime()) / dayMs;
    if (days < 0) fail(subject, `expired ${notAfter.toISOString()}`);
    else if (days < renewDays)
      warn(subject, `expires ${notAfter.toISOString()} (in ${days.toFixed(1)} days); run ensure`);
    else ok(subject, `valid until ${notAfter.toISOString()}`);
  };

  const root = await readCert(join(dir, layout.rootCert));
  const intermediate = await readCert(join(dir, layout.intermediateCert));
  if (root === undefined || intermediate === undefined) {
    fail('ca', `missing ${layout.rootCert} or ${layout.intermediateCert}; run init`);
    return checks;
  }
  if (root.x509.verify(root.x509.publicKey) && root.x509.ca)
    ok(layout.rootCert, 'self-signed CA certificate');
  else fail(layout.rootCert, 'not a valid self-signed CA certificate');
  if (issuedBy(intermediate.x509, root.x509) && intermediate.x509.ca)
    ok(layout.intermediateCert, 'issued by the root');
  else fail(layout.intermediateCert, 'not issued by ca/root.pem');
  for (const [path, cert] of [
    [layout.rootCert, root],
    [layout.intermediateCert, intermediate],
  ] as const) {
    expiry(path, cert.notAfter, 30);
    const constraints = extension(cert.x509, pkijs.id_NameConstraints);
    if (constraints?.critical === true) ok(path, 'name constraints present and critical');
    else warn(path, 'no critical name constraints');
  }
  const chain = await readText(join(dir, layout.caChain));
  if (chain !== undefined && chain === `${intermediate.x509.toString()}${root.x509.toString()}`)
    ok(layout.caChain, 'intermediate then root');
  else fail(layout.caChain, 'missing or not intermediate + root');

  await checkKey(dir, layout.intermediateKey, intermediate.x509, checks);
  if (await exists(join(dir, layout.rootKey)))
    await checkKey(dir, layout.rootKey, root.x509, checks);

  // Server
  const server = await readCert(join(dir, layout.serverCert));
  if (server === undefined) {
    fail(layout.serverCert, 'missing; run ensure or server');
  } else {
    if (issuedBy(server.x509, intermediate.x509))
      ok(layout.serverCert, 'issued by the intermediate');
    else fail(layout.serverCert, 'not issued by the current intermediate');
    const serverChain = fromPem(
      'CERTIFICATE',
      (await readText(join(dir, layout.serverCert))) ?? '',
    );
    if (serverChain.length === 2 && serverChain[1]?.equals(intermediate.x509.raw))
      ok(layout.serverCert, 'full chain (leaf + intermediate)');
    else
      warn(
        layout.serverCert,
        'not leaf + intermediate: clients without the intermediate will fail',
      );
    if (!server.sans.dns.includes('localhost')) warn(layout.serverCert, 'no DNS SAN localhost');
    checkEku(layout.serverCert, server.x509, '1.3.6.1.5.5.7.3.1', checks);
    expiry(layout.serverCert, server.notAfter, 10);
    await checkKey(dir, layout.serverKey, server.x509, checks);
  }

  // CRLs
  for (const [path, issuer] of [
    [layout.rootCrl, root],
    [layout.intermediateCrl, intermediate],
  ] as const) {
    const der = fromPem('X509 CRL', (await readText(join(dir, path))) ?? '')[0];
    if (der === undefined) {
      fail(path, 'missing; run crl');
      continue;
    }
    if (crlSignedBy(der, issuer.x509)) ok(path, `signed by ${describeCert(issuer.x509).subject}`);
    else fail(path, 'signature does not verify with its CA');
    const crl = parseCrl(der);
    if (crl.nextUpdate === undefined) warn(path, 'no nextUpdate');
    else if (crl.nextUpdate.getTime() < now.getTime())
      fail(path, `stale since ${crl.nextUpdate.toISOString()}; run crl (TLS with CRLs will fail)`);
    else if (crl.nextUpdate.getTime() - now.getTime() < dayMs)
      warn(path, `nextUpdate ${crl.nextUpdate.toISOString()} is within a day; run crl`);
    else ok(path, `fresh until ${crl.nextUpdate.toISOString()}, ${crl.entries.length} revoked`);
  }
  const crlChain = await readText(join(dir, layout.crlChain));
  const rootCrl = await readText(join(dir, layout.rootCrl));
  const intermediateCrl = await readText(join(dir, layout.intermediateCrl));
  if (crlChain !== undefined && crlChain === `${intermediateCrl ?? ''}${rootCrl ?? ''}`)
    ok(layout.crlChain, 'both CRLs');
  else fail(layout.crlChain, 'missing or out of date; run crl');

  const revokedSerials = new Set(
    fromPem('X509 CRL', intermediateCrl ?? '').flatMap((der) =>
      parseCrl(der).entries.map((e) => e.serialHex),
    ),
  );
  if (server !== undefined && revokedSerials.has(server.serialHex)) {
    fail(layout.serverCert, 'is revoked; re-issue it with `server --force`');
  }

  // Registry and clients
  let registryClients: Awaited<ReturnType<typeof readRegistry>>['clients'] = [];
  try {
    registryClients = (await readRegistry(dir)).clients;
    ok(layout.registry, `${registryClients.length} clients`);
  } catch (error) {
    fail(layout.registry, (error as Error).message);
  }
  for (const client of registryClients) {
    const id = client.client_id;
    const negative = await exists(join(dir, negativeFolder, id));
    const folder = negative ? negativeFolder : clientsFolder;
    const subject = `${folder}/${id}`;
    if (negative) {
      ok(subject, 'negative fixture (expected to fail authentication)');
      continue;
    }
    switch (client.token_endpoint_auth_method) {
      case 'private_key_jwt': {
        const publicText = await readText(join(dir, clientPath(id, 'publicJwk')));
        const kids = client.jwks?.keys.map((k) => k.kid) ?? [];
        if (publicText === undefined) {
          if (client.jwks_uri === undefined)
            warn(subject, 'no public.jwk.json on disk (registered elsewhere?)');
          break;
        }
        const kid = (JSON.parse(publicText) as { kid?: string }).kid;
        if (kids.includes(kid)) ok(subject, `registered key ${kid} matches public.jwk.json`);
        else fail(subject, 'registry jwks does not contain public.jwk.json');
        if (await exists(join(dir, clientPath(id, 'privateJwk'))))
          await checkMode(dir, clientPath(id, 'privateJwk'), 0o600, checks);
        break;
      }
      case 'tls_client_auth': {
        const cert = await readCert(join(dir, clientPath(id, 'cert')));
        if (cert === undefined) {
          warn(subject, 'no cert.pem on disk (issued elsewhere?)');
          break;
        }
        if (issuedBy(cert.x509, intermediate.x509)) ok(subject, 'issued by the intermediate');
        else fail(subject, 'not issued by the current intermediate; re-issue with client --force');
        checkEku(subject, cert.x509, '1.3.6.1.5.5.7.3.2', checks);
        if (revokedSerials.has(cert.serialHex))
          warn(subject, `revoked (serial ${cert.serialHex}); it will be refused`);
        expiry(subject, cert.notAfter, 10);
        const csrPem = await readText(join(dir, clientPath(id, 'csr')));
        if (csrPem === undefined || (await exists(join(dir, clientPath(id, 'key')))))
          await checkKey(dir, clientPath(id, 'key'), cert.x509, checks);
        else if (readCertificateRequest(csrPem).spkiDer.equals(spkiOf(cert.x509)))
          ok(subject, 'certifies the key of request.csr (the key stays with the client)');
        else fail(subject, 'does not certify the key of request.csr');
        const fields = tlsClientAuthIdentityFields.filter((field) => client[field] !== undefined);
        if (fields.length !== 1) {
          fail(
            subject,
            `registers ${fields.length} tls_client_auth identity fields; RFC 8705 wants exactly one`,
          );
          break;
        }
        const field = fields[0] as (typeof tlsClientAuthIdentityFields)[number];
        const value = client[field] as string;
        const matches =
          field === 'tls_client_auth_subject_dn'
            ? value === cert.subject
            : field === 'tls_client_auth_san_dns'
              ? cert.sans.dns.some((d) => d.toLowerCase() === value.toLowerCase())
              : field === 'tls_client_auth_san_uri'
                ? cert.sans.uri.includes(value)
                : field === 'tls_client_auth_san_ip'
                  ? cert.sans.ip.includes(value)
                  : cert.sans.email.includes(value);
        if (matches) ok(subject, `${field} matches the certificate`);
        else
          fail(
            subject,
            `${field} ${JSON.stringify(value)} does not match the certificate (${cert.subject})`,
          );
        break;
      }
      case 'self_signed_tls_client_auth': {
        const cert = await readCert(join(dir, clientPath(id, 'cert')));
        if (cert === undefined) {
          warn(subject, 'no cert.pem on disk');
          break;
        }
        const x5c = client.jwks?.keys.flatMap((k) => k.x5c ?? []) ?? [];
        if (x5c.includes(cert.x509.raw.toString('base64')))
          ok(subject, 'registered x5c matches cert.pem');
        else fail(subject, 'registry jwks has no x5c equal to cert.pem');
        expiry(subject, cert.notAfter, 10);
        await checkKey(dir, clientPath(id, 'key'), cert.x509, checks);
        break;
      }
      default:
        fail(
          subject,
          `unsupported token_endpoint_auth_method ${String(client.token_endpoint_auth_method)}`,
        );
    }
  }

  await checkModes(dir, checks);
  return checks;
}

async function checkKey(
  dir: string,
  path: string,
  cert: X509Certificate,
  checks: DoctorCheck[],
): Promise<void> {
  const pem = await readText(join(dir, path));
  if (pem === undefined) {
    checks.push({ status: 'fail', subject: path, message: 'missing' });
    return;
  }
  try {
    const matches = cert.checkPrivateKey(createPrivateKey(pem));
    checks.push(
      matches
        ? { status: 'ok', subject: path, message: 'matches its certificate' }
        : { status: 'fail', subject: path, message: 'does not match its certificate' },
    );
  } catch (error) {
    checks.push({
      status: 'fail',
      subject: path,
      message: `unreadable: ${(error as Error).message}`,
    });
  }
  await checkMode(dir, path, 0o600, checks);
}

async function checkMode(
  dir: string,
  path: string,
  expected: number,
  checks: DoctorCheck[],
): Promise<void> {
  const mode = (await stat(join(dir, path))).mode & 0o777;
  checks.push(
    mode === expected
      ? { status: 'ok', subject: path, message: `mode 0${mode.toString(8)}` }
      : {
          status: 'fail',
          subject: path,
          message: `mode 0${mode.toString(8)}, want 0${expected.toString(8)} (chmod ${expected.toString(8)} ${path})`,
        },
  );
}

/** Key-like files 0600 and the folders we create 0700, wherever they are. */
async function checkModes(dir: string, checks: DoctorCheck[]): Promise<void> {
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(dir, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        const mode = (await stat(join(dir, path))).mode & 0o777;
        if (mode !== folderMode) {
          checks.push({
            status: 'fail',
            subject: `${path}/`,
            message: `folder mode 0${mode.toString(8)}, want 0700`,
          });
        }
        await walk(path);
      } else if (/(^|[/-])key\.pem$|private\.jwk\.json$|\.p12$|\.p12\.password$/.test(path)) {
        const mode = (await stat(join(dir, path))).mode & 0o777;
        if (mode !== 0o600) {
          checks.push({
            status: 'fail',
            subject: path,
            message: `mode 0${mode.toString(8)}, want 0600`,
          });
        }
      }
    }
  };
  await walk('');
}

function checkEku(
  subject: string,
  cert: X509Certificate,
  wanted: string,
  checks: DoctorCheck[],
): void {
  const eku = cert.keyUsage ?? [];
  if (eku.length === 1 && eku[0] === wanted)
    checks.push({ status: 'ok', subject, message: `EKU ${wanted} only` });
  else
    checks.push({
      status: 'fail',
      subject,
      message: `EKU is ${eku.join(', ') || 'absent'}, want ${wanted} only`,
    });
}

function extension(cert: X509Certificate, oid: string): pkijs.Extension | undefined {
  return pkijs.Certificate.fromBER(cert.raw).extensions?.find((e) => e.extnID === oid);
}

/** Verifies a CRL signature with src/pki's verifier (node:crypto, no pkijs engine needed). */
function crlSignedBy(der: Buffer, issuer: X509Certificate): boolean {
  const crl = pkijs.CertificateRevocationList.fromBER(der);
  const algorithm = new Uint8Array(crl.signatureAlgorithm.toSchema().toBER(false));
  const signature = crl.signatureValue.valueBlock.valueHexView;
  return verifySignature(algorithm, crl.tbsView, signature, issuer.publicKey) === 'valid';
}

function spkiOf(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}
