/**
 * X.509 v3 certificates and v2 CRLs for the dev CA, built with pkijs (whose ASN.1 model also
 * backs src/pki) and signed with node:crypto: one builder, one profile, for every key type. Name
 * constraints are encoded here and checked with src/pki's rule (ca.ts). A CRL is the revocation
 * state on disk, so `revoke` and `crl` re-read it rather than keeping a second database.
 *
 * @see RFC 5280 §4.1 (certificate fields), §4.2 (extensions), §4.2.1.10 (name constraints),
 *      §5 (CRL profile), §5.2.3 (CRL number), §5.3.1 (reason code)
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  decodePem,
  encodePem,
  formatIpAddress,
  keyUsageBits,
  type KeyUsageName as PkiKeyUsageName,
  parseIpAddress,
  parseCrl as parsePkiCrl,
} from '../pki/index.js';
import { type DevKeyPair, signatureAlgorithmFor, signTbs } from './keys.js';

/**
 * The key usages the dev CA issues (RFC 5280 §4.2.1.3): the first byte of the bit string, which
 * is all `keyUsageBitString` encodes (encipherOnly/decipherOnly are never issued).
 */
export type KeyUsageName = Exclude<PkiKeyUsageName, 'encipherOnly' | 'decipherOnly'>;

/** Extended key usage OIDs by name (RFC 5280 §4.2.1.12), as src/pki checks them. */
export { keyPurposeOids as ekuOids } from '../pki/index.js';

/** Subject alternative names, by RFC 5280 §4.2.1.6 name form. */
export interface SubjectAltNames {
  readonly dns?: readonly string[];
  readonly uri?: readonly string[];
  readonly ip?: readonly string[];
  readonly email?: readonly string[];
}

/** Everything that varies between the certificates the dev CA makes. */
export interface CertificateTemplate {
  readonly serial: Buffer;
  /** DER Name of the subject. */
  readonly subject: Buffer;
  /** DER Name of the issuer: byte-identical to the issuer's subject, as path building needs. */
  readonly issuer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The certified public key (DER SubjectPublicKeyInfo). */
  readonly subjectSpki: Buffer;
  /** The issuer's public key, for the authority key identifier. */
  readonly issuerSpki: Buffer;
  readonly signer: DevKeyPair;
  /** Present for CA certificates. */
  readonly ca?: { readonly pathLength?: number };
  readonly keyUsage: readonly KeyUsageName[];
  /** EKU OIDs; absent means no EKU extension at all. */
  readonly extKeyUsage?: readonly string[];
  readonly subjectAltNames?: SubjectAltNames;
  /** Permitted subtrees: DNS names (`localhost`, `.test`) and IP ranges (`127.0.0.1/32`). */
  readonly permittedSubtrees?: readonly string[];
}

/** A signed certificate in both encodings. */
export interface EncodedCertificate {
  readonly der: Buffer;
  readonly pem: string;
}

/** A fresh positive 128-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable). */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  // Clear the top bit so the INTEGER stays positive without a leading zero octet, and keep the
  // first octet non-zero so the DER encoding is exactly 16 octets and the hex is stable.
  serial[0] = ((serial[0] as number) & 0x7f) | 0x10;
  return serial;
}

/**
 * Builds and signs a certificate from a template: the one builder for every certificate the dev
 * CA issues (CA, server, client, X.509-SVID), whatever the keys. The TBS is signed with
 * `crypto.sign` rather than a pkijs crypto engine, so the engine src/pki validates with is never
 * touched.
 */
export function buildCertificate(template: CertificateTemplate): EncodedCertificate {
  const certificate = new pkijs.Certificate();
  certificate.version = 2;
  certificate.serialNumber = new asn1js.Integer({ valueHex: template.serial });
  certificate.issuer = pkijs.RelativeDistinguishedNames.fromBER(template.issuer);
  certificate.subject = pkijs.RelativeDistinguishedNames.fromBER(template.subject);
  certificate.notBefore = timeOf(template.notBefore);
  certificate.notAfter = timeOf(template.notAfter);
  certificate.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(template.subjectSpki);

  const { ca, extKeyUsage, permittedSubtrees = [] } = template;
  const altNames = generalNames(template.subjectAltNames);
  const basic =
    ca?.pathLength === undefined
      ? { cA: ca !== undefined }
      : { cA: true, pathLenConstraint: ca.pathLength };
  certificate.extensions = [
    extension(pkijs.id_BasicConstraints, true, new pkijs.BasicConstraints(basic).toSchema()),
    extension(pkijs.id_KeyUsage, true, keyUsageBitString(template.keyUsage)),
    ...(extKeyUsage === undefined
      ? []
      : [
          extension(
            pkijs.id_ExtKeyUsage,
            false,
            new pkijs.ExtKeyUsage({ keyPurposes: [...extKeyUsage] }).toSchema(),
          ),
        ]),
    extension(
      pkijs.id_SubjectKeyIdentifier,
      false,
      new asn1js.OctetString({ valueHex: keyIdentifier(template.subjectSpki) }),
    ),
    authorityKeyIdentifier(template.issuerSpki),
    // RFC 5280 §4.2.1.6: critical only when the subject is empty; ours never is.
    ...(altNames.length === 0
      ? []
      : [extension(pkijs.id_SubjectAltName, false, new pkijs.AltName({ altNames }).toSchema())]),
    // RFC 5280 §4.2.1.10: conforming CAs MUST mark name constraints critical.
    ...(permittedSubtrees.length === 0
      ? []
      : [extension(pkijs.id_NameConstraints, true, nameConstraints(permittedSubtrees))]),
  ];
  certificate.signature = algorithmIdentifier(template.signer);
  certificate.signatureAlgorithm = algorithmIdentifier(template.signer);
  certificate.tbsView = new Uint8Array(certificate.encodeTBS().toBER(false));
  certificate.signatureValue = new asn1js.BitString({
    valueHex: signTbs(template.signer, certificate.tbsView),
  });
  const der = Buffer.from(certificate.toSchema(false).toBER(false));
  return { der, pem: encodePem('CERTIFICATE', der) };
}

