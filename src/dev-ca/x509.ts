/**
 * X.509 v3 certificates for the dev CA, built with pkijs (whose ASN.1 model also backs src/pki)
 * and signed with node:crypto: one builder, one profile, for every key type. Name constraints
 * are encoded here and checked with src/pki's rule (ca.ts).
 *
 * @see RFC 5280 §4.1 (certificate fields), §4.2 (extensions), §4.2.1.10 (name constraints)
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
export function algorithmIdentifier(key: DevKeyPair): pkijs.AlgorithmIdentifier {
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

/** 4- or 16-octet network form to text; IPv6 with its longest zero run compressed (RFC 5952). */
export function formatIp(bytes: Uint8Array): string {
  const text = formatIpAddress(bytes);
  const runs = [...text.matchAll(/(?:^|:)0(?::0)+(?::|$)/g)].sort(
    (a, b) => b[0].length - a[0].length,
  );
  return bytes.length === 4 || runs[0] === undefined ? text : text.replace(runs[0][0], '::');
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
export function extension(
  extnID: string,
  critical: boolean,
  value: asn1js.BaseBlock,
): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

/** The authority key identifier of `issuerSpki`'s certificates and CRLs (RFC 5280 §4.2.1.1). */
export function authorityKeyIdentifier(issuerSpki: Buffer): pkijs.Extension {
  const keyId = new asn1js.OctetString({ valueHex: keyIdentifier(issuerSpki) });
  const value = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: keyId }).toSchema();
  return extension(pkijs.id_AuthorityKeyIdentifier, false, value);
}
