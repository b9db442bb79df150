/**
 * The in-memory development CA: a root and an intermediate (chains of two, as in production),
 * both name-constrained to loopback names, and an issuer of server and client leaves and CRLs.
 * Tests build a whole PKI with it per file; the CLI builds the same thing and writes it out.
 * Keys come from node:crypto; every certificate and CRL is built by one builder (x509.ts, pkijs).
 *
 * @see RFC 5280 §4.2.1.9 (basic constraints), §4.2.1.10 (name constraints), §5 (CRLs),
 *      RFC 8705 §2.1 (what a tls_client_auth certificate must carry)
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as pkijs from 'pkijs';
import {
  constrainedNames,
  encodeDnString,
  formatDn,
  type GeneralName,
  type NameConstraints,
  nameViolation,
  type ParsedCertificate,
  parseCertificate,
  parseIpAddress,
  spkiSha256,
} from '../pki/index.js';
import {
  type DevKeyPair,
  type DevKeyType,
  generateDevKeyPair,
  keyTypeOf,
  loadDevKeyPair,
} from './keys.js';
import { parseSpiffeId } from './spiffe.js';
import {
  buildCertificate,
  buildCrl,
  type CrlContents,
  defaultPermittedSubtrees,
  type EncodedCertificate,
  ekuOids,
  formatIp,
  fromPem,
  type KeyUsageName,
  parseCrl,
  type RevocationEntry,
  type RevocationReason,
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

/** The server certificate's default names. */
export const defaultServerSans: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** Organization and country the dev CA puts in default subjects. */
const subjectSuffix = 'O=Tollgate Dev,C=US';

/** A client's default subject DN, for CA-issued and self-signed certificates alike. */
export function defaultSubject(clientId: string): string {
  return `CN=${clientId},${subjectSuffix}`;
}

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
  /**
   * Copy both subject DNs from another CA: makes a "foreign" CA whose certificates look like
   * ours by name but chain to a different key (the look-alike that SPKI pinning stops).
   */
  readonly subjectsLike?: Pick<DevCa, 'root' | 'intermediate'>;
}

/** What the dev CA reports about every certificate it makes or reads. */
export interface CertificateInfo {
  readonly certPem: string;
  readonly certDer: Buffer;
  /** RFC 4514 subject, most specific RDN first. */
  readonly subject: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType: DevKeyType;
  /** RFC 8705 §3.1 confirmation value `x5t#S256`: base64url SHA-256 of the DER. */
  readonly x5tS256: string;
}

/** One CA certificate and what callers need to trust or pin it. */
export interface CaCertificate extends CertificateInfo {
  /** PKCS#8 PEM; absent for a root opened from disk without its key. */
  readonly keyPem?: string;
  /** base64url SHA-256 of the SubjectPublicKeyInfo DER (`tls_client_auth_trust_anchor_spki_sha256`). */
  readonly spkiSha256: string;
}

/** Extended key usage: a named profile, `none` (no EKU extension), or names / OIDs. */
export type EkuOption = 'clientAuth' | 'serverAuth' | 'none' | readonly string[];

/** When a leaf is valid; see {@link validityOf}. */
export interface ValidityOptions {
  /** Default: now. */
  readonly notBefore?: Date;
  /** Default: notBefore + validity, clamped to the issuer's notAfter. */
  readonly notAfter?: Date;
  readonly validityDays?: number;
  /** Overrides the CA's clock for this certificate. */
  readonly now?: Date;
}

export interface IssueServerOptions extends ValidityOptions {
  /** DNS names and IP addresses. Default `localhost`, `127.0.0.1`, `::1`. */
  readonly sans?: readonly string[];
  readonly keyType?: DevKeyType;
}

