/**
 * `doctor`: verifies a dev PKI directory the way the server and clients will use it: every chain
 * (signatures, CA flags, name constraints), key/certificate pairs, file and folder modes, expiry,
 * CRL signatures and freshness, and that every registry entry matches the files it points to.
 * `ensure` renews what {@link inspectLeaf} and {@link inspectCrls} find wanting, so the two
 * commands judge leaves and CRLs by the same checks.
 *
 * @see RFC 5280 §6.1 (path validation), §6.3 (CRL processing), RFC 8705 §2
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { asymmetricAlgs } from '../jws/index.js';
import {
  extensionOids,
  identityMatches,
  parseCertificate,
  parseCrl,
  verifySignature,
} from '../pki/index.js';
import { prepareClient, type ValidateOptions } from '../registry/validate.js';
import { describeCert } from './ca.js';
import type { RegistryFile } from './clients.js';
import { readCertificateRequest } from './csr.js';
import { clientPath, clientsFolder, layout, negativeFolder } from './layout.js';
import { folderMode, listTree, privateMode } from './store.js';
import { type CertOnDisk, issuedBy, type Printed, type Workspace } from './workspace.js';
import { ekuOids, fromPem } from './x509.js';

const dayMs = 86_400_000;
/** Leaves are renewed (and warned about) when less than this remains: a third of their 30 days. */
export const leafRenewDays = 10;
/** CAs likewise, a third of their 90 days. */
export const caRenewDays = 30;
/** CRLs are re-signed (and warned about) when less than half of their 7 days remains. */
const crlRefreshDays = 3.5;

export interface DoctorCheck {
  readonly status: 'ok' | 'warn' | 'fail';
  readonly subject: string;
  readonly message: string;
}

const finding =
  (status: DoctorCheck['status']) =>
  (subject: string, message: string): DoctorCheck => ({ status, subject, message });
const [ok, warn, fail] = [finding('ok'), finding('warn'), finding('fail')];
const check = (
  good: boolean,
  subject: string,
  yes: string,
  no: string,
  bad: DoctorCheck['status'] = 'fail',
): DoctorCheck => ({ status: good ? 'ok' : bad, subject, message: good ? yes : no });

/** How doctor validates registry entries: any asymmetric algorithm, and no jwks_uri fetching. */
const registryRules: ValidateOptions = {
  allowedAssertionAlgs: asymmetricAlgs,
  createRemoteKeySet: () => ({ get: async () => [], refreshForUnknownKid: async () => undefined }),
};

/** Key-like files, wherever they are: 0600. */
const secretFile = /(^|[/-])key\.pem$|private\.jwk\.json$|\.p12$|\.p12\.password$/;

/** `doctor`: every check, one line each (or JSON), and exit 1 when one fails. */
export async function doctor(ws: Workspace): Promise<Printed> {
  const checks = await runChecks(ws);
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = checks.map((c) => `${mark[c.status]}  ${c.subject}: ${c.message}\n`);
  lines.push(
    failed === 0
      ? `\ndev-ca doctor: ${ws.dir} is healthy (${checks.length} checks, ${warned} warnings).\nNext: npm start\n`
      : `\ndev-ca doctor: ${failed} problem(s) in ${ws.dir}.\nNext: npm run dev-ca -- ensure${ws.dirFlag} (or fix the files named above)\n`,
  );
  const json = JSON.stringify(
    { command: 'doctor', dir: ws.dir, ok: failed === 0, checks },
    null,
    2,
  );
  return { text: lines.join(''), json: `${json}\n`, code: failed === 0 ? 0 : 1 };
}

/**
 * A leaf as doctor reports it and ensure renews it: issued by the current intermediate (unless
 * self-signed), in its validity, and certifying its key: the key file, or for a client signed
 * from its CSR (no key here), the key of the request.
 */
