/**
 * The dev PKI directory as state: load the CA and the registry from it, and plan the files a
 * command writes. Every command is "load, plan, check conflicts, commit, refresh the derived
 * files" so that refusing (no `--force`) never leaves a partial write behind.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import type { ClientAuthMethod, ClientMetadata } from '../registry/metadata.js';
import {
  type DevCa,
  type DevCaCrls,
  describeCert,
  type IssuedClientCertificate,
  openDevCa,
  x5tS256,
} from './ca.js';
import type { SigningJwkAlg } from './jwk.js';
import { generateSigningJwk } from './jwk.js';
import type { DevKeyType } from './keys.js';
import {
  assertSafeClientId,
  clientPath,
  clientsFolder,
  layout,
  privateMode,
  publicMode,
} from './layout.js';
import { createPkcs12 } from './pkcs12.js';
import { createLegacyPkcs12 } from './pkcs12-legacy.js';
import {
  type MtlsBinding,
  privateKeyJwtEntry,
  type RegistryFile,
  selfSignedEntry,
  tlsClientAuthEntry,
} from './registry.js';
import { createSelfSignedClient } from './self-signed.js';
import { type PlannedFile, readText } from './store.js';
import { formatIp } from './x509.js';

const dayMs = 86_400_000;

/** Shared by every command. */
export interface CommandContext {
  /** Absolute or cwd-relative PKI directory. */
  readonly dir: string;
  readonly now: () => Date;
  readonly force: boolean;
}

/** One file a command made, as reported to the user. */
export interface MadeFile {
  readonly path: string;
  readonly role: string;
  readonly subject?: string;
  readonly serial?: string;
  readonly notAfter?: Date;
}

/** A client to create, from flags or from a declarative JSON file. */
export interface ClientSpec {
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  /** tls_client_auth and self-signed: RFC 4514 subject. */
  readonly subject?: string;
  readonly sanDns?: readonly string[];
  readonly sanUri?: readonly string[];
  readonly sanIp?: readonly string[];
  readonly sanEmail?: readonly string[];
  /** tls_client_auth: which attribute the registration binds to. Default `subject_dn`. */
  readonly bind?: MtlsBinding;
  /**
   * Also write a PKCS#12 bundle and its password file: `true` for the modern form (PBES2,
   * AES-256-CBC, SHA-256 MAC; any key type), `'legacy'` for the form macOS Keychain and Java
   * before 8u301 / 11.0.12 import (3DES, SHA-1 MAC; RSA client key and RSA CA only).
   */
  readonly p12?: boolean | 'legacy';
  readonly keyType?: DevKeyType;
  /** private_key_jwt: the signing algorithm. Default ES256. */
  readonly alg?: SigningJwkAlg;
  readonly scope?: string;
  /** RFC 8707 resource indicators the client may ask tokens for (`allowed_resources`). */
  readonly allowedResources?: readonly string[];
  readonly validityDays?: number;
}

/**
 * The demo API's identifier (the protected API of the README and examples/): the demo clients may
 * ask tokens for it (`resource`), and the API checks it as `aud`. One audience, registration to API.
 */
export const demoApiAudience = 'https://localhost:9443';

/** The three clients `init` and `ensure` make, one per authentication method. */
export const demoClients: readonly ClientSpec[] = [
  {
    clientId: 'demo-jwt',
    method: 'private_key_jwt',
    alg: 'ES256',
    allowedResources: [demoApiAudience],
  },
  {
    clientId: 'demo-mtls',
    method: 'tls_client_auth',
    subject: 'CN=demo-mtls,O=Tollgate Dev,C=US',
    bind: 'subject_dn',
    allowedResources: [demoApiAudience],
  },
  {
    clientId: 'demo-self-signed',
    method: 'self_signed_tls_client_auth',
    allowedResources: [demoApiAudience],
  },
];