export interface IssueClientOptions extends ValidityOptions {
  readonly clientId?: string;
  readonly sanDns?: readonly string[];
  readonly sanUri?: readonly string[];
  readonly sanIp?: readonly string[];
  readonly sanEmail?: readonly string[];
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
export interface IssuedCertificate extends CertificateInfo {
  readonly keyPem: string;
  /** Leaf then intermediate: what a TLS peer sends. */
  readonly chainPem: string;
  readonly issuer: string;
  readonly sans: Required<{ [K in keyof SubjectAltNames]: readonly string[] }>;
  /** EKU names (or OIDs when unnamed); empty when the certificate has no EKU extension. */
  readonly eku: readonly string[];
}

export interface IssuedClientCertificate extends IssuedCertificate {
  readonly clientId?: string;
}

/** A client certificate signed for a key the CA never saw (`dev-ca sign`). */
export type SignedClientCertificate = Omit<IssuedClientCertificate, 'keyPem'>;

/** {@link DevCa.signClient} options: the certified key, and the client's names. */
export interface SignClientOptions extends Omit<IssueClientOptions, 'keyType'> {
  /** DER SubjectPublicKeyInfo, from a verified CSR. */
  readonly spkiDer: Buffer;
}

/** One CRL in both encodings. */
export interface EncodedCrl extends CrlContents, EncodedCertificate {
  readonly nextUpdate: Date;
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

/** A serial number in hex (colons allowed), an issued certificate, or `{ certPem }`. */
export type RevocationTarget =
  | string
  | { readonly serialHex: string }
  | { readonly certPem: string };

/** Creates a root and an intermediate CA in memory. */
export async function createDevCa(options: CreateDevCaOptions = {}): Promise<DevCa> {
  const clock = clockOf(options.now);
  const profile = options.profile ?? 'test';
  const keyType = options.keyType ?? 'p256';
  const permitted = [
    ...(options.permittedSubtrees ?? defaultPermittedSubtrees),
    ...(options.permit ?? []),
  ];
  const now = truncate(clock());
  // Backdated by an hour so fixtures dated in the recent past (expired leaves) still nest in
  // the CA's validity and small clock skew between processes does not matter.
  const notBefore = new Date(now.getTime() - hourMs);
  const notAfter = new Date(now.getTime() + profiles[profile].caValidityMs);
  const like = options.subjectsLike;
  const [rootKey, intermediateKey] = await Promise.all([
    generateDevKeyPair(keyType),
    generateDevKeyPair(keyType),
  ]);
  const rootName = encodeDnString(like?.root.subject ?? `CN=Tollgate Dev Root CA,${subjectSuffix}`);
  const caCertificate = (subject: Buffer, key: DevKeyPair, pathLength?: number) =>
    buildCertificate({
      serial: randomSerial(),
      subject,
      issuer: rootName,
      notBefore,
      notAfter,
      subjectSpki: key.spkiDer,
      issuerSpki: rootKey.spkiDer,
      signer: rootKey,
      ca: pathLength === undefined ? {} : { pathLength },
      keyUsage: ['keyCertSign', 'cRLSign'],
      permittedSubtrees: permitted,
    }).pem;
  const intermediateSubject =
    like?.intermediate.subject ?? `CN=Tollgate Dev Intermediate CA,${subjectSuffix}`;
  return new DevCa({
    now: clock,
    profile,
    rootCertPem: caCertificate(rootName, rootKey),
    rootKeyPem: rootKey.privateKeyPem,
    // pathLen 0: the intermediate issues leaves only.
    intermediateCertPem: caCertificate(encodeDnString(intermediateSubject), intermediateKey, 0),
    intermediateKeyPem: intermediateKey.privateKeyPem,
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
}

/** Re-opens a CA from its PEM files (what the CLI does for every command after `init`). */
export async function openDevCa(options: OpenDevCaOptions): Promise<DevCa> {
  return new DevCa({ ...options, profile: options.profile ?? 'dev' });
}

type Which = 'root' | 'intermediate';

/** What the CA keeps per issuing certificate: its name and key, and its CRL's state. */
interface Issuer {
  /** The subject Name's DER, byte for byte as encoded (what a CRL's issuer must equal). */
  readonly name: Buffer;
  readonly spki: Buffer;
  /** Absent for a root opened without its key. */
  readonly key: DevKeyPair | undefined;
  readonly revoked: Map<string, RevocationEntry>;
  crlNumber: number;
  /** The CRL read from disk: without the root key it is the root CRL from then on. */
  readonly loadedCrl: EncodedCrl | undefined;
}

/** A development CA held in memory; made by {@link createDevCa} or {@link openDevCa}. */
export class DevCa {
  readonly root: CaCertificate;
  readonly intermediate: CaCertificate & { readonly keyPem: string };
  /** Intermediate then root (the `ca/chain.pem` order). */
  readonly chainPem: string;
  /** The permitted subtrees both CAs carry. */
  readonly permittedSubtrees: readonly string[];
  readonly profile: DevCaProfile;
  readonly #clock: () => Date;
  /** The intermediate's name constraints, as chain validation reads them. */
  readonly #constraints: NameConstraints | undefined;
  readonly #issuers: {
    readonly root: Issuer;
    readonly intermediate: Issuer & { readonly key: DevKeyPair };
  };

  /** @internal Use {@link createDevCa} or {@link openDevCa}. */
  constructor(options: OpenDevCaOptions & { readonly profile: DevCaProfile }) {
    this.#clock = clockOf(options.now);
    this.profile = options.profile;
    const root = new X509Certificate(options.rootCertPem);
    const intermediate = new X509Certificate(options.intermediateCertPem);
    const intermediateKey = loadDevKeyPair(options.intermediateKeyPem);
    if (!intermediate.checkPrivateKey(intermediateKey.privateKey)) {
      throw new TypeError(
        'dev-ca: the intermediate key does not match the intermediate certificate',
      );
    }
    const rootKey =
      options.rootKeyPem === undefined ? undefined : loadDevKeyPair(options.rootKeyPem);
    if (rootKey !== undefined && !root.checkPrivateKey(rootKey.privateKey)) {
      throw new TypeError('dev-ca: the root key does not match the root certificate');
    }
    this.root = describeCaCertificate(root, rootKey?.privateKeyPem);
    this.intermediate = {
      ...describeCaCertificate(intermediate),
      keyPem: intermediateKey.privateKeyPem,
    };
    this.chainPem = `${this.intermediate.certPem}${this.root.certPem}`;
    this.#constraints = parseCertificate(intermediate.raw).extensions.nameConstraints;
    this.permittedSubtrees = permittedSubtreesOf(this.#constraints);
    this.#issuers = {
      root: issuerOf(root, rootKey, options.rootCrlPem),
      intermediate: issuerOf(intermediate, intermediateKey, options.intermediateCrlPem),
    };
  }

  /** The CA's clock. */
  now(): Date {
    return this.#clock();
  }

  /**
   * True when a leaf may carry the DNS name or IP address `san`: the rule chain validation
   * applies (src/pki), so the CA refuses exactly what Tollgate and OpenSSL would refuse.
   * @see RFC 5280 §4.2.1.10
   */
  permits(san: string): boolean {
    const name: GeneralName =
      isIP(san) === 0 ? { type: 'dns', value: san } : { type: 'ip', bytes: parseIpAddress(san) };
    return this.#constraints === undefined || nameViolation(this.#constraints, name) === undefined;
  }

  /** Issues a serverAuth leaf for loopback names. @see RFC 5280 §4.2.1.12 */
  async issueServer(options: IssueServerOptions = {}): Promise<IssuedCertificate> {
    const sans = options.sans ?? defaultServerSans;
    const dns = sans.filter((san) => isIP(san) === 0);
    const ip = sans.filter((san) => isIP(san) !== 0);
    const keyType = options.keyType ?? this.intermediate.keyType;
    const key = await generateDevKeyPair(keyType);
    const issued = this.#issueLeaf({
      subject: `CN=${dns[0] ?? ip[0] ?? 'localhost'},${subjectSuffix}`,
      sans: { dns, ip, uri: [], email: [] },
      ekuOids: [ekuOids.serverAuth],
      spkiDer: key.spkiDer,
      // keyEncipherment only matters for RSA key transport, which TLS 1.3 dropped; keep it
      // for RSA server keys so TLS 1.2 RSA suites still work.
      keyUsage: keyType.startsWith('rsa')
        ? ['digitalSignature', 'keyEncipherment']
        : ['digitalSignature'],
      validity: options,
    });
    return { ...issued, keyPem: key.privateKeyPem, keyType };
  }

