/**
 * `init` (make a whole dev PKI, refusing to overwrite) and `ensure` (make or renew only what is
 * missing or expiring soon; idempotent, called by `tollgate serve` and by test setup).
 */
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import type { ClientMetadata } from '../registry/metadata.js';
import { createDevCa, type DevCa } from './ca.js';
import {
  type ClientSpec,
  demoClients,
  planClient,
  privateKeyJwtEntry,
  type RegistryFile,
  selfSignedEntry,
  tlsClientAuthEntry,
  upsertClient,
} from './clients.js';
import { caRenewDays, inspectCrls, inspectLeaf } from './doctor.js';
import { defaultIssuer } from './examples.js';
import type { DevKeyType } from './keys.js';
import { clientPath, clientsFolder, layout } from './layout.js';
import { isLegacyPkcs12 } from './pkcs12.js';
import { defined, json, Plan, refuseConflicts } from './store.js';
import {
  type CertOnDisk,
  type CommandResult,
  planCaFiles,
  planCrlFiles,
  planServerFiles,
  serverSans,
  Workspace,
} from './workspace.js';

const dayMs = 86_400_000;

export interface DevPkiOptions {
  /** Key type of the CAs and leaves. Default `p256`. */
  readonly keyType?: DevKeyType;
  /** Extra permitted name-constraint subtrees (`--permit`). */
  readonly permit?: readonly string[];
  /** Extra server SANs (`--san`) beyond localhost, 127.0.0.1 and ::1. */
  readonly serverSans?: readonly string[];
  /** Keep `ca/root-key.pem` (0600) so the root CRL can be re-signed and the intermediate revoked. */
  readonly keepRootKey?: boolean;
  /** Also write a PKCS#12 bundle for demo-mtls. */
  readonly p12?: boolean;
  /** Issuer identifier used in EXAMPLES.md and assertions. Default https://localhost:8443. */
  readonly issuer?: string;
}

/** Makes a complete dev PKI. Without `--force`, any existing file aborts it untouched. */
export async function initDevPki(ws: Workspace, options: DevPkiOptions): Promise<CommandResult> {
  const ca = await newCa(ws, options);
  const keepRootKey = options.keepRootKey ?? false;
  const plan = planCaFiles(ca, keepRootKey).merge(
    await planServerFiles(ca, serverSans(options.serverSans)),
  );
  let registry: RegistryFile = { clients: [] };
  for (const spec of demoClients) {
    const client = await planClient(ca, withP12(spec, options.p12));
    plan.merge(client);
    registry = upsertClient(registry, client.entry);
  }
  plan.merge(await planCrlFiles(ca, { kind: 'create' }));
  plan.add(layout.registry, json(registry), registryRole(registry));
  // Written by commit; refused (before the old root key goes) like the rest when they exist.
  const derived = new Plan()
    .add(layout.examples, '', 'curl examples')
    .add(layout.manifest, '', 'manifest');
  if (!ws.force) await refuseConflicts(ws.dir, [...plan.files, ...derived.files]);
  if (!keepRootKey) await rm(join(ws.dir, layout.rootKey), { force: true });
  const written = await ws.commit(plan.files, [], ws.issuer ?? defaultIssuer);
  return ws.report(
    'init',
    `created a development PKI (root, intermediate, server, ${registry.clients.length} demo clients, CRLs) in ${ws.dir}`,
    [...plan.made, ...derived.made],
    written,
    ['npm start', `then follow ${join(ws.displayDir, layout.examples)}`],
    keepRootKey
      ? ['the root key is kept in ca/root-key.pem; it can sign anything under the name constraints']
      : [],
  );
}

/**
 * Makes whatever is missing in `dir` and renews what expires soon; a second call changes nothing.
 * Returns the paths written (relative to `dir`); empty when everything was in order.
 */
export async function ensureDevPki(dir: string, options: DevPkiOptions = {}): Promise<string[]> {
  return [...(await ensure(new Workspace({ dir, ...options }), options)).written];
}