/** Opens the CA stored in `dir`; throws a TypeError naming the missing file. */
export async function loadCa(ctx: CommandContext): Promise<DevCa> {
  const read = async (path: string): Promise<string> => {
    const text = await readText(join(ctx.dir, path));
    if (text === undefined) {
      throw new TypeError(`no ${path} in ${ctx.dir}; run \`npm run dev-ca -- init\` first`);
    }
    return text;
  };
  const rootKeyPem = await readText(join(ctx.dir, layout.rootKey));
  const rootCrlPem = await readText(join(ctx.dir, layout.rootCrl));
  const intermediateCrlPem = await readText(join(ctx.dir, layout.intermediateCrl));
  return openDevCa({
    rootCertPem: await read(layout.rootCert),
    intermediateCertPem: await read(layout.intermediateCert),
    intermediateKeyPem: await read(layout.intermediateKey),
    ...(rootKeyPem === undefined ? {} : { rootKeyPem }),
    ...(rootCrlPem === undefined ? {} : { rootCrlPem }),
    ...(intermediateCrlPem === undefined ? {} : { intermediateCrlPem }),
    now: ctx.now,
    profile: 'dev',
  });
}

/** Reads registry.json, or an empty registry when there is none. */
export async function readRegistry(dir: string): Promise<RegistryFile> {
  const text = await readText(join(dir, layout.registry));
  if (text === undefined) return { clients: [] };
  const parsed: unknown = JSON.parse(text);
  const clients = (parsed as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(clients))
    throw new TypeError(`${layout.registry}: expected {"clients": [...]}`);
  return { clients: clients as ClientMetadata[] };
}

/** registry.json as written: two-space JSON and a final newline, so diffs stay readable. */
export function registryFile(registry: RegistryFile, kind: PlannedFile['kind']): PlannedFile {
  return {
    path: layout.registry,
    content: `${JSON.stringify(registry, null, 2)}\n`,
    mode: publicMode,
    kind,
  };
}

/** The CA files: certificates, chain, intermediate key, and the root key only when kept. */
export function planCaFiles(
  ca: DevCa,
  keepRootKey: boolean,
): { files: PlannedFile[]; made: MadeFile[] } {
  const files: PlannedFile[] = [
    { path: layout.rootCert, content: ca.root.certPem, mode: publicMode, kind: 'create' },
    {
      path: layout.intermediateCert,
      content: ca.intermediate.certPem,
      mode: publicMode,
      kind: 'create',
    },
    { path: layout.caChain, content: ca.chainPem, mode: publicMode, kind: 'create' },
    {
      path: layout.intermediateKey,
      content: ca.intermediate.keyPem,
      mode: privateMode,
      kind: 'create',
    },
  ];
  const made: MadeFile[] = [
    {
      path: layout.rootCert,
      role: 'root CA',
      subject: ca.root.subject,
      serial: ca.root.serialHex,
      notAfter: ca.root.notAfter,
    },
    {
      path: layout.intermediateCert,
      role: 'intermediate CA (issues every leaf)',
      subject: ca.intermediate.subject,
      serial: ca.intermediate.serialHex,
      notAfter: ca.intermediate.notAfter,
    },
    { path: layout.caChain, role: 'CA chain (intermediate, root)' },
    { path: layout.intermediateKey, role: 'intermediate CA key (0600)' },
  ];
  if (keepRootKey && ca.root.keyPem !== undefined) {
    files.push({
      path: layout.rootKey,
      content: ca.root.keyPem,
      mode: privateMode,
      kind: 'create',
    });
    made.push({ path: layout.rootKey, role: 'root CA key (0600, --keep-root-key)' });
  }
  return { files, made };
}