  /** Issues a clientAuth leaf for `tls_client_auth`. @see RFC 8705 §2.1 */
  async issueClient(options: IssueClientOptions): Promise<IssuedClientCertificate> {
    clientLeaf(options); // refuse bad options before generating a key
    const keyType = options.keyType ?? this.intermediate.keyType;
    const key = await generateDevKeyPair(keyType);
    const signed = this.signClient({ ...options, spkiDer: key.spkiDer });
    return { ...signed, keyPem: key.privateKeyPem, keyType };
  }

  /** Issues a clientAuth leaf for a given public key (a CSR's). @see RFC 2986, RFC 8705 §2.1 */
  signClient(options: SignClientOptions): SignedClientCertificate {
    const leaf = { ...clientLeaf(options), spkiDer: options.spkiDer, validity: options };
    const issued = this.#issueLeaf(leaf);
    return options.clientId === undefined ? issued : { ...issued, clientId: options.clientId };
  }

  /**
   * Revokes a certificate (serial hex, `{ certPem }`, or an issued certificate). The
   * intermediate's own serial goes on the root CRL, anything else on the intermediate CRL.
   * Idempotent per serial.
   */
  revoke(
    target: RevocationTarget,
    reason: RevocationReason = 'unspecified',
    at?: Date,
  ): RevocationEntry {
    const serialHex = serialOf(target);
    const byRoot = serialHex === this.intermediate.serialHex;
    const map = this.#issuers[byRoot ? 'root' : 'intermediate'].revoked;
    const existing = map.get(serialHex);
    if (existing !== undefined) return existing;
    if (byRoot && this.#issuers.root.key === undefined) {
      throw new TypeError('dev-ca: revoking the intermediate needs the root key (--keep-root-key)');
    }
    const entry: RevocationEntry = { serialHex, revokedAt: truncate(at ?? this.now()), reason };
    map.set(serialHex, entry);
    return entry;
  }

