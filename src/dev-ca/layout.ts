/**
 * The on-disk layout of a dev PKI directory (default `certs/`), and manifest.json, which lists it
 * as it is. Tollgate's server defaults read these paths, so they are a contract: change them only
 * together with src/config.
 *
 * manifest.json holds every file of the dev PKI with its role, mode, and for certificates the
 * serial, subject, notAfter and `x5t#S256`. It is derived from what is on disk after each command,
 * so it can never disagree with the files; it carries no timestamp of its own, so re-running a
 * command that changes nothing leaves it byte-identical.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCert } from './ca.js';
import { json, listTree, type PlannedFile, sharedFile } from './store.js';
import { fromPem, parseCrl } from './x509.js';

/** Every file of the PKI directory: its path (relative to the directory) and its role. */
const files = {
  rootCert: ['ca/root.pem', 'root CA certificate (trust anchor; curl --cacert)'],
  rootKey: ['ca/root-key.pem', 'root CA private key'],
  intermediateCert: ['ca/intermediate.pem', 'intermediate CA certificate (issues every leaf)'],
  intermediateKey: ['ca/intermediate-key.pem', 'intermediate CA private key'],
  caChain: ['ca/chain.pem', 'CA chain: intermediate then root'],
  rootCrl: ['ca/root.crl.pem', 'root CRL'],
  intermediateCrl: ['ca/intermediate.crl.pem', 'intermediate CRL'],
  // Node's `crl` option needs one CRL per CA of the chain.
  crlChain: ['ca/crl-chain.pem', 'both CRLs (Node tls `crl`)'],
  // Written on demand (`client --spiffe-id`, `spiffe-bundle`).
  spiffeBundle: [
    'ca/spiffe-bundle.json',
    'SPIFFE bundle of the trust domain (JWKS, use x509-svid)',
  ],
  serverCert: ['server/server.pem', 'server certificate chain: leaf then intermediate'],
  serverKey: ['server/server-key.pem', 'server private key'],
  registry: ['registry.json', 'client registry (RFC 7591 metadata)'],
  manifest: ['manifest.json', 'manifest'],
  examples: ['EXAMPLES.md', 'curl examples'],
} as const;

/** Per-client files, under `clients/<client_id>/` (or `negative/<client_id>/` for fixtures). */
const perClient = {
  cert: ['cert.pem', 'certificate'],
  key: ['key.pem', 'private key'],
  // What `curl --cert` should send.
  chain: ['chain.pem', 'certificate chain presented in TLS'],
  // A `sign` client's request: its key never leaves the client host.
  csr: ['request.csr', 'PKCS#10 request it was signed from (the key stays with the client)'],
  p12: ['client.p12', 'PKCS#12 bundle'],
  p12Password: ['client.p12.password', 'PKCS#12 password'],
  privateJwk: ['private.jwk.json', 'private signing JWK'],
  publicJwk: ['public.jwk.json', 'public JWK'],
} as const;

const pathsOf = <T extends Record<string, readonly [string, string]>>(table: T) =>
  Object.fromEntries(Object.entries(table).map(([name, [path]]) => [name, path])) as {
    readonly [K in keyof T]: T[K][0];
  };

/** Paths relative to the PKI directory. */
export const layout = pathsOf(files);
/** File names in a client's folder. */
export const clientFiles = pathsOf(perClient);
/** The role of each file the dev CA makes, by path. */
export const roles: ReadonlyMap<string, string> = new Map(Object.values(files));
/** The role of each file in a client's folder, by file name. */
export const clientRoles: ReadonlyMap<string, string> = new Map(Object.values(perClient));

export const clientsFolder = 'clients';
export const negativeFolder = 'negative';
/** The look-alike CA of the `foreign-ca` fixture. */
export const foreignCaFolder = 'negative/foreign-ca';