/** `NameConstraints` with only permitted subtrees (DNS names, `.suffix`, IP/prefix). */
function nameConstraints(permittedSubtrees: readonly string[]): asn1js.Sequence {
  const permitted = permittedSubtrees.map(
    (entry) => new pkijs.GeneralSubtree({ base: constraintName(entry) }),
  );
  return new pkijs.NameConstraints({ permittedSubtrees: permitted }).toSchema();
}

/** The AlgorithmIdentifier for signatures made with `key`. */
function algorithmIdentifier(key: DevKeyPair): pkijs.AlgorithmIdentifier {
  const { oid, nullParams } = signatureAlgorithmFor(key.keyType);
  return nullParams
    ? new pkijs.AlgorithmIdentifier({ algorithmId: oid, algorithmParams: new asn1js.Null() })
    : new pkijs.AlgorithmIdentifier({ algorithmId: oid });
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdentifier(spkiDer: Buffer): Buffer {
  const spki = pkijs.PublicKeyInfo.fromBER(spkiDer);
  return createHash('sha1').update(spki.subjectPublicKey.valueBlock.valueHexView).digest();
}

/** A pkijs Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function timeOf(date: Date): pkijs.Time {
  return new pkijs.Time({ type: date.getUTCFullYear() < 2050 ? 0 : 1, value: date });
}

/**
 * Every PEM block of `pem`, as DER, read by src/pki's decoder; none when the text is not PEM of
 * that label (the dev CA then reports the file as missing or unreadable).
 */
export function fromPem(label: string, pem: string): Buffer[] {
  try {
    return decodePem(pem, label);
  } catch {
    return [];
  }
}

/**
 * 4- or 16-octet network form to text. IPv6 in the RFC 5952 form (first longest zero run of two
 * or more groups compressed), which is how the WHATWG URL parser serialises an IPv6 host.
 */
export function formatIp(bytes: Uint8Array): string {
  const text = formatIpAddress(bytes);
  return bytes.length === 4 ? text : new URL(`http://[${text}]`).hostname.slice(1, -1);
}

/** The default permitted subtrees: loopback names and addresses, and the RFC 2606/6761 `.test`. */
export const defaultPermittedSubtrees: readonly string[] = [
  'localhost',
  '.localhost',
  '.test',
  '127.0.0.1/32',
  '::1/128',
];

/** A `--permit` entry as a permitted subtree: a DNS name or `.suffix`, or an IP network. */
function constraintName(entry: string): pkijs.GeneralName {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  if (isIP(address) === 0) {
    if (!/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(entry)) {
      throw new TypeError(`dev-ca: name constraint must be a DNS name or IP/prefix, got ${entry}`);
    }
    return new pkijs.GeneralName({ type: 2, value: entry.toLowerCase() });
  }
  const bytes = parseIpAddress(address);
  const bits = slash < 0 ? bytes.length * 8 : Number(entry.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) {
    throw new TypeError(`dev-ca: bad prefix length in ${entry}`);
  }
  const mask = Buffer.alloc(bytes.length);
  for (let i = 0; i < bits; i += 1) mask[i >> 3] = (mask[i >> 3] as number) | (0x80 >> (i & 7));
  const network = bytes.map((byte, i) => byte & (mask[i] as number));
  // RFC 5280 §4.2.1.10: an iPAddress constraint is the address followed by the mask.
  const value = new asn1js.OctetString({ valueHex: Buffer.concat([network, mask]) });
  return new pkijs.GeneralName({ type: 7, value });
}

function generalNames(names: SubjectAltNames | undefined): pkijs.GeneralName[] {
  if (names === undefined) return [];
  return [
    ...(names.dns ?? []).map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...(names.ip ?? []).map(
      (value) =>
        new pkijs.GeneralName({
          type: 7,
          value: new asn1js.OctetString({ valueHex: parseIpAddress(value) }),
        }),
    ),
    ...(names.uri ?? []).map((value) => new pkijs.GeneralName({ type: 6, value })),
    ...(names.email ?? []).map((value) => new pkijs.GeneralName({ type: 1, value })),
  ];
}

function keyUsageBitString(usages: readonly KeyUsageName[]): asn1js.BitString {
  let bits = 0;
  for (const usage of usages) bits |= 0x80 >> keyUsageBits[usage];
  if (bits === 0) throw new TypeError('dev-ca: a key usage extension needs at least one bit');
  // DER (X.690 §11.2.2): named bit lists drop trailing zero bits, counted in "unused bits".
  let unused = 0;
  while (((bits >> unused) & 1) === 0) unused += 1;
  return new asn1js.BitString({ valueHex: new Uint8Array([bits]), unusedBits: unused });
}

/** An extension with the DER of `value`, for certificates, CRLs and CRL entries. */
function extension(extnID: string, critical: boolean, value: asn1js.BaseBlock): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** The authority key identifier of `issuerSpki`'s certificates and CRLs (RFC 5280 §4.2.1.1). */
function authorityKeyIdentifier(issuerSpki: Buffer): pkijs.Extension {
  const keyId = new asn1js.OctetString({ valueHex: keyIdentifier(issuerSpki) });
  const value = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: keyId }).toSchema();
  return extension(pkijs.id_AuthorityKeyIdentifier, false, value);
}

