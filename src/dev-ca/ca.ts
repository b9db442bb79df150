/**
 * The in-memory development CA: a root and an intermediate (chains of two, as in production),
 * both name-constrained to loopback names, and an issuer of server and client leaves and CRLs.
 * Tests build a whole PKI with it per file; the CLI builds the same thing and writes it out.
 * Keys come from node:crypto; every certificate and CRL is built by one builder (x509.ts, pkijs).
 *
 * @see RFC 5280 §4.2.1.9 (basic constraints), §4.2.1.10 (name constraints), §5 (CRLs),
 *      RFC 8705 §2.1 (what a tls_client_auth certificate must carry)
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as pkijs from 'pkijs';
import { encodeDnString, formatDnDer, parseCertificate } from '../pki/index.js';
import { buildCrl, parseCrl, type RevocationEntry, type RevocationReason } from './crl.js';
import {
  type DevKeyPair,
  type DevKeyType,
  generateDevKeyPair,
  keyTypeOf,
  loadDevKeyPair,
} from './keys.js';
import { defaultPermittedSubtrees, isPermitted } from './names.js';
import { parseSpiffeId } from './spiffe.js';
import {
  buildCertificate,
  ekuOids,
  formatIp,
  fromPem,
  type KeyUsageName,
  randomSerial,
  type SubjectAltNames,
} from './x509.js';

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

/** Validity defaults: `test` for in-memory fixtures, `dev` for what the CLI writes to disk. */
export type DevCaProfile = 'test' | 'dev';

const profiles = {
  // Fixtures live for one test run; a day-long CA lets tests move the clock a little.
  test: { caValidityMs: dayMs, leafValidityMs: hourMs, crlValidityMs: dayMs },
  // Short enough that nobody ships it, long enough for a development cycle.
  dev: { caValidityMs: 90 * dayMs, leafValidityMs: 30 * dayMs, crlValidityMs: 7 * dayMs },
} as const;

/** Default subject DNs of the two CAs. */
export const defaultRootSubject = 'CN=Tollgate Dev Root CA,O=Tollgate Dev,C=US';
export const defaultIntermediateSubject = 'CN=Tollgate Dev Intermediate CA,O=Tollgate Dev,C=US';
/** Organization and country the dev CA puts in default leaf subjects. */
export const defaultLeafSubjectSuffix = 'O=Tollgate Dev,C=US';

/** A clock: a fixed instant or a function read at every use. */
export type Clock = Date | (() => Date);

export interface CreateDevCaOptions {
  /** Current time; default the system clock. A function is read at every issuance. */
  readonly now?: Clock;
  /** Key type for both CAs and the default for leaves. Default `p256`. */
  readonly keyType?: DevKeyType;
  /** Validity defaults. Default `test` (CAs 1 day, leaves 1 hour); the CLI uses `dev`. */
  readonly profile?: DevCaProfile;
  /** Extra permitted subtrees added to the defaults (DNS names, `.suffix`, IP/prefix). */
  readonly permit?: readonly string[];
  /** Replace the default permitted subtrees entirely (`[]` disables name constraints). */
  readonly permittedSubtrees?: readonly string[];
  readonly caValidityDays?: number;
  readonly leafValidityDays?: number;
  readonly rootSubject?: string;
  readonly intermediateSubject?: string;
  /**
   * Copy both subject DNs from another CA: makes a "foreign" CA whose certificates look like
   * ours by name but chain to a different key (the look-alike that SPKI pinning stops).
   */
  readonly subjectsLike?: Pick<DevCa, 'root' | 'intermediate'>;
}

/** One CA certificate and what callers need to trust or pin it. */
export interface CaCertificate {
  readonly certPem: string;
  readonly certDer: Buffer;
  /** PKCS#8 PEM; absent for a root opened from disk without its key. */
  readonly keyPem?: string;
  /** RFC 4514 subject, most specific RDN first. */
  readonly subject: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType: DevKeyType;
  /** base64url SHA-256 of the certificate DER. */
  readonly x5tS256: string;
  /** base64url SHA-256 of the SubjectPublicKeyInfo DER (`tls_client_auth_trust_anchor_spki_sha256`). */
  readonly spkiSha256: string;
}

