/**
 * `init` (make a whole dev PKI, refusing to overwrite) and `ensure` (make or renew only what is
 * missing or expiring soon; idempotent, called by `tollgate serve` and by test setup).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type { ClientMetadata } from '../registry/metadata.js';
import { type Clock, clockOf, createDevCa, type DevCa, subjectDerOf } from './ca.js';
import { parseCrl } from './crl.js';
import { buildExamples, defaultIssuer } from './examples.js';
import type { DevKeyType } from './keys.js';
import { clientPath, clientsFolder, layout, publicMode } from './layout.js';
import { buildManifest, readManifestIssuer } from './manifest.js';
import { isPermitted } from './names.js';
import { isLegacyPkcs12 } from './pkcs12-legacy.js';
import {
  privateKeyJwtEntry,
  type RegistryFile,
  selfSignedEntry,
  tlsClientAuthEntry,
  upsertClient,
} from './registry.js';
import { spiffeBundle } from './spiffe.js';
import {
  ConflictError,
  commitFiles,
  exists,
  findConflicts,
  type MadeFile,
  type PlannedFile,
  readText,
} from './store.js';
import {
  type CertOnDisk,
  type ClientSpec,
  type CommandContext,
  demoClients,
  issuedBy,
  loadCa,
  planCaFiles,
  planClient,
  planCrlFiles,
  planServerFiles,
  readCert,
  readRegistry,
  registryFile,
} from './workspace.js';
import { fromPem } from './x509.js';

const dayMs = 86_400_000;
/** Renew a CA when less than this remains (a third of its 90 days). */
const renewCaMs = 30 * dayMs;
/** Renew a leaf when less than this remains (a third of its 30 days). */
const renewLeafMs = 10 * dayMs;
/** Re-sign a CRL when less than half of its 7-day period remains. */
const refreshCrlMs = 3.5 * dayMs;

/** The server certificate's default names. */
export const defaultServerSans: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** What a command reports: files made, where, until when, and what to run next. */
export interface CommandResult {
  readonly command: string;
  readonly dir: string;
  readonly summary: string;
  readonly files: readonly MadeFile[];
  /** Paths actually written (relative to `dir`), derived files included. */
  readonly written: readonly string[];
  readonly next: readonly string[];
  readonly warnings: readonly string[];
  /** Command-specific output (an assertion, doctor's checks). */
  readonly data?: unknown;
}

export interface DevPkiOptions {
  /** Current time (`--now`); default the system clock. */
  readonly now?: Clock;
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
  /** The directory as the user typed it, for EXAMPLES.md. Default: `dir`. */
  readonly displayDir?: string;
  /** Create the three demo clients. Default true. */
  readonly demoClients?: boolean;
}