/** `clients/<id>/<file>` (or under `negative/`). */
export function clientPath(
  clientId: string,
  file: keyof typeof clientFiles,
  folder = clientsFolder,
): string {
  return join(folder, clientId, clientFiles[file]);
}

/** client_ids become folder names: keep them to a safe, portable alphabet. */
export function assertSafeClientId(clientId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(clientId) || clientId.includes('..')) {
    throw new TypeError(
      `dev-ca: client_id ${JSON.stringify(clientId)} must be 1-128 of A-Z a-z 0-9 . _ - (it names a folder)`,
    );
  }
}

export interface ManifestEntry {
  path: string;
  role: string;
  mode: string;
  subject?: string;
  serial?: string;
  notAfter?: string;
  'x5t#S256'?: string;
  nextUpdate?: string;
  revoked?: string[];
  kid?: string;
  alg?: string;
}

/** The issuer recorded by the last command, so later commands keep EXAMPLES.md consistent. */
export async function readManifestIssuer(dir: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(dir, layout.manifest), 'utf8');
    const issuer = (JSON.parse(text) as { issuer?: unknown }).issuer;
    return typeof issuer === 'string' ? issuer : undefined;
  } catch {
    return undefined;
  }
}

/** Builds manifest.json from the directory as it is now. */
export async function buildManifest(dir: string, issuer: string): Promise<PlannedFile> {
  const entries: ManifestEntry[] = [];
  for (const { path, folder, mode } of await listTree(dir)) {
    // Files the dev CA did not make (README.md, .gitignore) have no role; nor does a temp file.
    const role = folder || path.includes('.tmp-') ? undefined : roleOf(path);
    if (role === undefined || path === layout.manifest) continue;
    const absolute = join(dir, path);
    const entry: ManifestEntry = { path, role, mode: `0${mode.toString(8)}` };
    try {
      if (path.endsWith('.crl.pem')) {
        const der = fromPem('X509 CRL', await readFile(absolute, 'utf8'))[0];
        if (der !== undefined) {
          const crl = parseCrl(der);
          if (crl.nextUpdate !== undefined) entry.nextUpdate = crl.nextUpdate.toISOString();
          entry.revoked = crl.entries.map((e) => `${e.serialHex} (${e.reason})`);
        }
      } else if (path.endsWith('.pem') && !/(key|crl-chain)\.pem$/.test(path)) {
        const info = describeCert(new X509Certificate(await readFile(absolute)));
        entry.subject = info.subject;
        entry.serial = info.serialHex;
        entry.notAfter = info.notAfter.toISOString();
        entry['x5t#S256'] = info.x5tS256;
      } else if (path.endsWith('.jwk.json')) {
        const jwk = JSON.parse(await readFile(absolute, 'utf8')) as {
          kid?: unknown;
          alg?: unknown;
        };
        if (typeof jwk.kid === 'string') entry.kid = jwk.kid;
        if (typeof jwk.alg === 'string') entry.alg = jwk.alg;
      }
    } catch {
      entry.role = `${role} (unreadable)`;
    }
    entries.push(entry);
  }
  const manifest = { generator: 'tollgate dev-ca', layoutVersion: 1, issuer, files: entries };
  return sharedFile(layout.manifest, json(manifest));
}

/** The role of a known file, or undefined for files the dev CA did not make. */
function roleOf(path: string): string | undefined {
  const direct = roles.get(path);
  if (direct !== undefined) return direct;
  const parts = path.split('/');
  if (parts[0] === 'negative' && parts[1] === 'foreign-ca') {
    return `negative fixture: foreign CA with our subject DNs (${parts[2] ?? ''})`;
  }
  if ((parts[0] === 'clients' || parts[0] === 'negative') && parts.length === 3) {
    const prefix =
      parts[0] === 'negative' ? `negative fixture ${parts[1]}: ` : `client ${parts[1]}: `;
    const role = clientRoles.get(parts[2] ?? '');
    return role === undefined ? undefined : `${prefix}${role}`;
  }
  return undefined;
}