/** Requested SANs, by name form. */
export interface SanOptions {
  readonly sanDns?: readonly string[];
  readonly sanUri?: readonly string[];
  readonly sanIp?: readonly string[];
  readonly sanEmail?: readonly string[];
}

/** Extended key usage: a named profile, `none` (no EKU extension), or names / OIDs. */
export type EkuOption = 'clientAuth' | 'serverAuth' | 'none' | readonly string[];

interface ValidityOptions {
  /** Default: now. */
  readonly notBefore?: Date;
  /** Default: notBefore + validity, clamped to the intermediate's notAfter. */
  readonly notAfter?: Date;
  readonly validityDays?: number;
  /** Overrides the CA's clock for this certificate. */
  readonly now?: Date;
}

export interface IssueServerOptions extends ValidityOptions {
  /** DNS names and IP addresses. Default `localhost`, `127.0.0.1`, `::1`. */
  readonly sans?: readonly string[];
  /** Default `CN=<first DNS SAN>,O=Tollgate Dev,C=US`. */
  readonly subject?: string;
  readonly keyType?: DevKeyType;
  /** Default `serverAuth`. */
  readonly eku?: EkuOption;
}

export interface IssueClientOptions extends ValidityOptions, SanOptions {
  readonly clientId?: string;
  /**
   * Issue an X.509-SVID: this SPIFFE ID as the one URI SAN, no other SAN (X509-SVID §2); the
   * SAN options must then be empty. @see SPIFFE X509-SVID §2-§4
   */
  readonly spiffeId?: string;
  /** RFC 4514 DN, e.g. `CN=svc-a,O=Acme,C=US`. Default `CN=<clientId>,O=Tollgate Dev,C=US`. */
  readonly subject?: string;
  readonly keyType?: DevKeyType;
  /** Default `clientAuth`. */
  readonly eku?: EkuOption;
}

/** A leaf certificate with its key. */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly certDer: Buffer;
  readonly keyPem: string;
  /** Leaf then intermediate: what a TLS peer sends. */
  readonly chainPem: string;
  readonly serialHex: string;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType: DevKeyType;
  /** RFC 8705 §3.1 confirmation value: base64url SHA-256 of the DER. */
  readonly x5tS256: string;
  readonly sans: Required<{ [K in keyof SubjectAltNames]: readonly string[] }>;
  /** EKU names (or OIDs when unnamed); empty when the certificate has no EKU extension. */
  readonly eku: readonly string[];
}

export interface IssuedClientCertificate extends IssuedCertificate {
  readonly clientId?: string;
}

/** A client certificate signed for a key the CA never saw (`dev-ca sign`). */
export type SignedClientCertificate = Omit<IssuedClientCertificate, 'keyPem' | 'keyType'>;

/** {@link DevCa.signClient} options: the certified key, and the client's names. */
export interface SignClientOptions extends Omit<IssueClientOptions, 'keyType'> {
  /** DER SubjectPublicKeyInfo, from a verified CSR. */
  readonly spkiDer: Buffer;
}

/** One CRL in both encodings. */
export interface EncodedCrl {
  readonly pem: string;
  readonly der: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly crlNumber: number;
  readonly entries: readonly RevocationEntry[];
}

export interface DevCaCrls {
  readonly root: EncodedCrl;
  readonly intermediate: EncodedCrl;
  /** Both CRLs in one PEM: Node needs a CRL for every CA of a chain once any CRL is loaded. */
  readonly combinedPem: string;
}