export async function inspectLeaf(
  ws: Workspace,
  subject: string,
  cert: CertOnDisk,
  files: { readonly key: string; readonly csr?: string | undefined },
  issuer?: X509Certificate,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  if (issuer !== undefined) {
    const issued = issuedBy(cert.x509, issuer);
    const no = 'not issued by the current intermediate; ensure re-issues it';
    checks.push(check(issued, subject, 'issued by the intermediate', no));
  }
  checks.push(expiry(subject, cert.notAfter, ws.now(), leafRenewDays));
  const csrPem =
    files.csr === undefined || (await ws.has(files.key)) ? undefined : await ws.text(files.csr);
  if (csrPem === undefined) {
    checks.push(await keyCheck(ws, files.key, cert.x509));
    return checks;
  }
  try {
    const spki = cert.x509.publicKey.export({ type: 'spki', format: 'der' });
    const certifies = readCertificateRequest(csrPem).spkiDer.equals(spki);
    const yes = 'certifies the key of request.csr (the key stays with the client)';
    checks.push(check(certifies, subject, yes, 'does not certify the key of request.csr'));
  } catch (error) {
    checks.push(fail(subject, `request.csr unreadable: ${(error as Error).message}`));
  }
  return checks;
}

/** Expired fails; less than `renewDays` left warns (ensure renews it then). */
function expiry(subject: string, notAfter: Date, now: Date, renewDays: number): DoctorCheck {
  const days = (notAfter.getTime() - now.getTime()) / dayMs;
  const until = notAfter.toISOString();
  if (days < 0) return fail(subject, `expired ${until}`);
  const soon = `expires ${until} (in ${days.toFixed(1)} days); ensure renews it`;
  return check(days >= renewDays, subject, `valid until ${until}`, soon, 'warn');
}

/** A key file against its certificate. */
async function keyCheck(ws: Workspace, path: string, cert: X509Certificate): Promise<DoctorCheck> {
  const pem = await ws.text(path);
  if (pem === undefined) return fail(path, 'missing');
  try {
    const matches = cert.checkPrivateKey(createPrivateKey(pem));
    return check(matches, path, 'matches its certificate', 'does not match its certificate');
  } catch (error) {
    return fail(path, `unreadable: ${(error as Error).message}`);
  }
}

/**
 * Both CRLs, as doctor reports them and ensure refreshes them: signed by their CA, with a
 * nextUpdate more than half a period away, and combined in crl-chain.pem. Also the serials the
 * intermediate CRL revokes.
 */
export async function inspectCrls(
  ws: Workspace,
  root: X509Certificate,
  intermediate: X509Certificate,
): Promise<{ checks: DoctorCheck[]; revoked: Set<string> }> {
  const checks: DoctorCheck[] = [];
  const revoked = new Set<string>();
  const now = ws.now().getTime();
  for (const [path, issuer] of [
    [layout.rootCrl, root],
    [layout.intermediateCrl, intermediate],
  ] as const) {
    const der = fromPem('X509 CRL', (await ws.text(path)) ?? '')[0];
    if (der === undefined) {
      checks.push(fail(path, 'missing; run crl'));
      continue;
    }
    const by = describeCert(issuer).subject;
    const crl = parseCrl(der);
    const verdict = verifySignature(
      crl.signatureAlgorithm,
      crl.tbs,
      crl.signature,
      issuer.publicKey,
    );
    const no = 'signature does not verify with its CA';
    checks.push(check(verdict === 'valid', path, `signed by ${by}`, no));
    const { nextUpdate, entries } = crl;
    if (issuer === intermediate)
      for (const { serial } of entries) revoked.add(serial.toUpperCase());
    const left = (nextUpdate?.getTime() ?? now) - now;
    const until = nextUpdate?.toISOString();
    if (nextUpdate === undefined) checks.push(warn(path, 'no nextUpdate'));
    else if (left < 0)
      checks.push(fail(path, `stale since ${until}; run crl (TLS with CRLs will fail)`));
    else {
      const fresh = `fresh until ${until}, ${entries.length} revoked`;
      const near = `nextUpdate ${until} is within ${crlRefreshDays} days; run crl`;
      checks.push(check(left >= crlRefreshDays * dayMs, path, fresh, near, 'warn'));
    }
  }
  const both = `${(await ws.text(layout.intermediateCrl)) ?? ''}${(await ws.text(layout.rootCrl)) ?? ''}`;
  const chained = (await ws.text(layout.crlChain)) === both;
  checks.push(check(chained, layout.crlChain, 'both CRLs', 'missing or out of date; run crl'));
  return { checks, revoked };
}