/** Makes a complete dev PKI in `dir`. Without `force`, any existing file aborts it untouched. */
export async function initDevPki(
  dir: string,
  options: DevPkiOptions & { readonly force?: boolean } = {},
): Promise<CommandResult> {
  const ctx = contextOf(dir, options.now, options.force ?? false);
  const ca = await createDevCa({
    profile: 'dev',
    now: ctx.now,
    ...(options.keyType === undefined ? {} : { keyType: options.keyType }),
    ...(options.permit === undefined ? {} : { permit: options.permit }),
  });
  const keepRootKey = options.keepRootKey ?? false;
  const caFiles = planCaFiles(ca, keepRootKey);
  const server = await planServerFiles(ca, { sans: serverSans(options.serverSans) });
  const files: PlannedFile[] = [...caFiles.files, ...server.files];
  const made: MadeFile[] = [...caFiles.made, ...server.made];
  let registry: RegistryFile = { clients: [] };
  if (options.demoClients !== false) {
    for (const spec of demoClients) {
      const plan = await planClient(ca, withP12(spec, options.p12));
      files.push(...plan.files);
      made.push(...plan.made);
      registry = upsertClient(registry, plan.entry);
    }
  }
  const crls = await planCrlFiles(ca, { kind: 'create' });
  files.push(...crls.files, registryFile(registry, 'create'));
  made.push(...crls.made, {
    path: layout.registry,
    role: `client registry (${registry.clients.length} clients)`,
  });

  if (!ctx.force) {
    const conflicts = await findConflicts(dir, [
      ...files,
      ...[layout.manifest, layout.examples].map(
        (path): PlannedFile => ({ path, content: '', mode: 0, kind: 'create' }),
      ),
    ]);
    if (conflicts.length > 0) throw new ConflictError(conflicts);
  }
  if (!keepRootKey) await rm(join(dir, layout.rootKey), { force: true });
  const written = await commitFiles(dir, files, { force: true });
  const issuer = options.issuer ?? defaultIssuer;
  written.push(...(await refreshDerived(dir, options.displayDir ?? displayDirOf(dir), issuer)));
  return {
    command: 'init',
    dir,
    summary: `created a development PKI (root, intermediate, server, ${registry.clients.length} demo clients, CRLs) in ${dir}`,
    files: [
      ...made,
      { path: layout.examples, role: 'curl examples' },
      { path: layout.manifest, role: 'manifest' },
    ],
    written,
    next: [
      'npm start',
      `then follow ${join(options.displayDir ?? displayDirOf(dir), layout.examples)}`,
      `npm run dev-ca -- doctor${dirFlag(options.displayDir ?? displayDirOf(dir))}`,
    ],
    warnings: keepRootKey
      ? ['the root key is kept in ca/root-key.pem; it can sign anything under the name constraints']
      : [],
  };
}

/**
 * Makes whatever is missing in `dir` and renews what expires soon; a second call changes nothing.
 * Returns the paths written (relative to `dir`); empty when everything was in order.
 */
export async function ensureDevPki(dir: string, options: DevPkiOptions = {}): Promise<string[]> {
  return [...(await ensureDevPkiReport(dir, options)).written];
}