export interface CrlOptions {
  readonly now?: Date;
  /** Default: 1 day (test) or 7 days (dev), never past the CA's notAfter. */
  readonly nextUpdateDays?: number;
  /**
   * For the root CRL only. The CLI signs it to last as long as the root when it does not keep
   * the root key, since nothing could ever re-sign it.
   */
  readonly rootNextUpdateDays?: number;
}

/** A development CA held in memory. */
export interface DevCa {
  readonly root: CaCertificate;
  readonly intermediate: CaCertificate & { readonly keyPem: string };
  /** Intermediate then root (the `ca/chain.pem` order). */
  readonly chainPem: string;
  /** The permitted subtrees both CAs carry. */
  readonly permittedSubtrees: readonly string[];
  readonly profile: DevCaProfile;
  /** The CA's clock. */
  now(): Date;
  /** Issues a serverAuth leaf for loopback names. @see RFC 5280 §4.2.1.12 */
  issueServer(options?: IssueServerOptions): Promise<IssuedCertificate>;
  /** Issues a clientAuth leaf for `tls_client_auth`. @see RFC 8705 §2.1 */
  issueClient(options: IssueClientOptions): Promise<IssuedClientCertificate>;
  /** Issues a clientAuth leaf for a given public key (a CSR's). @see RFC 2986, RFC 8705 §2.1 */
  signClient(options: SignClientOptions): SignedClientCertificate;
  /**
   * Revokes a certificate (serial hex, PEM, DER, or an issued certificate). The intermediate's own
   * serial goes on the root CRL; anything else on the intermediate CRL. Idempotent per serial.
   */
  revoke(target: RevocationTarget, reason?: RevocationReason, at?: Date): RevocationEntry;
  /** Revoked entries so far, per issuing CA. */
  revoked(): {
    readonly root: readonly RevocationEntry[];
    readonly intermediate: readonly RevocationEntry[];
  };
  /** Signs fresh CRLs for both CAs. Without the root key, the loaded root CRL is returned as is. */
  crls(options?: CrlOptions): Promise<DevCaCrls>;
}

export type RevocationTarget =
  | string
  | Uint8Array
  | { readonly serialHex: string }
  | { readonly certPem: string };

/** Creates a root and an intermediate CA in memory. */
export async function createDevCa(options: CreateDevCaOptions = {}): Promise<DevCa> {
  const clock = clockOf(options.now);
  const profileName = options.profile ?? 'test';
  const profile = profiles[profileName];
  const keyType = options.keyType ?? 'p256';
  const permitted = [
    ...(options.permittedSubtrees ?? defaultPermittedSubtrees),
    ...(options.permit ?? []),
  ];
  const caValidityMs =
    options.caValidityDays === undefined ? profile.caValidityMs : options.caValidityDays * dayMs;
  const now = truncate(clock());
  // Backdated by an hour so fixtures dated in the recent past (expired leaves) still nest in
  // the CA's validity and small clock skew between processes does not matter.
  const notBefore = new Date(now.getTime() - hourMs);
  const notAfter = new Date(now.getTime() + caValidityMs);
  const rootSubject =
    options.subjectsLike?.root.subject ?? options.rootSubject ?? defaultRootSubject;
  const intermediateSubject =
    options.subjectsLike?.intermediate.subject ??
    options.intermediateSubject ??
    defaultIntermediateSubject;

  const [rootKey, intermediateKey] = await Promise.all([
    generateDevKeyPair(keyType),
    generateDevKeyPair(keyType),
  ]);
  const rootName = encodeDnString(rootSubject);
  const root = buildCertificate({
    serial: randomSerial(),
    subject: rootName,
    issuer: rootName,
    notBefore,
    notAfter,
    subjectSpki: rootKey.spkiDer,
    issuerSpki: rootKey.spkiDer,
    signer: rootKey,
    ca: {},
    keyUsage: ['keyCertSign', 'cRLSign'],
    permittedSubtrees: permitted,
  });
  const intermediate = buildCertificate({
    serial: randomSerial(),
    subject: encodeDnString(intermediateSubject),
    issuer: rootName,
    notBefore,
    notAfter,
    subjectSpki: intermediateKey.spkiDer,
    issuerSpki: rootKey.spkiDer,
    signer: rootKey,
    // pathLen 0: the intermediate issues leaves only.
    ca: { pathLength: 0 },
    keyUsage: ['keyCertSign', 'cRLSign'],
    permittedSubtrees: permitted,
  });
  return assembleDevCa({
    clock,
    profileName,
    rootPem: root.pem,
    rootKey,
    intermediatePem: intermediate.pem,
    intermediateKey,
    permitted,
    leafValidityMs:
      options.leafValidityDays === undefined
        ? profile.leafValidityMs
        : options.leafValidityDays * dayMs,
  });
}

