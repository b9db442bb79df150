/**
 * manifest.json: every file of the dev PKI with its role, mode, and for certificates the serial,
 * subject, notAfter and `x5t#S256`. It is derived from what is on disk after each command, so
 * it can never disagree with the files; it carries no timestamp of its own, so re-running a
 * command that changes nothing leaves it byte-identical.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCert } from './ca.js';
import { clientRoles, layout, roles } from './layout.js';
import { jsonFile, listTree, type PlannedFile } from './store.js';
import { fromPem, parseCrl } from './x509.js';

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

/** Files that belong to the repository or to other parts of Tollgate, not to the dev CA. */
const ignored = new Set(['README.md', '.gitignore', layout.manifest]);

/** Builds manifest.json from the directory as it is now. */
export async function buildManifest(dir: string, issuer: string): Promise<PlannedFile> {
  const entries: ManifestEntry[] = [];
  for (const { path, folder, mode } of await listTree(dir)) {
    if (folder || ignored.has(path) || path.includes('.tmp-')) continue;
    const role = roleOf(path);
    if (role === undefined) continue;
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
      } else if (
        path.endsWith('.pem') &&
        !/key\.pem$/.test(path) &&
        !path.endsWith('crl-chain.pem')
      ) {
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
  return jsonFile(layout.manifest, manifest);
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
