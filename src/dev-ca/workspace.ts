/**
 * The dev PKI directory as state: load the CA and the registry from it, plan the CA, CRL and
 * server files, and commit a plan. Every command is "load, plan, commit" and committing is
 * "refuse conflicts (unless --force), write, refresh the derived files", so that refusing never
 * leaves a partial write behind and EXAMPLES.md, manifest.json and the SPIFFE bundle never lag.
 */
import { X509Certificate } from 'node:crypto';
import { isAbsolute, join, relative } from 'node:path';
import { parseCertificate, subjectAltNames } from '../pki/index.js';
import type { ClientMetadata } from '../registry/metadata.js';
import {
  type CertificateInfo,
  type Clock,
  clockOf,
  type DevCa,
  defaultServerSans,
  describeCert,
  openDevCa,
} from './ca.js';
import type { RegistryFile } from './clients.js';
import { buildExamples, defaultIssuer, dirFlagOf } from './examples.js';
import type { DevKeyType } from './keys.js';
import { buildManifest, layout, readManifestIssuer } from './layout.js';
import { spiffeBundle } from './spiffe.js';
import {
  defined,
  exists,
  json,
  type MadeFile,
  Plan,
  type PlannedFile,
  readText,
  refuseConflicts,
  sharedFile,
  writeFiles,
} from './store.js';
import { formatIp } from './x509.js';

const dayMs = 86_400_000;

/** The server certificate's names: the defaults, then `extra`, each once. */
export function serverSans(extra: readonly string[] = []): string[] {
  return [...new Set([...defaultServerSans, ...extra])];
}

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
}

/** What `assertion` and `doctor` print instead of a list of files: text, or JSON with --json. */
export interface Printed {
  readonly text: string;
  readonly json: string;
  readonly code: number;
}

/** A PKI directory and how the command at hand may change it. */
export class Workspace {
  readonly dir: string;
  /** The directory as the user typed it, for messages and EXAMPLES.md. */
  readonly displayDir: string;
  readonly now: () => Date;
  /** `--force`: replace existing files. */
  readonly force: boolean;
  /** `--issuer`; default: the one recorded in manifest.json, else https://localhost:8443. */
  readonly issuer: string | undefined;

  constructor(options: {
    readonly dir: string;
    readonly displayDir?: string | undefined;
    readonly now?: Clock | undefined;
    readonly force?: boolean;
    readonly issuer?: string | undefined;
  }) {
    this.dir = options.dir;
    this.displayDir = options.displayDir ?? displayDirOf(options.dir);
    this.now = clockOf(options.now);
    this.force = options.force ?? false;
    this.issuer = options.issuer;
  }

  text(path: string): Promise<string | undefined> {
    return readText(join(this.dir, path));
  }

  has(path: string): Promise<boolean> {
    return exists(join(this.dir, path));
  }

  cert(path: string): Promise<CertOnDisk | undefined> {
    return readCert(join(this.dir, path));
  }

  /** `--dir X` as it has to be repeated in suggested commands. */
  get dirFlag(): string {
    return dirFlagOf(this.displayDir);
  }

  /** Opens the CA stored here; throws a TypeError naming the missing file. */
  async loadCa(): Promise<DevCa> {
    const read = async (path: string): Promise<string> => {
      const text = await this.text(path);
      if (text === undefined) {
        throw new TypeError(`no ${path} in ${this.dir}; run \`npm run dev-ca -- init\` first`);
      }
      return text;
    };
    return openDevCa({
      rootCertPem: await read(layout.rootCert),
      intermediateCertPem: await read(layout.intermediateCert),
      intermediateKeyPem: await read(layout.intermediateKey),
      ...defined({
        rootKeyPem: await this.text(layout.rootKey),
        rootCrlPem: await this.text(layout.rootCrl),
        intermediateCrlPem: await this.text(layout.intermediateCrl),
      }),
      now: this.now,
      profile: 'dev',
    });
  }

  /** registry.json, or an empty registry when there is none. */
  async registry(): Promise<RegistryFile> {
    const text = await this.text(layout.registry);
    if (text === undefined) return { clients: [] };
    const clients = (JSON.parse(text) as { clients?: unknown } | null)?.clients;
    if (!Array.isArray(clients))
      throw new TypeError(`${layout.registry}: expected {"clients": [...]}`);
    return { clients: clients as ClientMetadata[] };
  }

  /**
   * Writes `files` (refusing, unless `--force`, when a `create` file exists or `also` names a
   * conflict), then refreshes the derived files. Returns every path written.
   */
  async commit(
    files: readonly PlannedFile[],
    also: readonly string[] = [],
    issuer?: string,
  ): Promise<string[]> {
    if (!this.force) await refuseConflicts(this.dir, files, also);
    const written = await writeFiles(this.dir, files);
    const resolved = issuer ?? this.issuer ?? (await readManifestIssuer(this.dir)) ?? defaultIssuer;
    const { dir, displayDir } = this;
    const derived = [
      await buildExamples({ dir, displayDir, issuer: resolved, registry: await this.registry() }),
    ];
    // The SPIFFE bundle, once written, follows the root (a replaced CA gets a new bundle).
    const rootPem = await this.text(layout.rootCert);
    if (rootPem !== undefined && (await this.has(layout.spiffeBundle))) {
      derived.push(sharedFile(layout.spiffeBundle, json(await spiffeBundle(rootPem))));
    }
    written.push(...(await writeFiles(this.dir, derived)));
    // The manifest lists EXAMPLES.md, so it goes last.
    const manifest = await buildManifest(this.dir, resolved);
    written.push(...(await writeFiles(this.dir, [manifest])));
    return written;
  }