  /** Signs fresh CRLs for both CAs. Without the root key, the loaded root CRL is returned as is. */
  async crls(options: CrlOptions = {}): Promise<DevCaCrls> {
    const intermediate = this.#crl('intermediate', options.nextUpdateDays, options.now);
    let root = this.#issuers.root.loadedCrl;
    if (this.#issuers.root.key !== undefined) {
      const days = options.rootNextUpdateDays ?? options.nextUpdateDays;
      root = this.#crl('root', days, options.now);
    }
    // Without the root key the root CRL cannot change; the CLI signs it at init to last as long
    // as the root itself.
    if (root === undefined)
      throw new TypeError('dev-ca: neither the root key nor a root CRL is available');
    return { root, intermediate, combinedPem: `${intermediate.pem}${root.pem}` };
  }

  #crl(which: Which, days: number | undefined, at: Date | undefined): EncodedCrl {
    const now = truncate(at ?? this.now());
    const validityMs = days === undefined ? profiles[this.profile].crlValidityMs : days * dayMs;
    const caNotAfter = this[which].notAfter.getTime();
    const nextUpdate = new Date(Math.min(now.getTime() + validityMs, caNotAfter));
    const issuer = this.#issuers[which];
    const entries = [...issuer.revoked.values()];
    const crlNumber = ++issuer.crlNumber;
    if (issuer.key === undefined)
      throw new TypeError('dev-ca: no root key to sign the root CRL with');
    const built = buildCrl({
      issuer: issuer.name,
      issuerSpki: issuer.spki,
      signer: issuer.key,
      thisUpdate: now,
      nextUpdate,
      crlNumber,
      entries,
    });
    return { ...built, thisUpdate: now, nextUpdate, crlNumber, entries };
  }