/** RFC 5280 §5.3.1 CRLReason values (7 is unused). */
export const revocationReasons = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof revocationReasons;

/** One revoked certificate. */
export interface RevocationEntry {
  /** Serial number, upper-case hex without separators (as `openssl crl -text` prints it). */
  readonly serialHex: string;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

/** What a CRL says, in the dev CA's terms. */
export interface CrlContents {
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: number;
  readonly entries: readonly RevocationEntry[];
}

export interface CrlTemplate extends CrlContents {
  readonly nextUpdate: Date;
  /** DER Name of the issuing CA. */
  readonly issuer: Buffer;
  readonly issuerSpki: Buffer;
  readonly signer: DevKeyPair;
}

/** Builds and signs a v2 CRL with a CRL number, AKI, and per-entry reason codes. */
export function buildCrl(template: CrlTemplate): EncodedCertificate {
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.issuer = pkijs.RelativeDistinguishedNames.fromBER(template.issuer);
  crl.thisUpdate = timeOf(template.thisUpdate);
  crl.nextUpdate = timeOf(template.nextUpdate);
  if (template.entries.length > 0) {
    crl.revokedCertificates = template.entries.map((entry) => {
      const revoked = new pkijs.RevokedCertificate({
        userCertificate: new asn1js.Integer({ valueHex: Buffer.from(entry.serialHex, 'hex') }),
        revocationDate: timeOf(entry.revokedAt),
      });
      // RFC 5280 §5.3.1: the reason code SHOULD be absent rather than "unspecified".
      if (entry.reason !== 'unspecified') {
        const code = new asn1js.Enumerated({ value: revocationReasons[entry.reason] });
        const reason = extension(pkijs.id_CRLReason, false, code);
        revoked.crlEntryExtensions = new pkijs.Extensions({ extensions: [reason] });
      }
      return revoked;
    });
  }
  const crlNumber = new asn1js.Integer({ value: template.crlNumber });
  crl.crlExtensions = new pkijs.Extensions({
    extensions: [
      authorityKeyIdentifier(template.issuerSpki),
      extension(pkijs.id_CRLNumber, false, crlNumber),
    ],
  });
  crl.signature = algorithmIdentifier(template.signer);
  crl.signatureAlgorithm = algorithmIdentifier(template.signer);
  // encodeTBS is protected on CRLs (public on certificates) but is the only way to get the TBS.
  const tbs = (crl as unknown as { encodeTBS(): asn1js.Sequence }).encodeTBS();
  crl.tbsView = new Uint8Array(tbs.toBER(false));
  crl.signatureValue = new asn1js.BitString({
    valueHex: signTbs(template.signer, crl.tbsView),
  });
  const der = Buffer.from(crl.toSchema(false).toBER(false));
  return { der, pem: encodePem('X509 CRL', der) };
}

/**
 * Reads a CRL with src/pki's parser (the one the server loads CRLs with), reason codes by name.
 * Does not verify the signature.
 */
export function parseCrl(der: Uint8Array): CrlContents {
  const crl = parsePkiCrl(der);
  const reasons = Object.entries(revocationReasons);
  return {
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    crlNumber: Number(crl.crlNumber),
    entries: crl.entries.map((entry) => ({
      serialHex: entry.serial.toUpperCase(),
      revokedAt: entry.revocationDate,
      reason: (reasons.find(([, code]) => code === entry.reasonCode)?.[0] ??
        'unspecified') as RevocationReason,
    })),
  };
}