  /** Commits `plan` (see {@link commit}) and reports it: how most commands end. */
  async apply(
    command: string,
    plan: Plan,
    summary: string,
    next: readonly string[],
    warnings: readonly string[] = [],
    also: readonly string[] = [],
  ): Promise<CommandResult> {
    const written = await this.commit(plan.files, also);
    return this.report(command, summary, plan.made, written, next, warnings);
  }

  /** A command's report; every one ends by suggesting `doctor`. */
  report(
    command: string,
    summary: string,
    files: readonly MadeFile[],
    written: readonly string[],
    next: readonly string[],
    warnings: readonly string[] = [],
  ): CommandResult {
    const doctor = `npm run dev-ca -- doctor${this.dirFlag}`;
    return { command, dir: this.dir, summary, files, written, next: [...next, doctor], warnings };
  }
}

/** An absolute dir inside the working directory is shown relative to it, as users type it. */
function displayDirOf(dir: string): string {
  if (!isAbsolute(dir)) return dir;
  const rel = relative(process.cwd(), dir);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
}

/** The CA files: certificates, chain, intermediate key, and the root key only when kept. */
export function planCaFiles(ca: DevCa, keepRootKey: boolean): Plan {
  const plan = new Plan()
    .add(layout.rootCert, ca.root.certPem, 'root CA', { about: ca.root })
    .add(layout.intermediateCert, ca.intermediate.certPem, 'intermediate CA (issues every leaf)', {
      about: ca.intermediate,
    })
    .add(layout.caChain, ca.chainPem, 'CA chain (intermediate, root)')
    .add(layout.intermediateKey, ca.intermediate.keyPem, 'intermediate CA key (0600)', {
      secret: true,
    });
  if (keepRootKey && ca.root.keyPem !== undefined) {
    plan.add(layout.rootKey, ca.root.keyPem, 'root CA key (0600, --keep-root-key)', {
      secret: true,
    });
  }
  return plan;
}

/** Fresh CRLs for both CAs plus the combined file. */
export async function planCrlFiles(
  ca: DevCa,
  options: { readonly kind: PlannedFile['kind']; readonly nextUpdateDays?: number | undefined },
): Promise<Plan> {
  // The root only ever revokes the intermediate, and without --keep-root-key nothing can re-sign
  // its CRL later, so the root CRL always lasts as long as the root certificate.
  const rootDays = Math.floor((ca.root.notAfter.getTime() - ca.now().getTime()) / dayMs);
  const crls = await ca.crls({
    ...(options.nextUpdateDays === undefined ? {} : { nextUpdateDays: options.nextUpdateDays }),
    ...(ca.root.keyPem === undefined ? {} : { rootNextUpdateDays: Math.max(1, rootDays) }),
  });
  const { root, intermediate } = crls;
  const { kind } = options;
  const revoked = `${intermediate.entries.length} revoked`;
  return new Plan()
    .add(layout.rootCrl, root.pem, `root CRL (#${root.crlNumber}, next update)`, {
      kind,
      about: { notAfter: root.nextUpdate },
    })
    .add(
      layout.intermediateCrl,
      intermediate.pem,
      `intermediate CRL (#${intermediate.crlNumber}, ${revoked}, next update)`,
      { kind, about: { notAfter: intermediate.nextUpdate } },
    )
    .add(layout.crlChain, crls.combinedPem, 'both CRLs (for Node `crl`)', { kind });
}

/** The server certificate (full chain) and key. */
export async function planServerFiles(
  ca: DevCa,
  sans: readonly string[],
  keyType?: DevKeyType,
): Promise<Plan> {
  const server = await ca.issueServer({ sans, ...(keyType === undefined ? {} : { keyType }) });
  return new Plan()
    .add(
      layout.serverCert,
      server.chainPem,
      `server certificate + intermediate (serverAuth; ${sans.join(', ')})`,
      { about: server },
    )
    .add(layout.serverKey, server.keyPem, 'server key (0600)', { secret: true });
}

/** What a certificate on disk says about itself, for renewing and for doctor. */
export interface CertOnDisk extends CertificateInfo {
  readonly x509: X509Certificate;
  readonly sans: { dns: string[]; uri: string[]; ip: string[]; email: string[] };
}

/** Reads the first certificate of a PEM file, or undefined when the file is missing. */
export async function readCert(path: string): Promise<CertOnDisk | undefined> {
  const pem = await readText(path);
  if (pem === undefined) return undefined;
  const x509 = new X509Certificate(pem);
  // SANs by form, parsed by src/pki (Node's string form is ambiguous when values hold commas).
  const sans = subjectAltNames(parseCertificate(x509.raw));
  return {
    x509,
    ...describeCert(x509),
    sans: {
      dns: [...sans.dns],
      uri: [...sans.uri],
      ip: sans.ip.map(formatIp),
      email: [...sans.email],
    },
  };
}

/** True when `cert` was signed by the CA certificate `issuer`. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