/** Fresh CRLs for both CAs plus the combined file. */
export async function planCrlFiles(
  ca: DevCa,
  options: { readonly kind: PlannedFile['kind']; readonly nextUpdateDays?: number },
): Promise<{ files: PlannedFile[]; made: MadeFile[]; crls: DevCaCrls }> {
  const now = ca.now();
  // The root only ever revokes the intermediate, and without --keep-root-key nothing can re-sign
  // its CRL later, so the root CRL always lasts as long as the root certificate.
  const rootDays = Math.max(1, Math.floor((ca.root.notAfter.getTime() - now.getTime()) / dayMs));
  const crls = await ca.crls({
    ...(options.nextUpdateDays === undefined ? {} : { nextUpdateDays: options.nextUpdateDays }),
    ...(ca.root.keyPem === undefined ? {} : { rootNextUpdateDays: rootDays }),
  });
  const files: PlannedFile[] = [
    { path: layout.rootCrl, content: crls.root.pem, mode: publicMode, kind: options.kind },
    {
      path: layout.intermediateCrl,
      content: crls.intermediate.pem,
      mode: publicMode,
      kind: options.kind,
    },
    { path: layout.crlChain, content: crls.combinedPem, mode: publicMode, kind: options.kind },
  ];
  const made: MadeFile[] = [
    {
      path: layout.rootCrl,
      role: `root CRL (#${crls.root.crlNumber}, next update)`,
      notAfter: crls.root.nextUpdate,
    },
    {
      path: layout.intermediateCrl,
      role: `intermediate CRL (#${crls.intermediate.crlNumber}, ${crls.intermediate.entries.length} revoked, next update)`,
      notAfter: crls.intermediate.nextUpdate,
    },
    { path: layout.crlChain, role: 'both CRLs (for Node `crl`)' },
  ];
  return { files, made, crls };
}

/** The server certificate (full chain) and key. */
export async function planServerFiles(
  ca: DevCa,
  options: { readonly sans: readonly string[]; readonly keyType?: DevKeyType },
): Promise<{ files: PlannedFile[]; made: MadeFile[] }> {
  const server = await ca.issueServer({
    sans: options.sans,
    ...(options.keyType === undefined ? {} : { keyType: options.keyType }),
  });
  return {
    files: [
      { path: layout.serverCert, content: server.chainPem, mode: publicMode, kind: 'create' },
      { path: layout.serverKey, content: server.keyPem, mode: privateMode, kind: 'create' },
    ],
    made: [
      {
        path: layout.serverCert,
        role: `server certificate + intermediate (serverAuth; ${options.sans.join(', ')})`,
        subject: server.subject,
        serial: server.serialHex,
        notAfter: server.notAfter,
      },
      { path: layout.serverKey, role: 'server key (0600)' },
    ],
  };
}