export interface OpenDevCaOptions {
  readonly rootCertPem: string;
  readonly intermediateCertPem: string;
  readonly intermediateKeyPem: string;
  /** Without it the root CRL cannot be re-signed; `rootCrlPem` is then reused as is. */
  readonly rootKeyPem?: string;
  /** Existing CRLs: their entries and CRL numbers carry over. */
  readonly rootCrlPem?: string;
  readonly intermediateCrlPem?: string;
  readonly now?: Clock;
  readonly profile?: DevCaProfile;
  readonly leafValidityDays?: number;
}

/** Re-opens a CA from its PEM files (what the CLI does for every command after `init`). */
export async function openDevCa(options: OpenDevCaOptions): Promise<DevCa> {
  const profileName = options.profile ?? 'dev';
  const intermediateKey = loadDevKeyPair(options.intermediateKeyPem);
  const intermediateCert = new X509Certificate(options.intermediateCertPem);
  if (!intermediateCert.checkPrivateKey(intermediateKey.privateKey)) {
    throw new TypeError('dev-ca: the intermediate key does not match the intermediate certificate');
  }
  const rootKey = options.rootKeyPem === undefined ? undefined : loadDevKeyPair(options.rootKeyPem);
  if (
    rootKey !== undefined &&
    !new X509Certificate(options.rootCertPem).checkPrivateKey(rootKey.privateKey)
  ) {
    throw new TypeError('dev-ca: the root key does not match the root certificate');
  }
  return assembleDevCa({
    clock: clockOf(options.now),
    profileName,
    rootPem: options.rootCertPem,
    rootKey,
    intermediatePem: options.intermediateCertPem,
    intermediateKey,
    permitted: permittedSubtreesOf(intermediateCert),
    leafValidityMs:
      options.leafValidityDays === undefined
        ? profiles[profileName].leafValidityMs
        : options.leafValidityDays * dayMs,
    rootCrlPem: options.rootCrlPem,
    intermediateCrlPem: options.intermediateCrlPem,
  });
}

/** base64url SHA-256 of a DER certificate: the RFC 8705 §3.1 `x5t#S256`. */
export function x5tS256(certDer: Uint8Array): string {
  return createHash('sha256').update(certDer).digest('base64url');
}

/** Describes a CA certificate (PEM) and its key, if any. */
export function describeCaCertificate(certPem: string, keyPem?: string): CaCertificate {
  const cert = new X509Certificate(certPem);
  const info = describeCert(cert);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return {
    certPem: cert.toString(),
    certDer: cert.raw,
    ...(keyPem === undefined ? {} : { keyPem }),
    subject: info.subject,
    serialHex: info.serialHex,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    keyType: info.keyType,
    x5tS256: x5tS256(cert.raw),
    spkiSha256: createHash('sha256').update(spki).digest('base64url'),
  };
}

interface AssembleInput {
  readonly clock: () => Date;
  readonly profileName: DevCaProfile;
  readonly rootPem: string;
  readonly rootKey: DevKeyPair | undefined;
  readonly intermediatePem: string;
  readonly intermediateKey: DevKeyPair;
  readonly permitted: readonly string[];
  readonly leafValidityMs: number;
  readonly rootCrlPem?: string | undefined;
  readonly intermediateCrlPem?: string | undefined;
}

