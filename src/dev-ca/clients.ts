/**
 * Clients of every method the dev CA makes: what a client is (a {@link ClientSpec}, from flags, a
 * JSON file or the demo set), the plan of its files, and its registry entry, in exactly the shape
 * Tollgate loads. `client`, `sign`, `self-signed`, `jwk`, `init` and `ensure` all go through
 * {@link planClient}.
 *
 * @see RFC 7591 §2 (client metadata), RFC 8705 §2.1.2 (tls_client_auth identity fields),
 *      RFC 8705 §2.2.2 (self-signed certificates in `jwks`)
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { JWK } from 'jose';
import { encodePem } from '../pki/index.js';
import {
  type ClientAuthMethod,
  type ClientMetadata,
  supportedAuthMethods,
  type TlsClientAuthIdentityField,
  type WorkloadAuthMethod,
  workloadAuthMethods,
} from '../registry/metadata.js';
import type {
  DevCa,
  IssueClientOptions,
  IssuedClientCertificate,
  SignClientOptions,
  SignedClientCertificate,
} from './ca.js';
import { readCertificateRequest } from './csr.js';
import { generateSigningJwk, isDevKeyType, isSigningJwkAlg, type SigningJwkAlg } from './keys.js';
import { assertSafeClientId, clientPath, layout } from './layout.js';
import { createLegacyPkcs12, createPkcs12 } from './pkcs12.js';
import { createSelfSignedClient } from './self-signed.js';
import { spiffeBundle } from './spiffe.js';
import { defined, json, Plan } from './store.js';
import { ekuOids } from './x509.js';

/** The certificate fields a client spec shares with {@link DevCa.issueClient}. */
type CertificateNames = 'subject' | 'sanDns' | 'sanUri' | 'sanIp' | 'sanEmail' | 'spiffeId';

/**
 * A client to create, from flags or from a declarative JSON file. Subject and SANs are for
 * tls_client_auth (the subject for self-signed too); a SPIFFE ID makes an X.509-SVID, bound by
 * `san_uri` by default.
 */
export interface ClientSpec
  extends Pick<IssueClientOptions, CertificateNames | 'keyType' | 'validityDays'> {
  readonly clientId: string;
  /** Methods with a key or certificate of the client's own (workload clients have none). */
  readonly method: Exclude<ClientAuthMethod, WorkloadAuthMethod>;
  /** tls_client_auth: which attribute the registration binds to. Default `subject_dn`. */
  readonly bind?: MtlsBinding;
  /**
   * Also write a PKCS#12 bundle and its password file: `true` for the modern form (PBES2,
   * AES-256-CBC, SHA-256 MAC; any key type), `'legacy'` for the form macOS Keychain and Java
   * before 8u301 / 11.0.12 import (3DES, SHA-1 MAC; RSA client key and RSA CA only).
   */
  readonly p12?: boolean | 'legacy';
  /** tls_client_auth: sign this PKCS#10 request (PEM) instead of generating a key. */
  readonly csrPem?: string;
  /** tls_client_auth from a CSR: the EKUs to issue and to allow in it. Default clientAuth. */
  readonly eku?: readonly string[];
  /** private_key_jwt: the signing algorithm. Default ES256. */
  readonly alg?: SigningJwkAlg;
  readonly scope?: string;
  /** RFC 8707 resource indicators the client may ask tokens for (`allowed_resources`). */
  readonly allowedResources?: readonly string[];
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
    bind: 'subject_dn',
    allowedResources: [demoApiAudience],
  },
  {
    clientId: 'demo-self-signed',
    method: 'self_signed_tls_client_auth',
    allowedResources: [demoApiAudience],
  },
];