/** Files and registry entry for one client of any method. */
export async function planClient(
  ca: DevCa | undefined,
  spec: ClientSpec,
  options: { readonly folder?: string; readonly now?: () => Date } = {},
): Promise<{
  files: PlannedFile[];
  made: MadeFile[];
  entry: ClientMetadata;
  cert?: IssuedClientCertificate;
}> {
  assertSafeClientId(spec.clientId);
  const folder = options.folder ?? clientsFolder;
  const path = (file: Parameters<typeof clientPath>[1]): string =>
    clientPath(spec.clientId, file, folder);
  const common = {
    ...(spec.scope === undefined ? {} : { scope: spec.scope }),
    ...(spec.allowedResources === undefined ? {} : { allowedResources: spec.allowedResources }),
  };
  switch (spec.method) {
    case 'private_key_jwt': {
      const jwk = await generateSigningJwk(spec.alg ?? 'ES256');
      return {
        files: [
          {
            path: path('privateJwk'),
            content: `${JSON.stringify(jwk.privateJwk, null, 2)}\n`,
            mode: privateMode,
            kind: 'create',
          },
          {
            path: path('publicJwk'),
            content: `${JSON.stringify(jwk.publicJwk, null, 2)}\n`,
            mode: publicMode,
            kind: 'create',
          },
        ],
        made: [
          {
            path: path('privateJwk'),
            role: `private_key_jwt signing key ${jwk.alg} (0600), kid ${jwk.kid}`,
          },
          { path: path('publicJwk'), role: 'public JWK (registered in registry.json)' },
        ],
        entry: privateKeyJwtEntry(spec.clientId, jwk.publicJwk, common),
      };
    }
    case 'self_signed_tls_client_auth': {
      const client = await createSelfSignedClient({
        clientId: spec.clientId,
        ...(spec.subject === undefined ? {} : { subject: spec.subject }),
        ...(spec.keyType === undefined ? {} : { keyType: spec.keyType }),
        now: options.now?.() ?? ca?.now() ?? new Date(),
        validityDays: spec.validityDays ?? 30,
      });
      return {
        files: [
          { path: path('cert'), content: client.certPem, mode: publicMode, kind: 'create' },
          { path: path('key'), content: client.keyPem, mode: privateMode, kind: 'create' },
          {
            path: path('publicJwk'),
            content: `${JSON.stringify(client.jwk, null, 2)}\n`,
            mode: publicMode,
            kind: 'create',
          },
        ],
        made: [
          {
            path: path('cert'),
            role: 'self-signed client certificate (clientAuth)',
            subject: client.subject,
            serial: client.serialHex,
            notAfter: client.notAfter,
          },
          { path: path('key'), role: 'client key (0600)' },
          { path: path('publicJwk'), role: 'JWK with x5c (registered in registry.json)' },
        ],
        entry: selfSignedEntry(spec.clientId, client.jwk, common),
      };
    }
    case 'tls_client_auth': {
      if (ca === undefined)
        throw new TypeError(`${spec.clientId}: tls_client_auth needs the CA; run init first`);
      // Refuse before generating anything: the legacy writer (node-forge) handles RSA only.
      if (spec.p12 === 'legacy') assertLegacyPkcs12Possible(spec, ca);
      const cert = await ca.issueClient({
        clientId: spec.clientId,
        ...(spec.subject === undefined ? {} : { subject: spec.subject }),
        ...(spec.sanDns === undefined ? {} : { sanDns: spec.sanDns }),
        ...(spec.sanUri === undefined ? {} : { sanUri: spec.sanUri }),
        ...(spec.sanIp === undefined ? {} : { sanIp: spec.sanIp }),
        ...(spec.sanEmail === undefined ? {} : { sanEmail: spec.sanEmail }),
        ...(spec.keyType === undefined ? {} : { keyType: spec.keyType }),
        ...(spec.validityDays === undefined ? {} : { validityDays: spec.validityDays }),
      });
      const files: PlannedFile[] = [
        { path: path('cert'), content: cert.certPem, mode: publicMode, kind: 'create' },
        { path: path('key'), content: cert.keyPem, mode: privateMode, kind: 'create' },
        { path: path('chain'), content: cert.chainPem, mode: publicMode, kind: 'create' },
      ];
      const made: MadeFile[] = [
        {
          path: path('cert'),
          role: 'client certificate (clientAuth)',
          subject: cert.subject,
          serial: cert.serialHex,
          notAfter: cert.notAfter,
        },
        { path: path('key'), role: 'client key (0600)' },
        { path: path('chain'), role: 'client certificate + intermediate (for curl --cert)' },
      ];
      if (spec.p12 === true || spec.p12 === 'legacy') {
        const password = randomPassword();
        const bundle = {
          keyPem: cert.keyPem,
          certsPem: `${cert.chainPem}${ca.root.certPem}`,
          password,
          friendlyName: spec.clientId,
        };
        const p12 = spec.p12 === 'legacy' ? createLegacyPkcs12(bundle) : await createPkcs12(bundle);
        files.push(
          { path: path('p12'), content: p12, mode: privateMode, kind: 'create' },
          {
            path: path('p12Password'),
            content: `${password}\n`,
            mode: privateMode,
            kind: 'create',
          },
        );
        made.push(
          {
            path: path('p12'),
            role:
              spec.p12 === 'legacy'
                ? 'PKCS#12, legacy form for macOS Keychain and old Java (3DES, SHA-1 MAC; 0600)'
                : 'PKCS#12 (AES-256-CBC, SHA-256 MAC; 0600)',
          },
          { path: path('p12Password'), role: 'PKCS#12 password (0600)' },
        );
      }
      return {
        files,
        made,
        entry: tlsClientAuthEntry(spec.clientId, cert, spec.bind ?? 'subject_dn', common),
        cert,
      };
    }
  }
}