function assembleDevCa(input: AssembleInput): DevCa {
  const root = describeCaCertificate(input.rootPem, input.rootKey?.privateKeyPem);
  const intermediate = {
    ...describeCaCertificate(input.intermediatePem),
    keyPem: input.intermediateKey.privateKeyPem,
  };
  const rootX509 = new X509Certificate(input.rootPem);
  const intermediateX509 = new X509Certificate(input.intermediatePem);
  const rootName = subjectDerOf(rootX509);
  const intermediateName = subjectDerOf(intermediateX509);
  const rootSpki = rootX509.publicKey.export({ type: 'spki', format: 'der' });
  const intermediateSpki = input.intermediateKey.spkiDer;
  const profile = profiles[input.profileName];

  const loadedRootCrl = input.rootCrlPem === undefined ? undefined : firstCrl(input.rootCrlPem);
  const loadedIntermediateCrl =
    input.intermediateCrlPem === undefined ? undefined : firstCrl(input.intermediateCrlPem);
  const revokedByRoot = new Map<string, RevocationEntry>(
    (loadedRootCrl?.contents.entries ?? []).map((e) => [e.serialHex, e]),
  );
  const revokedByIntermediate = new Map<string, RevocationEntry>(
    (loadedIntermediateCrl?.contents.entries ?? []).map((e) => [e.serialHex, e]),
  );
  let rootCrlNumber = loadedRootCrl?.contents.crlNumber ?? 0;
  let intermediateCrlNumber = loadedIntermediateCrl?.contents.crlNumber ?? 0;
  const chainPem = `${intermediate.certPem}${root.certPem}`;

  const issueLeaf = (leaf: {
    readonly subject: string;
    readonly sans: SubjectAltNames;
    readonly ekuOids: readonly string[] | undefined;
    readonly spkiDer: Buffer;
    readonly keyUsage: KeyUsageName[];
    readonly validity: ValidityOptions;
  }): Omit<IssuedCertificate, 'keyPem' | 'keyType'> => {
    checkSans(leaf.sans, leaf.subject, input.permitted);
    const now = truncate(leaf.validity.now ?? input.clock());
    const notBefore = truncate(leaf.validity.notBefore ?? now);
    let notAfter: Date;
    if (leaf.validity.notAfter !== undefined) {
      notAfter = truncate(leaf.validity.notAfter);
    } else {
      const validityMs =
        leaf.validity.validityDays === undefined
          ? input.leafValidityMs
          : leaf.validity.validityDays * dayMs;
      // A leaf never outlives its issuer unless asked to explicitly.
      notAfter = new Date(
        Math.min(notBefore.getTime() + validityMs, intermediate.notAfter.getTime()),
      );
    }
    const cert = buildCertificate({
      serial: randomSerial(),
      subject: encodeDnString(leaf.subject),
      issuer: intermediateName,
      notBefore,
      notAfter,
      subjectSpki: leaf.spkiDer,
      issuerSpki: intermediateSpki,
      signer: input.intermediateKey,
      keyUsage: leaf.keyUsage,
      ...(leaf.ekuOids === undefined ? {} : { extKeyUsage: leaf.ekuOids }),
      subjectAltNames: leaf.sans,
    });
    const x509 = new X509Certificate(cert.der);
    const info = describeCert(x509);
    return {
      certPem: cert.pem,
      certDer: cert.der,
      chainPem: `${cert.pem}${intermediate.certPem}`,
      serialHex: info.serialHex,
      subject: info.subject,
      issuer: intermediate.subject,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      x5tS256: x5tS256(cert.der),
      sans: {
        dns: [...(leaf.sans.dns ?? [])],
        uri: [...(leaf.sans.uri ?? [])],
        ip: [...(leaf.sans.ip ?? [])],
        email: [...(leaf.sans.email ?? [])],
      },
      eku: (leaf.ekuOids ?? []).map(ekuName),
    };
  };

  const buildOne = (which: 'root' | 'intermediate', options: CrlOptions): EncodedCrl => {
    const now = truncate(options.now ?? input.clock());
    const ca = which === 'root' ? root : intermediate;
    const days =
      which === 'root'
        ? (options.rootNextUpdateDays ?? options.nextUpdateDays)
        : options.nextUpdateDays;
    const validityMs = days === undefined ? profile.crlValidityMs : days * dayMs;
    const nextUpdate = new Date(Math.min(now.getTime() + validityMs, ca.notAfter.getTime()));
    const entries = [...(which === 'root' ? revokedByRoot : revokedByIntermediate).values()];
    const crlNumber = which === 'root' ? ++rootCrlNumber : ++intermediateCrlNumber;
    const signer = which === 'root' ? input.rootKey : input.intermediateKey;
    if (signer === undefined) throw new TypeError('dev-ca: no root key to sign the root CRL with');
    const built = buildCrl({
      issuer: which === 'root' ? rootName : intermediateName,
      issuerSpki: which === 'root' ? rootSpki : intermediateSpki,
      signer,
      thisUpdate: now,
      nextUpdate,
      crlNumber,
      entries,
    });
    return { ...built, thisUpdate: now, nextUpdate, crlNumber, entries };
  };

  const signClient = (options: SignClientOptions): SignedClientCertificate => {
    const issued = issueLeaf({
      ...clientLeaf(options),
      spkiDer: options.spkiDer,
      validity: options,
    });
    return options.clientId === undefined ? issued : { ...issued, clientId: options.clientId };
  };

  return {
    root,
    intermediate,
    chainPem,
    permittedSubtrees: [...input.permitted],
    profile: input.profileName,
    now: () => input.clock(),

    async issueServer(options = {}) {
      const sans = options.sans ?? ['localhost', '127.0.0.1', '::1'];
      const dns = sans.filter((san) => isIP(san) === 0);
      const ip = sans.filter((san) => isIP(san) !== 0);
      const keyType = options.keyType ?? intermediate.keyType;
      const key = await generateDevKeyPair(keyType);
      const issued = issueLeaf({
        subject:
          options.subject ?? `CN=${dns[0] ?? ip[0] ?? 'localhost'},${defaultLeafSubjectSuffix}`,
        sans: { dns, ip },
        ekuOids: resolveEku(options.eku ?? 'serverAuth'),
        spkiDer: key.spkiDer,
        // keyEncipherment only matters for RSA key transport, which TLS 1.3 dropped; keep it
        // for RSA server keys so TLS 1.2 RSA suites still work.
        keyUsage: keyType.startsWith('rsa')
          ? ['digitalSignature', 'keyEncipherment']
          : ['digitalSignature'],
        validity: options,
      });
      return { ...issued, keyPem: key.privateKeyPem, keyType };
    },

    async issueClient(options) {
      clientLeaf(options); // refuse bad options before generating a key
      const keyType = options.keyType ?? intermediate.keyType;
      const key = await generateDevKeyPair(keyType);
      return {
        ...signClient({ ...options, spkiDer: key.spkiDer }),
        keyPem: key.privateKeyPem,
        keyType,
      };
    },

    signClient,

    revoke(target, reason = 'unspecified', at) {
      const serialHex = serialOf(target);
      const byRoot = serialHex === intermediate.serialHex;
      const map = byRoot ? revokedByRoot : revokedByIntermediate;
      const existing = map.get(serialHex);
      if (existing !== undefined) return existing;
      if (byRoot && input.rootKey === undefined) {
        throw new TypeError(
          'dev-ca: revoking the intermediate needs the root key (--keep-root-key)',
        );
      }
      const entry: RevocationEntry = {
        serialHex,
        revokedAt: truncate(at ?? input.clock()),
        reason,
      };
      map.set(serialHex, entry);
      return entry;
    },

    revoked() {
      return {
        root: [...revokedByRoot.values()],
        intermediate: [...revokedByIntermediate.values()],
      };
    },

    async crls(options = {}) {
      const intermediateCrl = buildOne('intermediate', options);
      let rootCrl: EncodedCrl;
      if (input.rootKey !== undefined) {
        rootCrl = buildOne('root', options);
      } else if (loadedRootCrl !== undefined) {
        // Without the root key the root CRL cannot change; the CLI signs it at init to last as
        // long as the root itself.
        rootCrl = loadedRootCrl.encoded;
      } else {
        throw new TypeError('dev-ca: neither the root key nor a root CRL is available');
      }
      return {
        root: rootCrl,
        intermediate: intermediateCrl,
        combinedPem: `${intermediateCrl.pem}${rootCrl.pem}`,
      };
    },
  };
}

