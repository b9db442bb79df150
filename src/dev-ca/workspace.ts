/**
 * The dev PKI directory as state: load the CA and the registry from it, and plan the files a
 * command writes. Every command is "load, plan, check conflicts, commit, refresh the derived
 * files" so that refusing (no `--force`) never leaves a partial write behind.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { encodePem, parseCertificate, subjectAltNames } from '../pki/index.js';
import type { ClientAuthMethod, ClientMetadata, WorkloadAuthMethod } from '../registry/metadata.js';
import {
  type DevCa,
  type DevCaCrls,
  describeCert,
  openDevCa,
  type SignClientOptions,
  type SignedClientCertificate,
  x5tS256,
} from './ca.js';
import { readCertificateRequest } from './csr.js';
import type { SigningJwkAlg } from './jwk.js';
import { generateSigningJwk } from './jwk.js';
import type { DevKeyType } from './keys.js';
import { assertSafeClientId, clientPath, clientsFolder, layout, publicMode } from './layout.js';
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
import { spiffeBundle } from './spiffe.js';
import { Plan, type PlannedFile, readText } from './store.js';
import { ekuOids, formatIp } from './x509.js';

const dayMs = 86_400_000;

/** Shared by every command. */
export interface CommandContext {
  /** Absolute or cwd-relative PKI directory. */
  readonly dir: string;
  readonly now: () => Date;
  readonly force: boolean;
}

/** A client to create, from flags or from a declarative JSON file. */
export interface ClientSpec {
  readonly clientId: string;
  /** Methods with a key or certificate of the client's own (workload clients have none). */
  readonly method: Exclude<ClientAuthMethod, WorkloadAuthMethod>;
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
  /** tls_client_auth: sign this PKCS#10 request (PEM) instead of generating a key. */
  readonly csrPem?: string;
  /** tls_client_auth: issue an X.509-SVID for this SPIFFE ID (bound by `san_uri` by default). */
  readonly spiffeId?: string;
  /** tls_client_auth from a CSR: the EKUs to issue and to allow in it. Default clientAuth. */
  readonly eku?: readonly string[];
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
  return { path: layout.registry, content: json(registry), mode: publicMode, kind };
}

