/**
 * The dev-ca commands that change one part of an existing PKI: `server`, `client`,
 * `self-signed`, `jwk`, `revoke`, `crl`, `negative`, `assertion`. Each loads the PKI, plans its
 * files, refuses to overwrite without `--force`, and refreshes EXAMPLES.md and manifest.json.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { JWK } from 'jose';
import { createClientAssertion } from '../client/assertion.js';
import { supportedAuthMethods, workloadAuthMethods } from '../registry/metadata.js';
import type { DevCa } from './ca.js';
import type { RevocationReason } from './crl.js';
import { type CommandResult, defaultServerSans, dirFlag, refreshDerived } from './ensure.js';
import { defaultIssuer } from './examples.js';
import { isSigningJwkAlg } from './jwk.js';
import { isDevKeyType } from './keys.js';
import {
  assertSafeClientId,
  clientPath,
  foreignCaFolder,
  layout,
  negativeFolder,
  publicMode,
} from './layout.js';
import { readManifestIssuer } from './manifest.js';
import { createNegativeFixtures } from './negative.js';
import { isMtlsBinding, upsertClient } from './registry.js';
import { spiffeBundle } from './spiffe.js';
import {
  ConflictError,
  commitFiles,
  exists,
  findConflicts,
  type MadeFile,
  Plan,
  type PlannedFile,
  readText,
} from './store.js';
import {
  type ClientSpec,
  type CommandContext,
  loadCa,
  planClient,
  planCrlFiles,
  planServerFiles,
  readCert,
  readRegistry,
  registryFile,
} from './workspace.js';

/** Options shared by the commands below. */
export interface CommandOptions extends CommandContext {
  /** The directory as typed, for messages and EXAMPLES.md. */
  readonly displayDir: string;
  /** `--issuer`; default: the one recorded in manifest.json, else https://localhost:8443. */
  readonly issuer?: string;
}

/** Re-issues the server certificate (`server [--san NAME]...`). */
export async function serverCommand(
  options: CommandOptions,
  args: { readonly sans: readonly string[]; readonly keyType?: string },
): Promise<CommandResult> {
  const ca = await loadCa(options);
  const keyType = args.keyType;
  if (keyType !== undefined && !isDevKeyType(keyType))
    throw new TypeError(`unknown key type ${keyType}`);
  const sans = [...new Set([...defaultServerSans, ...args.sans])];
  const planned = await planServerFiles(ca, {
    sans,
    ...(keyType === undefined ? {} : { keyType }),
  });
  const written = await commit(options, planned.files);
  return result(
    'server',
    options,
    `issued a server certificate for ${sans.join(', ')}`,
    planned.made,
    written,
    ['npm start (restart it if it is running)'],
  );
}

/** Creates clients from a spec list (`client ID [...]` or `client --file clients.json`). */
export async function clientCommand(
  options: CommandOptions,
  specs: readonly ClientSpec[],
  command: 'client' | 'sign' = 'client',
): Promise<CommandResult> {
  if (specs.length === 0) throw new TypeError('no clients given');
  const needsCa = specs.some((spec) => spec.method === 'tls_client_auth');
  // self-signed and private_key_jwt clients do not need the CA.
  const ca = needsCa ? await loadCa(options) : await loadCa(options).catch(() => undefined);
  let registry = await readRegistry(options.dir);
  const files: PlannedFile[] = [];
  const made: MadeFile[] = [];
  const existingIds: string[] = [];
  for (const spec of specs) {
    if (registry.clients.some((c) => c.client_id === spec.clientId))
      existingIds.push(spec.clientId);
    const plan = await planClient(ca, spec, { now: options.now });
    files.push(...plan.files);
    made.push(...plan.made);
    registry = upsertClient(registry, plan.entry);
  }
  if (!options.force) {
    const conflicts = await findConflicts(options.dir, files);
    conflicts.push(
      ...existingIds.map((id) => `${layout.registry} (client_id ${id} already registered)`),
    );
    if (conflicts.length > 0) throw new ConflictError(conflicts);
  }
  files.push(registryFile(registry, 'update'));
  made.push({
    path: layout.registry,
    role: `registered ${specs.map((s) => `${s.clientId} (${s.method})`).join(', ')}`,
  });
  const written = await commit(options, files);
  return result(
    command,
    options,
    command === 'sign'
      ? `signed the CSR of ${specs.map((s) => s.clientId).join(', ')} (the key stays with the client)`
      : `created ${specs.length} client(s): ${specs.map((s) => s.clientId).join(', ')}`,
    made,
    written,
    [
      'restart npm start (or let registry hot-reload pick it up)',
      `see ${join(options.displayDir, layout.examples)}`,
    ],
  );
}