/** {@link ensureDevPki} in `at`, with the full report the CLI prints. */
export async function ensure(at: Workspace, options: DevPkiOptions): Promise<CommandResult> {
  // Everything ensure replaces is missing, broken or expiring: it needs no --force.
  const ws = new Workspace({ ...at, force: true });
  const plan = new Plan();
  const reasons: string[] = [];
  let loaded = await ws.loadCa().catch((error: Error) => {
    reasons.push(`CA: ${error.message}`);
    return undefined;
  });
  const caEnd = (ca: DevCa) =>
    Math.min(ca.root.notAfter.getTime(), ca.intermediate.notAfter.getTime());
  if (loaded !== undefined && caEnd(loaded) - ws.now().getTime() < caRenewDays * dayMs) {
    reasons.push(`CA: expires within ${caRenewDays} days, replacing it and everything it issued`);
    loaded = undefined;
  }
  const caFresh = loaded === undefined;
  const ca = loaded ?? (await newCa(ws, options));
  if (caFresh) plan.merge(planCaFiles(ca, options.keepRootKey ?? false));
  const intermediate = new X509Certificate(ca.intermediate.certPem);
  /** Why a leaf needs replacing (doctor's first check of it that is not ok), or undefined. */
  const leafProblem = async (
    subject: string,
    cert: CertOnDisk | undefined,
    files: Parameters<typeof inspectLeaf>[3],
    selfSigned = false,
  ): Promise<string | undefined> => {
    if (cert === undefined) return `${subject}: missing`;
    if (caFresh && !selfSigned) return `${subject}: the CA was replaced`;
    const issuer = selfSigned ? undefined : intermediate;
    const bad = (await inspectLeaf(ws, subject, cert, files, issuer)).find(
      (c) => c.status !== 'ok',
    );
    return bad && `${bad.subject}: ${bad.message}`;
  };

  const server = await ws.cert(layout.serverCert);
  const serverProblem = await leafProblem(layout.serverCert, server, { key: layout.serverKey });
  if (serverProblem !== undefined) {
    reasons.push(serverProblem);
    const sans = serverSans([
      ...(options.serverSans ?? []),
      ...(server === undefined ? [] : [...server.sans.dns, ...server.sans.ip]),
    ]);
    const permitted = sans.filter((san) => ca.permits(san));
    plan.merge(await planServerFiles(ca, permitted, options.keyType));
  }

  let registry = await ws.registry();
  const registryBefore = JSON.stringify(registry);
  for (const spec of demoClients) {
    const id = spec.clientId;
    const registered = registry.clients.find((c) => c.client_id === id);
    const sameMethod = registered?.token_endpoint_auth_method === spec.method;
    const publicText = await ws.text(clientPath(id, 'publicJwk'));
    const subject = `${clientsFolder}/${id}`;
    // Either new files, or only the registration rebuilt from the files the client has.
    let entry: ClientMetadata | undefined;
    const common = defined({ allowedResources: spec.allowedResources });
    if (spec.method === 'private_key_jwt') {
      if (!(await ws.has(clientPath(id, 'privateJwk'))) || publicText === undefined) {
        reasons.push(`${subject}: signing key missing`);
      } else {
        const publicJwk = JSON.parse(publicText) as JWK;
        const kids = registered?.jwks?.keys.map((k) => k.kid) ?? [];
        if (sameMethod && kids.includes(publicJwk.kid)) continue;
        entry = privateKeyJwtEntry(id, publicJwk, common);
      }
    } else {
      const selfSigned = spec.method === 'self_signed_tls_client_auth';
      const cert = await ws.cert(clientPath(id, 'cert'));
      const x5c = registered?.jwks?.keys.flatMap((k) => k.x5c ?? []) ?? [];
      const problem = await leafProblem(subject, cert, { key: clientPath(id, 'key') }, selfSigned);
      if (problem !== undefined) reasons.push(problem);
      else if (!selfSigned && !(await ws.has(clientPath(id, 'chain')))) {
        reasons.push(`${subject}: chain.pem missing`);
      } else if (selfSigned && publicText === undefined) {
        reasons.push(`${subject}: public.jwk.json missing`);
      } else if (
        !sameMethod ||
        (selfSigned && !x5c.includes(cert?.x509.raw.toString('base64') ?? ''))
      ) {
        entry = selfSigned
          ? selfSignedEntry(id, JSON.parse(publicText ?? ''), common)
          : tlsClientAuthEntry(id, cert as CertOnDisk, spec.bind, common);
      } else continue;
    }
    if (entry !== undefined) {
      reasons.push(`${subject}: registry entry missing or stale`);
      registry = upsertClient(registry, entry);
      continue;
    }
    const client = await planClient(ca, withP12(spec, options.p12));
    plan.merge(client);
    registry = upsertClient(registry, client.entry);
  }
  // Clients added later with `client`, `sign` or `self-signed`: renew their certificates in
  // place, with the same subject, SANs and key type, so their registrations keep matching.
  const demoIds = new Set(demoClients.map((spec) => spec.clientId));
  for (const entry of registry.clients) {
    const { client_id: id, token_endpoint_auth_method: method } = entry;
    // Only certificate clients are renewed here (workload clients have no files of their own).
    if (
      demoIds.has(id) ||
      (method !== 'tls_client_auth' && method !== 'self_signed_tls_client_auth')
    )
      continue;
    const cert = (await ws.has(join(clientsFolder, id)))
      ? await ws.cert(clientPath(id, 'cert'))
      : undefined;
    const selfSigned = method === 'self_signed_tls_client_auth';
    const files = { key: clientPath(id, 'key'), csr: clientPath(id, 'csr') };
    if (cert === undefined) continue;
    const problem = await leafProblem(`${clientsFolder}/${id}`, cert, files, selfSigned);
    if (problem === undefined) continue;
    reasons.push(problem);
    // A client signed from its CSR has no key here: renew by signing the same request again.
    const csrPem = selfSigned || (await ws.has(files.key)) ? undefined : await ws.text(files.csr);
    const client = await planClient(ca, {
      clientId: id,
      method,
      subject: cert.subject,
      sanDns: cert.sans.dns,
      sanUri: cert.sans.uri,
      sanIp: cert.sans.ip,
      sanEmail: cert.sans.email,
      keyType: cert.keyType,
      ...(csrPem === undefined ? {} : { csrPem, eku: cert.x509.keyUsage ?? ['clientAuth'] }),
      // Renew a bundle in the form it was made: a keystore that needed the legacy form still does.
      p12: await p12FormOnDisk(join(ws.dir, clientPath(id, 'p12'))),
      ...defined({ scope: entry.scope }),
    });
    plan.merge(client);
    // Keep the registration as the user wrote it; only a self-signed certificate's JWK changes.
    if (selfSigned)
      registry = upsertClient(registry, { ...entry, ...defined({ jwks: client.entry.jwks }) });
  }

  const root = new X509Certificate(ca.root.certPem);
  const crl = caFresh
    ? undefined
    : (await inspectCrls(ws, root, intermediate)).checks.find((c) => c.status !== 'ok');
  if (caFresh || crl !== undefined) {
    reasons.push(crl === undefined ? 'CRLs: new CA' : `${crl.subject}: ${crl.message}`);
    plan.merge(await planCrlFiles(ca, { kind: 'update' }));
  }
  if (JSON.stringify(registry) !== registryBefore || !(await ws.has(layout.registry))) {
    plan.add(layout.registry, json(registry), registryRole(registry), { kind: 'update' });
  }

  const written = await ws.commit(plan.files);
  const report = ws.report(
    'ensure',
    written.length === 0
      ? `everything in ${ws.dir} is present and valid; nothing to do`
      : `updated ${written.length} file(s) in ${ws.dir}`,
    plan.made,
    written,
    ['npm start'],
    reasons,
  );
  return written.length === 0 ? { ...report, next: ['npm start'] } : report;
}

function registryRole(registry: RegistryFile): string {
  return `client registry (${registry.clients.length} clients)`;
}

function newCa(ws: Workspace, options: DevPkiOptions): Promise<DevCa> {
  return createDevCa({
    profile: 'dev',
    now: ws.now,
    ...defined({ keyType: options.keyType, permit: options.permit }),
  });
}

function withP12(spec: ClientSpec, p12: boolean | undefined): ClientSpec {
  return p12 === true && spec.method === 'tls_client_auth' ? { ...spec, p12: true } : spec;
}

/** Whether a client has a PKCS#12 bundle, and in which form. */
async function p12FormOnDisk(path: string): Promise<boolean | 'legacy'> {
  const der = await readFile(path).catch(() => undefined);
  if (der === undefined) return false;
  return isLegacyPkcs12(der) ? 'legacy' : true;
}