/** Files and registry entry for one client of any method. */
export async function planClient(
  ca: DevCa | undefined,
  spec: ClientSpec,
  now?: () => Date,
): Promise<Plan & { entry: ClientMetadata }> {
  assertSafeClientId(spec.clientId);
  const path = (file: Parameters<typeof clientPath>[1]): string => clientPath(spec.clientId, file);
  const common = defined({ scope: spec.scope, allowedResources: spec.allowedResources });
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
        ...defined({ subject: spec.subject, keyType: spec.keyType }),
        now: now?.() ?? ca?.now() ?? new Date(),
        validityDays: spec.validityDays ?? 30,
      });
      plan
        .add(path('cert'), client.certPem, 'self-signed client certificate (clientAuth)', {
          about: client,
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
      const { method, bind, p12, csrPem, eku, alg, scope, allowedResources, keyType, ...names } =
        spec;
      const issued =
        csrPem === undefined
          ? await ca.issueClient({ ...names, ...defined({ keyType }) })
          : undefined;
      const cert = issued ?? signRequest(ca, csrPem ?? '', names, eku);
      const what =
        spec.spiffeId === undefined ? 'client certificate' : `X.509-SVID ${spec.spiffeId}`;
      plan
        .add(path('cert'), cert.certPem, `${what} (${cert.eku.join(', ')})`, { about: cert })
        .add(path('chain'), cert.chainPem, `${what} + intermediate (for curl --cert)`);
      if (issued !== undefined) {
        plan.add(path('key'), issued.keyPem, 'client key (0600)', { secret: true });
      } else {
        const der = readCertificateRequest(csrPem ?? '').der;
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
      if (issued !== undefined && (p12 === true || p12 === 'legacy')) {
        const password = randomPassword();
        const bundle = {
          keyPem: issued.keyPem,
          certsPem: `${cert.chainPem}${ca.root.certPem}`,
          password,
          friendlyName: names.clientId,
        };
        const legacy = p12 === 'legacy';
        plan
          .add(
            path('p12'),
            legacy ? createLegacyPkcs12(bundle) : await createPkcs12(bundle),
            legacy
              ? 'PKCS#12, legacy form for macOS Keychain and old Java (3DES, SHA-1 MAC; 0600)'
              : 'PKCS#12 (AES-256-CBC, SHA-256 MAC; 0600)',
            { secret: true },
          )
          .add(path('p12Password'), `${password}\n`, 'PKCS#12 password (0600)', { secret: true });
      }
      return Object.assign(plan, {
        entry: tlsClientAuthEntry(
          names.clientId,
          cert,
          bind ?? (spec.spiffeId === undefined ? 'subject_dn' : 'san_uri'),
          common,
        ),
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
  return ca.signClient({
    ...names,
    ...defined({ subject: names.subject ?? csr.subject }),
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

/** Reads a declarative clients file: `{"clients": [{client_id, method?, subject?, ...}]}`. */
export async function readClientSpecs(path: string, cwd: string): Promise<ClientSpec[]> {
  const text = await readFile(isAbsolute(path) ? path : join(cwd, path), 'utf8');
  const parsed: unknown = JSON.parse(text);
  const list = Array.isArray(parsed) ? parsed : (parsed as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(list)) throw new TypeError(`${path}: expected {"clients": [...]}`);
  return list.map((item, index) => clientSpecFromJson(item, `${path}: clients[${index}]`));
}

/** The file's field names: the registry's snake_case for the {@link ClientSpec} fields. */
const listFields = ['san_dns', 'san_uri', 'san_ip', 'san_email'];
const specFields = [
  ...'client_id method subject bind p12 key_type alg scope validity_days spiffe_id'.split(' '),
  ...listFields,
];
const keyMethods = supportedAuthMethods.filter(
  (one) => !(workloadAuthMethods as readonly string[]).includes(one),
);

/** Field by field: each value's type, then the fields with a closed set of values. */
function clientSpecFromJson(item: unknown, where: string): ClientSpec {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    throw new TypeError(`${where}: must be an object`);
  const unknown = Object.keys(item).find((key) => !specFields.includes(key));
  if (unknown !== undefined)
    throw new TypeError(`${where}: unknown field ${unknown} (known: ${specFields.join(', ')})`);
  const spec: Record<string, unknown> = { method: 'tls_client_auth' };
  for (const [key, value] of Object.entries(item)) {
    const field = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    if (value === undefined || key === 'p12' || key === 'validity_days') {
      spec[field] = value;
    } else if (listFields.includes(key)) {
      const values = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(values) || !values.every((v) => typeof v === 'string'))
        throw new TypeError(`${where}.${key}: must be a string or an array of strings`);
      spec[field] = values;
    } else if (typeof value !== 'string' || value === '') {
      throw new TypeError(`${where}.${key}: must be a non-empty string`);
    } else spec[field] = value;
  }
  const { clientId, method, bind, keyType, alg, p12, validityDays } = spec;
  if (clientId === undefined) throw new TypeError(`${where}.client_id: required`);
  if (!(keyMethods as readonly unknown[]).includes(method))
    throw new TypeError(`${where}.method: one of ${keyMethods.join(', ')}`);
  if (bind !== undefined && !isMtlsBinding(bind))
    throw new TypeError(`${where}.bind: subject_dn, san_dns, san_uri, san_ip or san_email`);
  if (keyType !== undefined && !isDevKeyType(keyType))
    throw new TypeError(`${where}.key_type: p256, p384, rsa2048, rsa3072 or ed25519`);
  if (alg !== undefined && !isSigningJwkAlg(alg)) throw new TypeError(`${where}.alg: unsupported`);
  if (p12 !== undefined && typeof p12 !== 'boolean' && p12 !== 'legacy')
    throw new TypeError(`${where}.p12: true, false or "legacy" (3DES, SHA-1 MAC; RSA only)`);
  if (validityDays !== undefined && (typeof validityDays !== 'number' || !(validityDays > 0)))
    throw new TypeError(`${where}.validity_days: must be a positive number`);
  return defined(spec) as unknown as ClientSpec;
}

/** Which certificate attribute a tls_client_auth registration binds to. */
export const mtlsBindings = ['subject_dn', 'san_dns', 'san_uri', 'san_ip', 'san_email'] as const;
export type MtlsBinding = (typeof mtlsBindings)[number];

/** True when `value` names an mTLS binding. */
export function isMtlsBinding(value: unknown): value is MtlsBinding {
  return typeof value === 'string' && (mtlsBindings as readonly string[]).includes(value);
}

/** What a dev client may ask for beyond the defaults: its scope, its RFC 8707 resources. */
export interface CommonClientFields {
  readonly scope?: string;
  readonly allowedResources?: readonly string[];
}

/** A private_key_jwt registration with an inline `jwks`. @see RFC 7523 §2.2 */
export function privateKeyJwtEntry(
  clientId: string,
  publicJwk: JWK,
  common: CommonClientFields = {},
): ClientMetadata {
  return {
    ...base(clientId, common),
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [publicJwk] },
    ...(publicJwk.alg === undefined ? {} : { token_endpoint_auth_signing_alg: publicJwk.alg }),
  };
}

/**
 * A tls_client_auth registration bound to one attribute of `cert` (RFC 8705 §2.1.2 says exactly
 * one). For SAN bindings the first SAN of that form is used; a missing one is a TypeError.
 */
export function tlsClientAuthEntry(
  clientId: string,
  cert: Pick<IssuedClientCertificate, 'subject' | 'sans'>,
  binding: MtlsBinding = 'subject_dn',
  common: CommonClientFields = {},
): ClientMetadata {
  const field: TlsClientAuthIdentityField = `tls_client_auth_${binding}`;
  const { dns, uri, ip, email } = cert.sans;
  const sans = { san_dns: dns, san_uri: uri, san_ip: ip, san_email: email };
  const value = binding === 'subject_dn' ? cert.subject : sans[binding][0];
  if (value === undefined) {
    throw new TypeError(
      `dev-ca: ${clientId} binds to ${binding} but its certificate has no such SAN`,
    );
  }
  return {
    ...base(clientId, common),
    token_endpoint_auth_method: 'tls_client_auth',
    [field]: value,
    tls_client_certificate_bound_access_tokens: true,
  };
}

/** A self_signed_tls_client_auth registration with the certificate's JWK (with `x5c`). */
export function selfSignedEntry(
  clientId: string,
  jwk: JWK,
  common: CommonClientFields = {},
): ClientMetadata {
  return {
    ...base(clientId, common),
    token_endpoint_auth_method: 'self_signed_tls_client_auth',
    jwks: { keys: [jwk] },
    tls_client_certificate_bound_access_tokens: true,
  };
}

/** The registry file's shape: `{"clients": [...]}`. */
export interface RegistryFile {
  clients: ClientMetadata[];
}

/** Adds or replaces the entry with the same client_id, keeping the rest in order. */
export function upsertClient(registry: RegistryFile, entry: ClientMetadata): RegistryFile {
  const index = registry.clients.findIndex((c) => c.client_id === entry.client_id);
  const clients = [...registry.clients];
  if (index < 0) clients.push(entry);
  else clients[index] = entry;
  return { clients };
}

/** Fields every dev client gets: the demo scopes and the only grant Tollgate implements. */
function base(clientId: string, common: CommonClientFields) {
  const { scope = 'read write', allowedResources } = common;
  return {
    client_id: clientId,
    client_name: `${clientId} (Tollgate dev CA)`,
    grant_types: ['client_credentials'],
    scope,
    ...(allowedResources === undefined ? {} : { allowed_resources: [...allowedResources] }),
  };
}