  #issueLeaf(leaf: {
    readonly subject: string;
    readonly sans: IssuedCertificate['sans'];
    readonly ekuOids: readonly string[] | undefined;
    readonly spkiDer: Buffer;
    readonly keyUsage: KeyUsageName[];
    readonly validity: ValidityOptions;
  }): Omit<IssuedCertificate, 'keyPem'> {
    const { sans } = leaf;
    const { name, spki, key } = this.#issuers.intermediate;
    const { notBefore, notAfter } = validityOf(
      { ...leaf.validity, now: leaf.validity.now ?? this.now() },
      profiles[this.profile].leafValidityMs,
      this.intermediate.notAfter,
    );
    const cert = buildCertificate({
      serial: randomSerial(),
      subject: encodeDnString(leaf.subject),
      issuer: name,
      notBefore,
      notAfter,
      subjectSpki: leaf.spkiDer,
      issuerSpki: spki,
      signer: key,
      keyUsage: leaf.keyUsage,
      ...(leaf.ekuOids === undefined ? {} : { extKeyUsage: leaf.ekuOids }),
      subjectAltNames: sans,
    });
    this.#checkNames(parseCertificate(cert.der));
    return {
      ...describeCert(new X509Certificate(cert.der)),
      chainPem: `${cert.pem}${this.intermediate.certPem}`,
      issuer: this.intermediate.subject,
      sans,
      eku: (leaf.ekuOids ?? []).map(ekuName),
    };
  }

  /**
   * Refuses a leaf with a name outside the CA's name constraints before anyone sees it: checked
   * on the signed certificate with src/pki's rule (SANs, and a host-like CN when there is no DNS
   * SAN, as OpenSSL does), so a bad `--san` fails here with a clear message, not in a handshake.
   */
  #checkNames(leaf: ParsedCertificate): void {
    const constraints = this.#constraints;
    if (constraints === undefined) return;
    const sans: readonly GeneralName[] = leaf.extensions.subjectAltName ?? [];
    const outside = constrainedNames(leaf, true)
      .filter((name) => nameViolation(constraints, name) !== undefined)
      .map((name) => {
        const text = name.type === 'ip' ? formatIp(name.bytes) : 'value' in name ? name.value : '';
        return sans.includes(name as GeneralName) ? text : `CN=${text}`;
      });
    if (outside.length > 0) {
      throw new TypeError(
        `dev-ca: ${outside.join(', ')} outside the CA's name constraints (${this.permittedSubtrees.join(', ')}); widen them with --permit`,
      );
    }
  }
}

/** Describes a CA certificate and its key, if any. */
function describeCaCertificate(cert: X509Certificate, keyPem?: string): CaCertificate {
  return {
    ...describeCert(cert),
    ...(keyPem === undefined ? {} : { keyPem }),
    spkiSha256: spkiSha256(cert.raw),
  };
}

/** A certificate as the dev CA reports it. */
export function describeCert(cert: X509Certificate): CertificateInfo {
  const parsed = parseCertificate(cert.raw);
  let keyType: DevKeyType;
  try {
    keyType = keyTypeOf(cert.publicKey);
  } catch {
    // Keys the CA does not generate (a CSR's RSA-4096, P-521) report as rsa2048.
    keyType = 'rsa2048';
  }
  return {
    certPem: cert.toString(),
    certDer: cert.raw,
    subject: formatDn(parsed.subject),
    serialHex: cert.serialNumber.toUpperCase(),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    keyType,
    x5tS256: parsed.x5tS256,
  };
}

function issuerOf<K extends DevKeyPair | undefined>(
  cert: X509Certificate,
  key: K,
  crlPem: string | undefined,
): Issuer & { readonly key: K } {
  const loadedCrl = firstCrl(crlPem);
  return {
    name: Buffer.from(pkijs.Certificate.fromBER(cert.raw).subject.toSchema().toBER(false)),
    spki: cert.publicKey.export({ type: 'spki', format: 'der' }),
    key,
    revoked: new Map((loadedCrl?.entries ?? []).map((entry) => [entry.serialHex, entry])),
    crlNumber: loadedCrl?.crlNumber ?? 0,
    loadedCrl,
  };
}