/** Writes the trust domain's SPIFFE bundle next to the CA (`spiffe-bundle`). */
export async function spiffeBundleCommand(options: CommandOptions): Promise<CommandResult> {
  const ca = await loadCa(options);
  const bundle = await spiffeBundle(ca.root.certPem);
  const written = await commit(options, [
    {
      path: layout.spiffeBundle,
      content: `${JSON.stringify(bundle, null, 2)}\n`,
      mode: publicMode,
      kind: 'update',
    },
  ]);
  return result(
    'spiffe-bundle',
    options,
    'wrote the SPIFFE bundle of the dev root (one x509-svid key with x5c)',
    [{ path: layout.spiffeBundle, role: 'SPIFFE bundle (JWKS, use x509-svid)' }],
    written,
    ['issue X.509-SVIDs with: npm run dev-ca -- client ID --spiffe-id spiffe://TD/PATH'],
  );
}

/** Adds a revocation and re-signs the CRLs (`revoke TARGET [--reason R]`). */
export async function revokeCommand(
  options: CommandOptions,
  args: { readonly target: string; readonly reason: RevocationReason },
): Promise<CommandResult> {
  const ca = await loadCa(options);
  const target = await resolveRevocationTarget(options, ca, args.target);
  const entry = ca.revoke(target.value, args.reason);
  const planned = await planCrlFiles(ca, { kind: 'update' });
  const written = await commit(options, planned.files);
  return result(
    'revoke',
    options,
    `revoked ${target.label} (serial ${entry.serialHex}, reason ${entry.reason}) on the ${entry.serialHex === ca.intermediate.serialHex ? 'root' : 'intermediate'} CRL`,
    planned.made,
    written,
    [
      `openssl crl -in ${join(options.displayDir, layout.intermediateCrl)} -noout -text`,
      crlReloadNote,
    ],
  );
}

// Tollgate watches the CRL files (reload.pollIntervalSeconds) and reloads on SIGHUP: no restart.
const crlReloadNote =
  'a running Tollgate picks up the new CRLs by itself within reload.pollIntervalSeconds (default 5 s), or at once on SIGHUP';

/** Re-signs both CRLs with a fresh nextUpdate (`crl [--days N]`). */
export async function crlCommand(
  options: CommandOptions,
  args: { readonly days?: number },
): Promise<CommandResult> {
  const ca = await loadCa(options);
  const planned = await planCrlFiles(ca, {
    kind: 'update',
    ...(args.days === undefined ? {} : { nextUpdateDays: args.days }),
  });
  const written = await commit(options, planned.files);
  const warnings =
    ca.root.keyPem === undefined
      ? [
          'no root key (ca/root-key.pem): the root CRL was kept as signed at init, valid until the root expires',
        ]
      : [];
  return result(
    'crl',
    options,
    'refreshed the CRLs',
    planned.made,
    written,
    [crlReloadNote],
    warnings,
  );
}