/** {@link ensureDevPki} with the full report the CLI prints. */
export async function ensureDevPkiReport(
  dir: string,
  options: DevPkiOptions = {},
): Promise<CommandResult> {
  const ctx = contextOf(dir, options.now, true);
  const now = ctx.now();
  const files: PlannedFile[] = [];
  const made: MadeFile[] = [];
  const reasons: string[] = [];

  let ca: DevCa | undefined;
  try {
    ca = await loadCa(ctx);
  } catch (error) {
    reasons.push(`CA: ${(error as Error).message}`);
  }
  if (
    ca !== undefined &&
    Math.min(ca.root.notAfter.getTime(), ca.intermediate.notAfter.getTime()) - now.getTime() <
      renewCaMs
  ) {
    reasons.push('CA: expires within 30 days, replacing it and everything it issued');
    ca = undefined;
  }
  let caFresh = false;
  if (ca === undefined) {
    ca = await createDevCa({
      profile: 'dev',
      now: ctx.now,
      ...(options.keyType === undefined ? {} : { keyType: options.keyType }),
      ...(options.permit === undefined ? {} : { permit: options.permit }),
    });
    caFresh = true;
    const planned = planCaFiles(ca, options.keepRootKey ?? false);
    files.push(...planned.files);
    made.push(...planned.made);
  }
  const intermediate = new X509Certificate(ca.intermediate.certPem);

  const server = await readCert(join(dir, layout.serverCert));
  const serverProblem = await leafProblem(
    dir,
    server,
    layout.serverKey,
    intermediate,
    caFresh,
    now,
  );
  if (serverProblem !== undefined) {
    reasons.push(`server: ${serverProblem}`);
    const sans = serverSans([
      ...(options.serverSans ?? []),
      ...(server === undefined ? [] : [...server.sans.dns, ...server.sans.ip]),
    ]);
    const planned = await planServerFiles(ca, {
      sans: sans.filter((san) => isPermitted(san, ca.permittedSubtrees)),
      ...(options.keyType === undefined ? {} : { keyType: options.keyType }),
    });
    files.push(...planned.files);
    made.push(...planned.made);
  }

  let registry = await readRegistry(dir);
  const registryBefore = JSON.stringify(registry);
  if (options.demoClients !== false) {
    for (const spec of demoClients) {
      const problem = await clientProblem(dir, spec, intermediate, caFresh, now, registry);
      if (problem === undefined) continue;
      if (problem.kind === 'registry') {
        reasons.push(`${spec.clientId}: ${problem.reason}`);
        registry = upsertClient(registry, problem.entry);
        continue;
      }
      reasons.push(`${spec.clientId}: ${problem.reason}`);
      const plan = await planClient(ca, withP12(spec, options.p12));
      files.push(...plan.files);
      made.push(...plan.made);
      registry = upsertClient(registry, plan.entry);
    }
  }
  // Clients added later with `client` / `self-signed`: renew their certificates in place, with
  // the same subject, SANs and key type, so their registrations keep matching.
  const demoIds = new Set(demoClients.map((spec) => spec.clientId));
  for (const entry of registry.clients) {
    if (demoIds.has(entry.client_id) && options.demoClients !== false) continue;
    const method = entry.token_endpoint_auth_method;
    // Only certificate clients are renewed here (workload clients have no files of their own).
    if (method !== 'tls_client_auth' && method !== 'self_signed_tls_client_auth') continue;
    if (!(await exists(join(dir, clientsFolder, entry.client_id)))) continue;
    const cert = await readCert(join(dir, clientPath(entry.client_id, 'cert')));
    if (cert === undefined) continue;
    const selfSigned = entry.token_endpoint_auth_method === 'self_signed_tls_client_auth';
    // A client signed from its CSR has no key here: renew by signing the same request again.
    const csrPem = selfSigned
      ? undefined
      : await readText(join(dir, clientPath(entry.client_id, 'csr')));
    const problem = await leafProblem(
      dir,
      cert,
      csrPem === undefined ? clientPath(entry.client_id, 'key') : undefined,
      selfSigned ? undefined : intermediate,
      caFresh && !selfSigned,
      now,
    );
    if (problem === undefined) continue;
    reasons.push(`${entry.client_id}: ${problem}`);
    const plan = await planClient(ca, {
      clientId: entry.client_id,
      method,
      subject: cert.subject,
      sanDns: cert.sans.dns,
      sanUri: cert.sans.uri,
      sanIp: cert.sans.ip,
      sanEmail: cert.sans.email,
      keyType: cert.keyType,
      ...(csrPem === undefined ? {} : { csrPem, eku: cert.x509.keyUsage ?? ['clientAuth'] }),
      // Renew a bundle in the form it was made: a keystore that needed the legacy form still does.
      p12: await p12FormOnDisk(join(dir, clientPath(entry.client_id, 'p12'))),
      ...(entry.scope === undefined ? {} : { scope: entry.scope }),
    });
    files.push(...plan.files);
    made.push(...plan.made);
    // Keep the registration as the user wrote it; only a self-signed certificate's JWK changes.
    if (selfSigned)
      registry = upsertClient(registry, {
        ...entry,
        ...(plan.entry.jwks === undefined ? {} : { jwks: plan.entry.jwks }),
      });
  }

  const crlProblem = caFresh ? 'new CA' : await crlStale(dir, ca, now);
  if (crlProblem !== undefined) {
    reasons.push(`CRLs: ${crlProblem}`);
    const planned = await planCrlFiles(ca, { kind: 'update' });
    files.push(...planned.files);
    made.push(...planned.made);
  }
  if (JSON.stringify(registry) !== registryBefore || !(await exists(join(dir, layout.registry)))) {
    files.push(registryFile(registry, 'update'));
    made.push({
      path: layout.registry,
      role: `client registry (${registry.clients.length} clients)`,
    });
  }

  const written = await commitFiles(dir, files, { force: true });
  const issuer = options.issuer ?? (await readManifestIssuer(dir)) ?? defaultIssuer;
  written.push(...(await refreshDerived(dir, options.displayDir ?? displayDirOf(dir), issuer)));
  return {
    command: 'ensure',
    dir,
    summary:
      written.length === 0
        ? `everything in ${dir} is present and valid; nothing to do`
        : `updated ${written.length} file(s) in ${dir}`,
    files: made,
    written,
    next:
      written.length === 0
        ? ['npm start']
        : [
            'npm start',
            `npm run dev-ca -- doctor${dirFlag(options.displayDir ?? displayDirOf(dir))}`,
          ],
    warnings: reasons,
  };
}