/** Permitted subtrees in the `--permit` notation (DNS names, IP/prefix). */
function permittedSubtreesOf(constraints: NameConstraints | undefined): string[] {
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

/** The first CRL of a PEM file, as the CA reports CRLs. */
function firstCrl(pem: string | undefined): EncodedCrl | undefined {
  const der = pem === undefined ? undefined : fromPem('X509 CRL', pem)[0];
  if (pem === undefined || der === undefined) return undefined;
  const contents = parseCrl(der);
  return {
    pem: `${pem.trim()}\n`,
    der,
    thisUpdate: contents.thisUpdate,
    nextUpdate: contents.nextUpdate ?? contents.thisUpdate,
    crlNumber: contents.crlNumber,
    entries: contents.entries,
  };
}

function serialOf(target: RevocationTarget): string {
  if (typeof target !== 'string' && 'certPem' in target) {
    return new X509Certificate(target.certPem).serialNumber.toUpperCase();
  }
  const serial = typeof target === 'string' ? target : target.serialHex;
  const hex = serial.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]+$/.test(hex)) throw new TypeError(`dev-ca: not a serial number: ${serial}`);
  return hex;
}

/** Subject, SANs, EKU and key usage of a client leaf; an X.509-SVID when `spiffeId` is set. */
function clientLeaf(options: Omit<IssueClientOptions, 'keyType'>): {
  subject: string;
  sans: IssuedCertificate['sans'];
  ekuOids: string[] | undefined;
  keyUsage: KeyUsageName[];
} {
  if (options.subject === undefined && options.clientId === undefined) {
    throw new TypeError('dev-ca: issueClient needs a subject or a clientId');
  }
  const { sanDns = [], sanUri = [], sanIp = [], sanEmail = [], spiffeId } = options;
  const eku = resolveEku(options.eku ?? 'clientAuth');
  if (spiffeId !== undefined) {
    parseSpiffeId(spiffeId);
    // X509-SVID §2: exactly one URI SAN, the SPIFFE ID; §4.4: clientAuth for TLS clients.
    if ([sanDns, sanUri, sanIp, sanEmail].some((list) => list.length > 0)) {
      throw new TypeError(
        'dev-ca: an X.509-SVID has the SPIFFE ID as its only SAN; drop the --san-* options',
      );
    }
    if (!eku?.includes(ekuOids.clientAuth)) {
      throw new TypeError('dev-ca: an X.509-SVID for a client needs the clientAuth EKU');
    }
  }
  return {
    subject: options.subject ?? defaultSubject(options.clientId ?? ''),
    sans: {
      dns: sanDns,
      uri: spiffeId === undefined ? sanUri : [spiffeId],
      ip: sanIp,
      email: sanEmail,
    },
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
  return Object.entries(ekuOids).find(([, value]) => value === oid)?.[0] ?? oid;
}

/**
 * A leaf's validity: from `notBefore` (default `now`, default the system clock) for
 * `validityDays` (default `defaultMs`), never past `issuerNotAfter` unless `notAfter` is given.
 */
export function validityOf(
  options: ValidityOptions,
  defaultMs: number,
  issuerNotAfter?: Date,
): { notBefore: Date; notAfter: Date } {
  const notBefore = truncate(options.notBefore ?? options.now ?? new Date());
  if (options.notAfter !== undefined) return { notBefore, notAfter: truncate(options.notAfter) };
  const validityMs = options.validityDays === undefined ? defaultMs : options.validityDays * dayMs;
  const end = Math.min(notBefore.getTime() + validityMs, issuerNotAfter?.getTime() ?? Infinity);
  return { notBefore, notAfter: truncate(new Date(end)) };
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