/** Throws a TypeError naming the fix when a legacy PKCS#12 cannot be made for this client. */
function assertLegacyPkcs12Possible(spec: ClientSpec, ca: DevCa): void {
  const keyType = spec.keyType ?? ca.intermediate.keyType;
  const modern = 'or use --p12 for the modern bundle, which takes any key type';
  if (!keyType.startsWith('rsa')) {
    throw new TypeError(
      `${spec.clientId}: --p12-legacy needs an RSA client key, not ${keyType}: the legacy PKCS#12 (3DES, SHA-1 MAC) is written by node-forge, which wraps RSA keys only. Use --key-type rsa2048 (with an RSA CA), ${modern}`,
    );
  }
  const caKeyType = [ca.intermediate.keyType, ca.root.keyType].find((t) => !t.startsWith('rsa'));
  if (caKeyType !== undefined) {
    throw new TypeError(
      `${spec.clientId}: --p12-legacy needs an RSA CA, and this one is ${caKeyType}: node-forge bundles only RSA certificates signed with RSA. Create the PKI with init --key-type rsa2048, ${modern}`,
    );
  }
}

/** A random 192-bit password, base64url (no shell-special characters). */
function randomPassword(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(24))).toString('base64url');
}

/** What a certificate on disk says about itself, for reissuing and for doctor. */
export interface CertOnDisk {
  readonly x509: X509Certificate;
  readonly subject: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType: DevKeyType;
  readonly x5tS256: string;
  readonly sans: { dns: string[]; uri: string[]; ip: string[]; email: string[] };
  readonly selfSigned: boolean;
}

/** Reads the first certificate of a PEM file, or undefined when the file is missing. */
export async function readCert(path: string): Promise<CertOnDisk | undefined> {
  const pem = await readText(path);
  if (pem === undefined) return undefined;
  const x509 = new X509Certificate(pem);
  const info = describeCert(x509);
  return {
    x509,
    ...info,
    x5tS256: x5tS256(x509.raw),
    sans: sansOf(x509.raw),
    selfSigned: x509.subject === x509.issuer && x509.verify(x509.publicKey),
  };
}

/** SANs by form, parsed with pkijs (Node's string form is ambiguous when values hold commas). */
export function sansOf(der: Buffer): {
  dns: string[];
  uri: string[];
  ip: string[];
  email: string[];
} {
  const out = {
    dns: [] as string[],
    uri: [] as string[],
    ip: [] as string[],
    email: [] as string[],
  };
  const cert = pkijs.Certificate.fromBER(der);
  const ext = cert.extensions?.find((e) => e.extnID === pkijs.id_SubjectAltName);
  if (ext === undefined) return out;
  const names = pkijs.AltName.fromBER(ext.extnValue.valueBlock.valueHexView);
  for (const name of names.altNames) {
    if (name.type === 1) out.email.push(String(name.value));
    else if (name.type === 2) out.dns.push(String(name.value));
    else if (name.type === 6) out.uri.push(String(name.value));
    else if (name.type === 7) {
      const bytes = Buffer.from(
        (name.value as { valueBlock: { valueHexView: Uint8Array } }).valueBlock.valueHexView,
      );
      out.ip.push(formatIp(bytes));
    }
  }
  return out;
}

/** True when `cert` was signed by the CA certificate `issuer`. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