/** Rewrites EXAMPLES.md and manifest.json if their content changed; returns what was written. */
export async function refreshDerived(
  dir: string,
  displayDir: string,
  issuer: string,
): Promise<string[]> {
  const registry = await readRegistry(dir);
  const files = [await buildExamples({ dir, displayDir, issuer, registry })];
  // The SPIFFE bundle, once written, follows the root (a replaced CA gets a new bundle).
  const rootPem = await readText(join(dir, layout.rootCert));
  if (rootPem !== undefined && (await exists(join(dir, layout.spiffeBundle)))) {
    files.push({
      path: layout.spiffeBundle,
      content: `${JSON.stringify(await spiffeBundle(rootPem), null, 2)}\n`,
      mode: publicMode,
      kind: 'update',
    });
  }
  const written = await commitFiles(dir, files, { force: true });
  // The manifest lists EXAMPLES.md, so it goes last.
  written.push(...(await commitFiles(dir, [await buildManifest(dir, issuer)], { force: true })));
  return written;
}

/** An absolute dir inside the working directory is shown relative to it, as users type it. */
function displayDirOf(dir: string): string {
  if (!isAbsolute(dir)) return dir;
  const rel = relative(process.cwd(), dir);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
}

/** `--dir X` as it has to be repeated in suggested commands. */
export function dirFlag(displayDir: string): string {
  return displayDir === 'certs' || displayDir === 'certs/' ? '' : ` --dir ${displayDir}`;
}

export function contextOf(dir: string, now: Clock | undefined, force: boolean): CommandContext {
  return { dir, now: clockOf(now), force };
}

function serverSans(extra: readonly string[] | undefined): string[] {
  return [...new Set([...defaultServerSans, ...(extra ?? [])])];
}

/** Whether a client has a PKCS#12 bundle, and in which form. */
async function p12FormOnDisk(path: string): Promise<boolean | 'legacy'> {
  const der = await readFile(path).catch(() => undefined);
  if (der === undefined) return false;
  return isLegacyPkcs12(der) ? 'legacy' : true;
}

function withP12(spec: ClientSpec, p12: boolean | undefined): ClientSpec {
  return p12 === true && spec.method === 'tls_client_auth' ? { ...spec, p12: true } : spec;
}

/** Why a leaf needs replacing, or undefined when it is fine. */
async function leafProblem(
  dir: string,
  cert: CertOnDisk | undefined,
  keyPath: string | undefined,
  issuer: X509Certificate | undefined,
  caReplaced: boolean,
  now: Date,
): Promise<string | undefined> {
  if (cert === undefined) return 'missing';
  if (caReplaced) return 'the CA was replaced';
  if (keyPath !== undefined) {
    const keyPem = await readText(join(dir, keyPath));
    if (keyPem === undefined) return `${keyPath} missing`;
    try {
      if (!cert.x509.checkPrivateKey(createPrivateKey(keyPem)))
        return 'key does not match certificate';
    } catch {
      return `${keyPath} unreadable`;
    }
  }
  if (issuer !== undefined && !issuedBy(cert.x509, issuer))
    return 'not issued by the current intermediate';
  if (cert.notAfter.getTime() - now.getTime() < renewLeafMs) return 'expires within 10 days';
  return undefined;
}

type ClientProblem =
  | { readonly kind: 'files'; readonly reason: string }
  | { readonly kind: 'registry'; readonly reason: string; readonly entry: ClientMetadata };