/** Writes every negative fixture under negative/ and registers them (`negative`). */
export async function negativeCommand(options: CommandOptions): Promise<CommandResult> {
  const ca = await loadCa(options);
  const set = await createNegativeFixtures(ca);
  let registry = await readRegistry(options.dir);
  const plan = new Plan();
  for (const fixture of Object.values(set.fixtures)) {
    const path = (file: Parameters<typeof clientPath>[1]): string =>
      clientPath(fixture.clientId, file, negativeFolder);
    plan
      .add(
        path('cert'),
        fixture.cert.certPem,
        `negative fixture ${fixture.kind}: ${fixture.reason}`,
        {
          cert: fixture.cert,
        },
      )
      .add(path('key'), fixture.cert.keyPem, '', { secret: true, quiet: true })
      .add(path('chain'), fixture.presentedChainPem, '', { quiet: true });
    registry = upsertClient(registry, fixture.registration);
  }
  const foreign = set.foreignCa;
  plan
    .add(
      join(foreignCaFolder, 'root.pem'),
      foreign.root.certPem,
      'foreign CA with our subject DNs (for foreign-ca)',
    )
    .add(join(foreignCaFolder, 'intermediate.pem'), foreign.intermediate.certPem, '', {
      quiet: true,
    })
    .add(join(foreignCaFolder, 'chain.pem'), foreign.chainPem, '', { quiet: true });
  const { files, made } = plan;
  if (!options.force) {
    const conflicts = await findConflicts(options.dir, files);
    if (conflicts.length > 0) throw new ConflictError(conflicts);
  }
  const crls = await planCrlFiles(ca, { kind: 'update' });
  files.push(...crls.files, registryFile(registry, 'update'));
  made.push(...crls.made);
  const written = await commit(options, files);
  return result(
    'negative',
    options,
    `created ${Object.keys(set.fixtures).length} negative fixtures in ${join(options.displayDir, negativeFolder)} and registered them`,
    made,
    written,
    [`see "Negative fixtures" in ${join(options.displayDir, layout.examples)}`],
  );
}

/** Mints a client assertion for a private_key_jwt client (`assertion CLIENT_ID`). */
export async function assertionCommand(
  options: CommandOptions,
  args: { readonly clientId: string; readonly lifetimeSeconds?: number },
): Promise<CommandResult> {
  assertSafeClientId(args.clientId);
  const path = clientPath(args.clientId, 'privateJwk');
  const text = await readText(join(options.dir, path));
  if (text === undefined) {
    throw new TypeError(
      `no ${path} in ${options.displayDir}; make one with \`npm run dev-ca -- jwk ${args.clientId}\``,
    );
  }
  const key = JSON.parse(text) as JWK;
  const issuer = options.issuer ?? (await readManifestIssuer(options.dir)) ?? defaultIssuer;
  const assertion = await createClientAssertion({
    clientId: args.clientId,
    audience: issuer,
    key,
    nowSeconds: Math.floor(options.now().getTime() / 1000),
    ...(args.lifetimeSeconds === undefined ? {} : { lifetimeSeconds: args.lifetimeSeconds }),
  });
  return {
    command: 'assertion',
    dir: options.dir,
    summary: `client assertion for ${args.clientId}, aud ${issuer}`,
    files: [],
    written: [],
    next: [],
    warnings: [],
    data: { assertion, client_id: args.clientId, aud: issuer },
  };
}

/** Reads a declarative clients file: `{"clients": [{client_id, method?, subject?, ...}]}`. */
export async function readClientSpecs(path: string, cwd: string): Promise<ClientSpec[]> {
  const text = await readFile(isAbsolute(path) ? path : join(cwd, path), 'utf8');
  const parsed: unknown = JSON.parse(text);
  const list = Array.isArray(parsed) ? parsed : (parsed as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(list)) throw new TypeError(`${path}: expected {"clients": [...]}`);
  return list.map((item, index) => clientSpecFromJson(item, `${path}: clients[${index}]`));
}

const specFields = new Set([
  'client_id',
  'method',
  'subject',
  'san_dns',
  'san_uri',
  'san_ip',
  'san_email',
  'bind',
  'p12',
  'key_type',
  'alg',
  'scope',
  'validity_days',
  'spiffe_id',
]);