/** Subject, serial, dates and key type of a certificate, in the forms this module reports. */
export function describeCert(cert: X509Certificate): {
  subject: string;
  serialHex: string;
  notBefore: Date;
  notAfter: Date;
  keyType: DevKeyType;
} {
  const parsed = pkijs.Certificate.fromBER(cert.raw);
  return {
    subject: formatDnDer(new Uint8Array(parsed.subject.toSchema().toBER(false))),
    serialHex: cert.serialNumber.toUpperCase(),
    notBefore: parsed.notBefore.value,
    notAfter: parsed.notAfter.value,
    keyType: keyTypeOrDefault(cert),
  };
}

/** The dev key type of a certificate's key; keys the CA does not generate report as rsa2048. */
function keyTypeOrDefault(cert: X509Certificate): DevKeyType {
  try {
    return keyTypeOf(cert.publicKey);
  } catch {
    return 'rsa2048';
  }
}

/** The subject Name's DER, byte for byte as encoded (what a CRL's issuer must equal). */
export function subjectDerOf(cert: X509Certificate): Buffer {
  return Buffer.from(pkijs.Certificate.fromBER(cert.raw).subject.toSchema().toBER(false));
}

/** A CA's permitted subtrees in the `--permit` notation (DNS names, IP/prefix), read by src/pki. */
function permittedSubtreesOf(cert: X509Certificate): string[] {
  const constraints = parseCertificate(cert.raw).extensions.nameConstraints;
  return (constraints?.permitted ?? []).flatMap((name) => {
    if (name.type === 'dns') return [name.value];
    if (name.type !== 'ip') return [];
    // RFC 5280 §4.2.1.10: an iPAddress constraint is the address followed by its mask.
    const half = name.bytes.length / 2;
    let bits = 0;
    for (const byte of name.bytes.subarray(half)) bits += byte.toString(2).replace(/0/g, '').length;
    return [`${formatIp(name.bytes.subarray(0, half))}/${bits}`];
  });
}