async function clientProblem(
  dir: string,
  spec: ClientSpec,
  intermediate: X509Certificate,
  caFresh: boolean,
  now: Date,
  registry: RegistryFile,
): Promise<ClientProblem | undefined> {
  const id = spec.clientId;
  const registered = registry.clients.find((c) => c.client_id === id);
  switch (spec.method) {
    case 'private_key_jwt': {
      const privateText = await readText(join(dir, clientPath(id, 'privateJwk')));
      const publicText = await readText(join(dir, clientPath(id, 'publicJwk')));
      if (privateText === undefined || publicText === undefined)
        return { kind: 'files', reason: 'signing key missing' };
      const publicJwk = JSON.parse(publicText) as { kid?: string };
      const registeredKids = registered?.jwks?.keys.map((k) => k.kid) ?? [];
      if (
        registered?.token_endpoint_auth_method !== 'private_key_jwt' ||
        !registeredKids.includes(publicJwk.kid)
      ) {
        return {
          kind: 'registry',
          reason: 'registry entry missing or stale',
          entry: privateKeyJwtEntry(id, publicJwk),
        };
      }
      return undefined;
    }
    case 'tls_client_auth': {
      const cert = await readCert(join(dir, clientPath(id, 'cert')));
      const problem = await leafProblem(
        dir,
        cert,
        clientPath(id, 'key'),
        intermediate,
        caFresh,
        now,
      );
      if (problem !== undefined || cert === undefined)
        return { kind: 'files', reason: problem ?? 'missing' };
      if (!(await exists(join(dir, clientPath(id, 'chain')))))
        return { kind: 'files', reason: 'chain.pem missing' };
      if (registered?.token_endpoint_auth_method !== 'tls_client_auth') {
        return {
          kind: 'registry',
          reason: 'registry entry missing',
          entry: tlsClientAuthEntry(id, cert, spec.bind ?? 'subject_dn'),
        };
      }
      return undefined;
    }
    case 'self_signed_tls_client_auth': {
      const cert = await readCert(join(dir, clientPath(id, 'cert')));
      const problem = await leafProblem(dir, cert, clientPath(id, 'key'), undefined, false, now);
      if (problem !== undefined || cert === undefined)
        return { kind: 'files', reason: problem ?? 'missing' };
      const jwkText = await readText(join(dir, clientPath(id, 'publicJwk')));
      if (jwkText === undefined) return { kind: 'files', reason: 'public.jwk.json missing' };
      const x5c = registered?.jwks?.keys.flatMap((k) => k.x5c ?? []) ?? [];
      if (
        registered?.token_endpoint_auth_method !== 'self_signed_tls_client_auth' ||
        !x5c.includes(cert.x509.raw.toString('base64'))
      ) {
        return {
          kind: 'registry',
          reason: 'registry entry missing or stale',
          entry: selfSignedEntry(id, JSON.parse(jwkText)),
        };
      }
      return undefined;
    }
  }
}

async function crlStale(dir: string, ca: DevCa, now: Date): Promise<string | undefined> {
  for (const [path, caCert] of [
    [layout.intermediateCrl, ca.intermediate],
    [layout.rootCrl, ca.root],
  ] as const) {
    const pem = await readText(join(dir, path));
    if (pem === undefined) return `${path} missing`;
    const der = fromPem('X509 CRL', pem)[0];
    if (der === undefined) return `${path} unreadable`;
    const crl = parseCrl(der);
    const issuer = new X509Certificate(caCert.certPem);
    if (!crl.issuer.equals(subjectDerOf(issuer))) return `${path} is not from the current CA`;
    const remaining = (crl.nextUpdate?.getTime() ?? 0) - now.getTime();
    // The root CRL cannot be re-signed without the root key; it was made to last as the root.
    if (
      remaining < refreshCrlMs &&
      (path === layout.intermediateCrl || ca.root.keyPem !== undefined)
    ) {
      return `${path} nextUpdate is near`;
    }
  }
  if (!(await exists(join(dir, layout.crlChain)))) return `${layout.crlChain} missing`;
  return undefined;
}