function clientSpecFromJson(item: unknown, where: string): ClientSpec {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new TypeError(`${where}: must be an object`);
  const record = item as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!specFields.has(key))
      throw new TypeError(`${where}: unknown field ${key} (known: ${[...specFields].join(', ')})`);
  }
  const str = (key: string): string | undefined => {
    const value = record[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '')
      throw new TypeError(`${where}.${key}: must be a non-empty string`);
    return value;
  };
  const list = (key: string): string[] | undefined => {
    const value = record[key];
    if (value === undefined) return undefined;
    const values = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) {
      throw new TypeError(`${where}.${key}: must be a string or an array of strings`);
    }
    return values as string[];
  };
  const clientId = str('client_id');
  if (clientId === undefined) throw new TypeError(`${where}.client_id: required`);
  const method = str('method') ?? 'tls_client_auth';
  const keyMethods = supportedAuthMethods.filter(
    (one) => !(workloadAuthMethods as readonly string[]).includes(one),
  );
  if (!(keyMethods as readonly string[]).includes(method)) {
    throw new TypeError(`${where}.method: one of ${keyMethods.join(', ')}`);
  }
  const bind = str('bind');
  if (bind !== undefined && !isMtlsBinding(bind))
    throw new TypeError(`${where}.bind: subject_dn, san_dns, san_uri, san_ip or san_email`);
  const keyType = str('key_type');
  if (keyType !== undefined && !isDevKeyType(keyType))
    throw new TypeError(`${where}.key_type: p256, p384, rsa2048, rsa3072 or ed25519`);
  const alg = str('alg');
  if (alg !== undefined && !isSigningJwkAlg(alg)) throw new TypeError(`${where}.alg: unsupported`);
  const p12 = record.p12;
  if (p12 !== undefined && typeof p12 !== 'boolean' && p12 !== 'legacy')
    throw new TypeError(`${where}.p12: true, false or "legacy" (3DES, SHA-1 MAC; RSA only)`);
  const validityDays = record.validity_days;
  if (validityDays !== undefined && (typeof validityDays !== 'number' || !(validityDays > 0))) {
    throw new TypeError(`${where}.validity_days: must be a positive number`);
  }
  const optional = <T>(key: string, value: T | undefined): Record<string, T> =>
    value === undefined ? {} : { [key]: value };
  return {
    clientId,
    method: method as ClientSpec['method'],
    ...optional('subject', str('subject')),
    ...optional('sanDns', list('san_dns')),
    ...optional('sanUri', list('san_uri')),
    ...optional('sanIp', list('san_ip')),
    ...optional('sanEmail', list('san_email')),
    ...optional('bind', bind),
    ...optional('p12', p12 as boolean | 'legacy' | undefined),
    ...optional('keyType', keyType),
    ...optional('alg', alg),
    ...optional('scope', str('scope')),
    ...optional('validityDays', validityDays as number | undefined),
    ...optional('spiffeId', str('spiffe_id')),
  } as ClientSpec;
}

async function resolveRevocationTarget(
  options: CommandOptions,
  ca: DevCa,
  target: string,
): Promise<{ value: string; label: string }> {
  if (target === 'server') {
    const cert = await readCert(join(options.dir, layout.serverCert));
    if (cert === undefined) throw new TypeError(`no ${layout.serverCert}`);
    return { value: cert.serialHex, label: 'the server certificate' };
  }
  if (target === 'intermediate')
    return { value: ca.intermediate.serialHex, label: 'the intermediate CA' };
  for (const folder of ['clients', negativeFolder]) {
    if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(target)) {
      const cert = await readCert(join(options.dir, folder, target, 'cert.pem'));
      if (cert !== undefined)
        return { value: cert.serialHex, label: `${target} (${folder}/${target}/cert.pem)` };
    }
  }
  const asPath = isAbsolute(target) ? target : join(process.cwd(), target);
  if (target.endsWith('.pem') && (await exists(asPath))) {
    const cert = await readCert(asPath);
    if (cert !== undefined) return { value: cert.serialHex, label: target };
  }
  if (/^[0-9A-Fa-f:]+$/.test(target)) return { value: target, label: `serial ${target}` };
  throw new TypeError(
    `cannot find what to revoke: ${target} (give a client_id, "server", a serial, or a .pem path)`,
  );
}

async function commit(options: CommandOptions, files: readonly PlannedFile[]): Promise<string[]> {
  const written = await commitFiles(options.dir, files, { force: options.force });
  const issuer = options.issuer ?? (await readManifestIssuer(options.dir)) ?? defaultIssuer;
  written.push(...(await refreshDerived(options.dir, options.displayDir, issuer)));
  return written;
}

function result(
  command: string,
  options: CommandOptions,
  summary: string,
  files: readonly MadeFile[],
  written: readonly string[],
  next: readonly string[],
  warnings: readonly string[] = [],
): CommandResult {
  return {
    command,
    dir: options.dir,
    summary,
    files,
    written,
    next: [...next, `npm run dev-ca -- doctor${dirFlag(options.displayDir)}`],
    warnings,
  };
}