function firstCrl(
  pem: string,
): { contents: ReturnType<typeof parseCrl>; encoded: EncodedCrl } | undefined {
  const der = fromPem('X509 CRL', pem)[0];
  if (der === undefined) return undefined;
  const contents = parseCrl(der);
  return {
    contents,
    encoded: {
      pem: `${pem.trim()}\n`,
      der,
      thisUpdate: contents.thisUpdate,
      nextUpdate: contents.nextUpdate ?? contents.thisUpdate,
      crlNumber: contents.crlNumber,
      entries: contents.entries,
    },
  };
}

function serialOf(target: RevocationTarget): string {
  if (typeof target === 'string') {
    if (target.includes('-----BEGIN'))
      return new X509Certificate(target).serialNumber.toUpperCase();
    const hex = target.replace(/[:\s]/g, '').toUpperCase();
    if (!/^[0-9A-F]+$/.test(hex)) throw new TypeError(`dev-ca: not a serial number: ${target}`);
    return hex;
  }
  if (target instanceof Uint8Array) return new X509Certificate(target).serialNumber.toUpperCase();
  if ('serialHex' in target) return target.serialHex.replace(/[:\s]/g, '').toUpperCase();
  return new X509Certificate(target.certPem).serialNumber.toUpperCase();
}

/** Subject, SANs, EKU and key usage of a client leaf; an X.509-SVID when `spiffeId` is set. */
function clientLeaf(options: Omit<IssueClientOptions, 'keyType'>): {
  subject: string;
  sans: SubjectAltNames;
  ekuOids: string[] | undefined;
  keyUsage: KeyUsageName[];
} {
  if (options.subject === undefined && options.clientId === undefined) {
    throw new TypeError('dev-ca: issueClient needs a subject or a clientId');
  }
  const sans: {
    dns: readonly string[];
    uri: readonly string[];
    ip: readonly string[];
    email: readonly string[];
  } = {
    dns: options.sanDns ?? [],
    uri: options.sanUri ?? [],
    ip: options.sanIp ?? [],
    email: options.sanEmail ?? [],
  };
  const eku = resolveEku(options.eku ?? 'clientAuth');
  if (options.spiffeId !== undefined) {
    parseSpiffeId(options.spiffeId);
    // X509-SVID §2: exactly one URI SAN, the SPIFFE ID; §4.4: clientAuth for TLS clients.
    if (Object.values(sans).some((list) => list.length > 0)) {
      throw new TypeError(
        'dev-ca: an X.509-SVID has the SPIFFE ID as its only SAN; drop the --san-* options',
      );
    }
    sans.uri = [options.spiffeId];
    if (!eku?.includes(ekuOids.clientAuth)) {
      throw new TypeError('dev-ca: an X.509-SVID for a client needs the clientAuth EKU');
    }
  }
  return {
    subject: options.subject ?? `CN=${options.clientId},${defaultLeafSubjectSuffix}`,
    sans,
    ekuOids: eku,
    keyUsage: ['digitalSignature'],
  };
}