/** Every check of the directory; the PKI is healthy when none fails. */
async function runChecks(ws: Workspace): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const root = await ws.cert(layout.rootCert);
  const intermediate = await ws.cert(layout.intermediateCert);
  if (root === undefined || intermediate === undefined) {
    return [fail('ca', `missing ${layout.rootCert} or ${layout.intermediateCert}; run init`)];
  }
  checks.push(
    check(
      root.x509.verify(root.x509.publicKey) && root.x509.ca,
      layout.rootCert,
      'self-signed CA certificate',
      'not a valid self-signed CA certificate',
    ),
    check(
      issuedBy(intermediate.x509, root.x509) && intermediate.x509.ca,
      layout.intermediateCert,
      'issued by the root',
      'not issued by ca/root.pem',
    ),
  );
  for (const [path, cert] of [
    [layout.rootCert, root],
    [layout.intermediateCert, intermediate],
  ] as const) {
    checks.push(expiry(path, cert.notAfter, ws.now(), caRenewDays));
    const { critical } = parseCertificate(cert.x509.raw).extensions;
    const yes = 'name constraints present and critical';
    const constrained = critical.has(extensionOids.nameConstraints);
    checks.push(check(constrained, path, yes, 'no critical name constraints', 'warn'));
  }
  const chain = await ws.text(layout.caChain);
  const chainOk = chain === `${intermediate.x509.toString()}${root.x509.toString()}`;
  checks.push(
    check(chainOk, layout.caChain, 'intermediate then root', 'missing or not intermediate + root'),
    await keyCheck(ws, layout.intermediateKey, intermediate.x509),
  );
  if (await ws.has(layout.rootKey)) checks.push(await keyCheck(ws, layout.rootKey, root.x509));

  const eku = (subject: string, cert: X509Certificate, wanted: string): DoctorCheck => {
    const usages = cert.keyUsage ?? [];
    const only = usages.length === 1 && usages[0] === wanted;
    const no = `EKU is ${usages.join(', ') || 'absent'}, want ${wanted} only`;
    return check(only, subject, `EKU ${wanted} only`, no);
  };
  const crls = await inspectCrls(ws, root.x509, intermediate.x509);
  const server = await ws.cert(layout.serverCert);
  const subject = layout.serverCert;
  if (server === undefined) checks.push(fail(subject, 'missing; run ensure or server'));
  else {
    const presented = fromPem('CERTIFICATE', (await ws.text(subject)) ?? '');
    checks.push(
      ...(await inspectLeaf(ws, subject, server, { key: layout.serverKey }, intermediate.x509)),
      check(
        presented.length === 2 && presented[1]?.equals(intermediate.x509.raw) === true,
        subject,
        'full chain (leaf + intermediate)',
        'not leaf + intermediate: clients without the intermediate will fail',
        'warn',
      ),
      eku(subject, server.x509, ekuOids.serverAuth),
    );
    if (!server.sans.dns.includes('localhost')) checks.push(warn(subject, 'no DNS SAN localhost'));
  }
  checks.push(...crls.checks);
  if (server !== undefined && crls.revoked.has(server.serialHex))
    checks.push(fail(subject, 'is revoked; re-issue it with `server --force`'));

  let registry: RegistryFile = { clients: [] };
  try {
    registry = await ws.registry();
    checks.push(ok(layout.registry, `${registry.clients.length} clients`));
  } catch (error) {
    checks.push(fail(layout.registry, (error as Error).message));
  }
  for (const entry of registry.clients) {
    const id = entry.client_id;
    // Each entry as `tollgate serve` loads it: doctor refuses exactly what the server refuses.
    const prepared = prepareClient(entry, registryRules);
    if ('problems' in prepared) {
      checks.push(
        ...prepared.problems.map((problem) => fail(`${layout.registry} (${id})`, problem)),
      );
      continue;
    }
    const client = prepared.client.metadata;
    if (await ws.has(join(negativeFolder, id))) {
      const message = 'negative fixture (expected to fail authentication)';
      checks.push(ok(`${negativeFolder}/${id}`, message));
      continue;
    }
    const subject = `${clientsFolder}/${id}`;
    const method = client.token_endpoint_auth_method;
    const selfSigned = method === 'self_signed_tls_client_auth';
    if (method === 'private_key_jwt') {
      const publicText = await ws.text(clientPath(id, 'publicJwk'));
      if (publicText === undefined) {
        if (client.jwks_uri === undefined)
          checks.push(warn(subject, 'no public.jwk.json on disk (registered elsewhere?)'));
        continue;
      }
      const kid = (JSON.parse(publicText) as { kid?: string }).kid;
      const registered = (client.jwks?.keys.map((k) => k.kid) ?? []).includes(kid);
      const yes = `registered key ${kid} matches public.jwk.json`;
      checks.push(
        check(registered, subject, yes, 'registry jwks does not contain public.jwk.json'),
      );
    } else if (method === 'tls_client_auth' || selfSigned) {
      const cert = await ws.cert(clientPath(id, 'cert'));
      if (cert === undefined) {
        checks.push(
          warn(subject, `no cert.pem on disk${selfSigned ? '' : ' (issued elsewhere?)'}`),
        );
        continue;
      }
      const files = { key: clientPath(id, 'key'), csr: clientPath(id, 'csr') };
      if (selfSigned) {
        const x5c = client.jwks?.keys.flatMap((k) => k.x5c ?? []) ?? [];
        const registered = x5c.includes(cert.x509.raw.toString('base64'));
        const no = 'registry jwks has no x5c equal to cert.pem';
        checks.push(check(registered, subject, 'registered x5c matches cert.pem', no));
        checks.push(...(await inspectLeaf(ws, subject, cert, files)));
        continue;
      }
      checks.push(
        ...(await inspectLeaf(ws, subject, cert, files, intermediate.x509)),
        eku(subject, cert.x509, ekuOids.clientAuth),
      );
      if (crls.revoked.has(cert.serialHex)) {
        checks.push(warn(subject, `revoked (serial ${cert.serialHex}); it will be refused`));
      }
      // Validation compiled the one identity (RFC 4514/4518 for DNs) that authentication matches.
      const { field, identity } = prepared.client.tlsIdentity ?? {};
      if (field === undefined || identity === undefined) continue;
      const matches = identityMatches(identity, parseCertificate(cert.x509.raw));
      const no = `${field} ${JSON.stringify(client[field])} does not match the certificate (${cert.subject})`;
      checks.push(check(matches, subject, `${field} matches the certificate`, no));
    }
  }

  // Key-like files 0600 and the folders we create 0700, wherever they are.
  for (const { path, folder, mode } of await listTree(ws.dir)) {
    const octal = `0${mode.toString(8)}`;
    if (folder && mode !== folderMode) {
      checks.push(fail(`${path}/`, `folder mode ${octal}, want 0700`));
    } else if (!folder && secretFile.test(path) && mode !== privateMode) {
      checks.push(fail(path, `mode ${octal}, want 0600 (chmod 600 ${path})`));
    }
  }
  return checks;
}