/** JSON files as the dev CA writes them. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** The CA files: certificates, chain, intermediate key, and the root key only when kept. */
export function planCaFiles(ca: DevCa, keepRootKey: boolean): Plan {
  const plan = new Plan()
    .add(layout.rootCert, ca.root.certPem, 'root CA', { cert: ca.root })
    .add(layout.intermediateCert, ca.intermediate.certPem, 'intermediate CA (issues every leaf)', {
      cert: ca.intermediate,
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
  options: { readonly kind: PlannedFile['kind']; readonly nextUpdateDays?: number },
): Promise<Plan & { crls: DevCaCrls }> {
  const now = ca.now();
  // The root only ever revokes the intermediate, and without --keep-root-key nothing can re-sign
  // its CRL later, so the root CRL always lasts as long as the root certificate.
  const rootDays = Math.max(1, Math.floor((ca.root.notAfter.getTime() - now.getTime()) / dayMs));
  const crls = await ca.crls({
    ...(options.nextUpdateDays === undefined ? {} : { nextUpdateDays: options.nextUpdateDays }),
    ...(ca.root.keyPem === undefined ? {} : { rootNextUpdateDays: rootDays }),
  });
  const { root, intermediate } = crls;
  const kind = options.kind;
  const plan = new Plan();
  plan.made.push(
    {
      path: layout.rootCrl,
      role: `root CRL (#${root.crlNumber}, next update)`,
      notAfter: root.nextUpdate,
    },
    {
      path: layout.intermediateCrl,
      role: `intermediate CRL (#${intermediate.crlNumber}, ${intermediate.entries.length} revoked, next update)`,
      notAfter: intermediate.nextUpdate,
    },
  );
  plan
    .add(layout.rootCrl, root.pem, '', { kind, quiet: true })
    .add(layout.intermediateCrl, intermediate.pem, '', { kind, quiet: true })
    .add(layout.crlChain, crls.combinedPem, 'both CRLs (for Node `crl`)', { kind });
  return Object.assign(plan, { crls });
}

/** The server certificate (full chain) and key. */
export async function planServerFiles(
  ca: DevCa,
  options: { readonly sans: readonly string[]; readonly keyType?: DevKeyType },
): Promise<Plan> {
  const server = await ca.issueServer({
    sans: options.sans,
    ...(options.keyType === undefined ? {} : { keyType: options.keyType }),
  });
  return new Plan()
    .add(
      layout.serverCert,
      server.chainPem,
      `server certificate + intermediate (serverAuth; ${options.sans.join(', ')})`,
      { cert: server },
    )
    .add(layout.serverKey, server.keyPem, 'server key (0600)', { secret: true });
}

/** Files and registry entry for one client of any method. */
export async function planClient(
  ca: DevCa | undefined,
  spec: ClientSpec,
  options: { readonly folder?: string; readonly now?: () => Date } = {},
): Promise<Plan & { entry: ClientMetadata }> {
  assertSafeClientId(spec.clientId);
  const folder = options.folder ?? clientsFolder;
  const path = (file: Parameters<typeof clientPath>[1]): string =>
    clientPath(spec.clientId, file, folder);
  const common = {
    ...(spec.scope === undefined ? {} : { scope: spec.scope }),
    ...(spec.allowedResources === undefined ? {} : { allowedResources: spec.allowedResources }),
  };
  const plan = new Plan();
  switch (spec.method) {
    case 'private_key_jwt': {
      const jwk = await generateSigningJwk(spec.alg ?? 'ES256');
      plan
        .add(
          path('privateJwk'),
          json(jwk.privateJwk),
          `private_key_jwt signing key ${jwk.alg} (0600), kid ${jwk.kid}`,
          { secret: true },
        )
        .add(path('publicJwk'), json(jwk.publicJwk), 'public JWK (registered in registry.json)');
      return Object.assign(plan, {
        entry: privateKeyJwtEntry(spec.clientId, jwk.publicJwk, common),
      });
    }
    case 'self_signed_tls_client_auth': {
      const client = await createSelfSignedClient({
        clientId: spec.clientId,
        ...(spec.subject === undefined ? {} : { subject: spec.subject }),
        ...(spec.keyType === undefined ? {} : { keyType: spec.keyType }),
        now: options.now?.() ?? ca?.now() ?? new Date(),
        validityDays: spec.validityDays ?? 30,
      });
      plan
        .add(path('cert'), client.certPem, 'self-signed client certificate (clientAuth)', {
          cert: client,
        })
        .add(path('key'), client.keyPem, 'client key (0600)', { secret: true })
        .add(path('publicJwk'), json(client.jwk), 'JWK with x5c (registered in registry.json)');
      return Object.assign(plan, { entry: selfSignedEntry(spec.clientId, client.jwk, common) });
    }
    case 'tls_client_auth': {
      if (ca === undefined)
        throw new TypeError(`${spec.clientId}: tls_client_auth needs the CA; run init first`);
      if (spec.csrPem !== undefined && (spec.p12 ?? false) !== false) {
        throw new TypeError(
          `${spec.clientId}: no PKCS#12 for a signed CSR: the private key stays where the CSR was made`,
        );
      }
      // Refuse before generating anything: the legacy writer (node-forge) handles RSA only.
      if (spec.p12 === 'legacy') assertLegacyPkcs12Possible(spec, ca);
      const names = {
        clientId: spec.clientId,
        ...(spec.subject === undefined ? {} : { subject: spec.subject }),
        ...(spec.sanDns === undefined ? {} : { sanDns: spec.sanDns }),
        ...(spec.sanUri === undefined ? {} : { sanUri: spec.sanUri }),
        ...(spec.sanIp === undefined ? {} : { sanIp: spec.sanIp }),
        ...(spec.sanEmail === undefined ? {} : { sanEmail: spec.sanEmail }),
        ...(spec.spiffeId === undefined ? {} : { spiffeId: spec.spiffeId }),
        ...(spec.validityDays === undefined ? {} : { validityDays: spec.validityDays }),
      };
      let cert: SignedClientCertificate;
      let keyPem: string | undefined;
      if (spec.csrPem === undefined) {
        const issued = await ca.issueClient({
          ...names,
          ...(spec.keyType === undefined ? {} : { keyType: spec.keyType }),
        });
        cert = issued;
        keyPem = issued.keyPem;
      } else {
        cert = signRequest(ca, spec.csrPem, names, spec.eku);
      }
      const what =
        spec.spiffeId === undefined ? 'client certificate' : `X.509-SVID ${spec.spiffeId}`;
      plan
        .add(path('cert'), cert.certPem, `${what} (${cert.eku.join(', ')})`, { cert })
        .add(path('chain'), cert.chainPem, `${what} + intermediate (for curl --cert)`);
      if (keyPem !== undefined) {
        plan.add(path('key'), keyPem, 'client key (0600)', { secret: true });
      } else {
        const der = readCertificateRequest(spec.csrPem ?? '').der;
        plan.add(
          path('csr'),
          encodePem('CERTIFICATE REQUEST', der),
          'the signed request (the key stays with the client)',
          { kind: 'update' },
        );
      }
      if (spec.spiffeId !== undefined) {
        plan.add(
          layout.spiffeBundle,
          json(await spiffeBundle(ca.root.certPem)),
          'SPIFFE bundle of the trust domain (x509-svid)',
          { kind: 'update' },
        );
      }
      if (keyPem !== undefined && (spec.p12 === true || spec.p12 === 'legacy')) {
        const password = randomPassword();
        const bundle = {
          keyPem,
          certsPem: `${cert.chainPem}${ca.root.certPem}`,
          password,
          friendlyName: spec.clientId,
        };
        const p12 = spec.p12 === 'legacy' ? createLegacyPkcs12(bundle) : await createPkcs12(bundle);
        plan
          .add(
            path('p12'),
            p12,
            spec.p12 === 'legacy'
              ? 'PKCS#12, legacy form for macOS Keychain and old Java (3DES, SHA-1 MAC; 0600)'
              : 'PKCS#12 (AES-256-CBC, SHA-256 MAC; 0600)',
            { secret: true },
          )
          .add(path('p12Password'), `${password}\n`, 'PKCS#12 password (0600)', { secret: true });
      }
      const bind = spec.bind ?? (spec.spiffeId === undefined ? 'subject_dn' : 'san_uri');
      return Object.assign(plan, {
        entry: tlsClientAuthEntry(spec.clientId, cert, bind, common),
      });
    }
  }
}

/**
 * Signs a verified CSR, refusing what the CA would not issue: a CA certificate, an EKU outside
 * `eku` (default clientAuth), and (in issueLeaf) names outside the name constraints. Subject and
 * SANs: the command line's subject replaces the request's; its SANs are added to the request's.
 *
 * @see RFC 2986 §4, RFC 5280 §4.2.1.9 and §4.2.1.12
 */
function signRequest(
  ca: DevCa,
  csrPem: string,
  names: Omit<SignClientOptions, 'spkiDer' | 'eku'> & { readonly clientId: string },
  eku: readonly string[] = ['clientAuth'],
): SignedClientCertificate {
  const csr = readCertificateRequest(csrPem);
  const id = names.clientId;
  if (csr.requestsCa) {
    throw new TypeError(
      `${id}: the CSR asks for a CA certificate (basicConstraints CA:TRUE); the dev CA signs client leaves only`,
    );
  }
  const allowed: string[] = eku.map((name) => ekuOids[name as keyof typeof ekuOids] ?? name);
  const extra = (csr.eku ?? []).filter((oid) => !allowed.includes(oid));
  if (extra.length > 0) {
    throw new TypeError(
      `${id}: the CSR asks for EKU ${extra.join(', ')}; the dev CA issues clientAuth only unless --eku allows more`,
    );
  }
  const merge = (requested: string[], given: readonly string[] | undefined): string[] => [
    ...new Set([...requested, ...(given ?? [])]),
  ];
  if (names.spiffeId !== undefined) {
    const requested = [...csr.sans.dns, ...csr.sans.ip, ...csr.sans.email, ...csr.sans.uri];
    if (requested.some((name) => name !== names.spiffeId)) {
      throw new TypeError(
        `${id}: the CSR asks for SANs besides ${names.spiffeId}; an X.509-SVID carries only its SPIFFE ID`,
      );
    }
  }
  const subject = names.subject ?? csr.subject;
  return ca.signClient({
    ...names,
    ...(subject === undefined ? {} : { subject }),
    ...(names.spiffeId === undefined
      ? {
          sanDns: merge(csr.sans.dns, names.sanDns),
          sanUri: merge(csr.sans.uri, names.sanUri),
          sanIp: merge(csr.sans.ip, names.sanIp),
          sanEmail: merge(csr.sans.email, names.sanEmail),
        }
      : {}),
    eku: [...eku],
    spkiDer: csr.spkiDer,
  });
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

/** SANs by form, parsed by src/pki (Node's string form is ambiguous when values hold commas). */
export function sansOf(der: Buffer): {
  dns: string[];
  uri: string[];
  ip: string[];
  email: string[];
} {
  const sans = subjectAltNames(parseCertificate(der));
  return {
    dns: [...sans.dns],
    uri: [...sans.uri],
    ip: sans.ip.map(formatIp),
    email: [...sans.email],
  };
}

/** True when `cert` was signed by the CA certificate `issuer`. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}