function resolveEku(eku: EkuOption): string[] | undefined {
  if (eku === 'none') return undefined;
  const names = typeof eku === 'string' ? [eku] : eku;
  return names.map((name) => {
    if (Object.hasOwn(ekuOids, name)) return ekuOids[name as keyof typeof ekuOids];
    if (/^\d+(\.\d+)+$/.test(name)) return name;
    throw new TypeError(`dev-ca: unknown extended key usage ${name}`);
  });
}

function ekuName(oid: string): string {
  const entry = Object.entries(ekuOids).find(([, value]) => value === oid);
  return entry === undefined ? oid : entry[0];
}

function checkSans(sans: SubjectAltNames, subject: string, permitted: readonly string[]): void {
  if (permitted.length === 0) return;
  const outside = [...(sans.dns ?? []), ...(sans.ip ?? [])].filter(
    (name) => !isPermitted(name, permitted),
  );
  // OpenSSL also checks a host-like CN against DNS constraints when there is no DNS SAN.
  const cn = /(?:^|,)\s*CN=([^,+]+)/i.exec(subject)?.[1]?.trim();
  if (
    (sans.dns ?? []).length === 0 &&
    cn !== undefined &&
    /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(cn)
  ) {
    if (!isPermitted(cn, permitted)) outside.push(`CN=${cn}`);
  }
  if (outside.length > 0) {
    throw new TypeError(
      `dev-ca: ${outside.join(', ')} outside the CA's name constraints (${permitted.join(', ')}); widen them with --permit`,
    );
  }
}

/** A clock function from a {@link Clock}; the system clock when absent. */
export function clockOf(now: Clock | undefined): () => Date {
  if (now === undefined) return () => new Date();
  if (now instanceof Date) return () => new Date(now.getTime());
  return now;
}

/** X.509 times have whole seconds; truncating keeps reported dates equal to the encoded ones. */
export function truncate(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
