/**
 * The certificate extensions chain validation acts on, decoded strictly.
 *
 * Anything critical that is not listed here is reported in `unhandledCritical`, and a path that
 * contains such a certificate is refused (RFC 5280 §4.2: a certificate-using system MUST reject a
 * certificate with a critical extension it does not recognize). certificatePolicies is accepted
 * even when critical: Tollgate runs path validation with the any-policy initial set and no
 * explicit-policy requirement, under which policies cannot make a path fail (RFC 5280 §6.1.1).
 *
 * @see RFC 5280 §4.2.1
 */
import {
  DerError,
  integerBytes,
  isContext,
  readBitString,
  readBoolean,
  readOctetString,
  readOid,
  readSingle,
  readSmallInteger,
  sequenceChildren,
  type Tlv,
} from './der.js';
import type { DistinguishedName } from './dn.js';
import { bytesToHex } from './encoding.js';
import { type GeneralName, readGeneralName, readGeneralNames } from './general-name.js';

/** Extension and key purpose OIDs. */
export const extensionOids = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  /** Netscape certificate type: OpenSSL's sslclient purpose still reads it. */
  netscapeCertType: '2.16.840.1.113730.1.1',
  crlDistributionPoints: '2.5.29.31',
  /** RFC 3820 proxy certificates, RFC 3779 IP address and AS number resources. */
  proxyCertInfo: '1.3.6.1.5.5.7.1.14',
  ipAddrBlocks: '1.3.6.1.5.5.7.1.7',
  autonomousSysIds: '1.3.6.1.5.5.7.1.8',
} as const;

/**
 * Extensions refused even when not critical: each changes what the certificate means (a proxy
 * certificate speaks for another; RFC 3779 resources must nest along the path), OpenSSL acts on
 * them, and Tollgate does not process them.
 */
const refusedExtensions: Readonly<Record<string, string>> = {
  [extensionOids.proxyCertInfo]: 'a proxy certificate extension (RFC 3820)',
  [extensionOids.ipAddrBlocks]: 'an IP address resources extension (RFC 3779)',
  [extensionOids.autonomousSysIds]: 'an AS number resources extension (RFC 3779)',
};

/** Netscape certificate type bits (bit 0 is SSL client). */
export const netscapeCertTypeBits = { sslClient: 0 } as const;

/** EKU purposes. @see RFC 5280 §4.2.1.12 */
export const keyPurposeOids = {
  anyExtendedKeyUsage: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
} as const;

/** Key usage bit numbers. @see RFC 5280 §4.2.1.3 */
export const keyUsageBits = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
export type KeyUsageName = keyof typeof keyUsageBits;

/** @see RFC 5280 §4.2.1.9 */
export interface BasicConstraints {
  readonly cA: boolean;
  readonly pathLenConstraint: number | undefined;
}

/** Permitted and excluded subtrees. @see RFC 5280 §4.2.1.10 */
export interface NameConstraints {
  readonly permitted: readonly GeneralName[];
  readonly excluded: readonly GeneralName[];
}

/** The decoded extensions of one certificate. */
export interface CertificateExtensions {
  readonly basicConstraints: BasicConstraints | undefined;
  /** Bit mask: bit `n` set when key usage bit `n` is asserted. */
  readonly keyUsage: number | undefined;
  readonly extKeyUsage: readonly string[] | undefined;
  readonly subjectAltName: readonly GeneralName[] | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly subjectKeyIdentifier: Uint8Array | undefined;
  readonly authorityKeyIdentifier: Uint8Array | undefined;
  /**
   * The AKI's authorityCertIssuer (its first directoryName) and authorityCertSerialNumber
   * (lower-case hex of the INTEGER content, as {@link ParsedCertificate.serialNumber}): the
   * issuer's issuer and the issuer's serial number, when the CA wrote them.
   */
  readonly authorityCertIssuer: DistinguishedName | undefined;
  readonly authorityCertSerialNumber: string | undefined;
  /** Netscape certificate type bit mask (bit `n` set when bit `n` is asserted), if present. */
  readonly netscapeCertType: number | undefined;
  /** OIDs of critical extensions this module does not process. */
  readonly unhandledCritical: readonly string[];
  /** What the certificate carries that Tollgate refuses critical or not (see `refusedExtensions`). */
  readonly refused: readonly string[];
  /** OIDs of every extension marked critical (profile checks read criticality). */
  readonly critical: ReadonlySet<string>;
}

const noExtensions: ReadonlySet<string> = new Set();

/** True when the key usage mask asserts `name`. */
export function hasKeyUsage(mask: number, name: KeyUsageName): boolean {
  return (mask & (1 << keyUsageBits[name])) !== 0;
}

/**
 * Decodes a DER `Extensions` SEQUENCE on its own, e.g. a PKCS#10 extensionRequest (RFC 2985
 * §5.4.2), with the rules a certificate's extensions are read by; throws `DerError`.
 */
export function parseExtensions(der: Uint8Array): CertificateExtensions {
  return readExtensions(readSingle(der));
}

/** Decodes the `extensions` SEQUENCE of a v3 TBSCertificate (or `undefined` for none). */
export function readExtensions(extensions: Tlv | undefined): CertificateExtensions {
  const result: {
    -readonly [K in keyof CertificateExtensions]: CertificateExtensions[K];
  } = {
    basicConstraints: undefined,
    keyUsage: undefined,
    extKeyUsage: undefined,
    subjectAltName: undefined,
    nameConstraints: undefined,
    subjectKeyIdentifier: undefined,
    authorityKeyIdentifier: undefined,
    authorityCertIssuer: undefined,
    authorityCertSerialNumber: undefined,
    netscapeCertType: undefined,
    unhandledCritical: [],
    refused: [],
    critical: noExtensions,
  };
  if (extensions === undefined) return result;
  const list = sequenceChildren(extensions, 'Extensions');
  if (list.length === 0) throw new DerError('empty Extensions');
  const seen = new Set<string>();
  const unhandledCritical: string[] = [];
  const refused: string[] = [];
  const criticalOids = new Set<string>();
  for (const extension of list) {
    const fields = sequenceChildren(extension, 'Extension');
    const oid = readOid(fields[0], 'extnID');
    let index = 1;
    let critical = false;
    if (fields.length === 3) {
      critical = readBoolean(fields[1], 'critical');
      index = 2;
    } else if (fields.length !== 2) {
      throw new DerError('bad Extension');
    }
    const value = readOctetString(fields[index], 'extnValue');
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
    if (seen.has(oid)) throw new DerError('duplicate extension');
    seen.add(oid);
    if (critical) criticalOids.add(oid);
    switch (oid) {
      case extensionOids.basicConstraints:
        result.basicConstraints = basicConstraintsOf(readSingle(value));
        break;
      case extensionOids.keyUsage:
        result.keyUsage = keyUsageOf(readSingle(value));
        break;
      case extensionOids.extKeyUsage:
        result.extKeyUsage = extKeyUsageOf(readSingle(value));
        break;
      case extensionOids.subjectAltName:
        result.subjectAltName = readGeneralNames(readSingle(value));
        break;
      case extensionOids.nameConstraints:
        result.nameConstraints = nameConstraintsOf(readSingle(value));
        break;
      case extensionOids.subjectKeyIdentifier:
        result.subjectKeyIdentifier = readOctetString(readSingle(value), 'subjectKeyIdentifier');
        break;
      case extensionOids.authorityKeyIdentifier: {
        const aki = authorityKeyIdentifierOf(readSingle(value));
        result.authorityKeyIdentifier = aki.keyIdentifier;
        result.authorityCertIssuer = aki.issuer;
        result.authorityCertSerialNumber = aki.serial;
        break;
      }
      case extensionOids.netscapeCertType:
        // Read (a malformed one is refused, as OpenSSL does) but not processed when critical.
        result.netscapeCertType = bitMaskOf(readSingle(value), 'NetscapeCertType');
        if (critical) unhandledCritical.push(oid);
        break;
      case extensionOids.certificatePolicies:
        break;
      case extensionOids.crlDistributionPoints:
        // Not used (CRLs are configured), but read: OpenSSL refuses a certificate whose
        // distribution points do not decode, and so does Tollgate.
        checkCrlDistributionPoints(readSingle(value));
        if (critical) unhandledCritical.push(oid);
        break;
      default: {
        const what = refusedExtensions[oid];
        if (what !== undefined) refused.push(what);
        else if (critical) unhandledCritical.push(oid);
      }
    }
  }
  result.unhandledCritical = unhandledCritical;
  result.refused = refused;
  result.critical = criticalOids;
  return result;
}

function basicConstraintsOf(tlv: Tlv): BasicConstraints {
  const fields = sequenceChildren(tlv, 'BasicConstraints');
  let cA = false;
  let pathLenConstraint: number | undefined;
  let index = 0;
  if (fields[index] !== undefined && fields[index]?.tagNumber === 1) {
    cA = readBoolean(fields[index], 'cA');
    index++;
  }
  if (fields[index] !== undefined) {
    pathLenConstraint = readSmallInteger(fields[index], 'pathLenConstraint');
    index++;
  }
  if (index !== fields.length) throw new DerError('bad BasicConstraints');
  return { cA, pathLenConstraint };
}

function keyUsageOf(tlv: Tlv): number {
  return bitMaskOf(tlv, 'KeyUsage');
}

/** A named-bit BIT STRING of one or two octets as a mask (bit `n` of the string is `1 << n`). */
function bitMaskOf(tlv: Tlv, what: string): number {
  const { bytes, unusedBits } = readBitString(tlv, what);
  if (bytes.length === 0 || bytes.length > 2) throw new DerError(`bad ${what}`);
  let mask = 0;
  for (let bit = 0; bit < bytes.length * 8 - unusedBits; bit++) {
    if (((bytes[bit >> 3] as number) & (0x80 >> (bit & 7))) !== 0) mask |= 1 << bit;
  }
  return mask;
}

function extKeyUsageOf(tlv: Tlv): string[] {
  const purposes = sequenceChildren(tlv, 'ExtKeyUsageSyntax').map((oid) =>
    readOid(oid, 'KeyPurposeId'),
  );
  if (purposes.length === 0) throw new DerError('empty ExtKeyUsageSyntax');
  return purposes;
}

interface AuthorityKeyIdentifier {
  readonly keyIdentifier: Uint8Array | undefined;
  readonly issuer: DistinguishedName | undefined;
  readonly serial: string | undefined;
}

/**
 * keyIdentifier [0], authorityCertIssuer [1] GeneralNames, authorityCertSerialNumber [2], each
 * optional, in that order and nothing else.
 *
 * @see RFC 5280 §4.2.1.1
 */
function authorityKeyIdentifierOf(tlv: Tlv): AuthorityKeyIdentifier {
  const fields = sequenceChildren(tlv, 'AuthorityKeyIdentifier');
  let index = 0;
  let keyIdentifier: Uint8Array | undefined;
  let issuer: DistinguishedName | undefined;
  let serial: string | undefined;
  let field = fields[index];
  if (field !== undefined && isContext(field, 0)) {
    if (field.constructed) throw new DerError('bad AuthorityKeyIdentifier keyIdentifier');
    keyIdentifier = field.value;
    field = fields[++index];
  }
  if (field !== undefined && isContext(field, 1)) {
    // [1] IMPLICIT GeneralNames: re-read the content as a SEQUENCE body.
    const names = readGeneralNames({ ...field, tagClass: 0, tagNumber: 16 });
    for (const name of names) {
      if (name.type === 'directory') {
        issuer = name.dn;
        break;
      }
    }
    field = fields[++index];
  }
  if (field !== undefined && isContext(field, 2)) {
    // [2] IMPLICIT CertificateSerialNumber: minimal INTEGER content octets.
    serial = bytesToHex(
      integerBytes({ ...field, tagClass: 0, tagNumber: 2 }, 'authorityCertSerialNumber'),
    );
    field = fields[++index];
  }
  if (index !== fields.length) throw new DerError('bad AuthorityKeyIdentifier');
  return { keyIdentifier, issuer, serial };
}

/**
 * CRLDistributionPoints: DistributionPoints, each with a distributionPoint (fullName or
 * nameRelativeToCRLIssuer) or a cRLIssuer, optional reasons, in order.
 *
 * @see RFC 5280 §4.2.1.13
 */
function checkCrlDistributionPoints(tlv: Tlv): void {
  const points = sequenceChildren(tlv, 'CRLDistributionPoints');
  if (points.length === 0) throw new DerError('empty CRLDistributionPoints');
  for (const point of points) {
    const fields = sequenceChildren(point, 'DistributionPoint');
    let index = 0;
    let named = false;
    let field = fields[index];
    if (field !== undefined && isContext(field, 0)) {
      // A CHOICE: the [0] tag is explicit, so it wraps one element.
      if (!field.constructed) throw new DerError('bad DistributionPointName');
      const name = readSingle(field.value);
      if (isContext(name, 0)) readGeneralNames({ ...name, tagClass: 0, tagNumber: 16 });
      else if (!isContext(name, 1) || !name.constructed) {
        throw new DerError('bad DistributionPointName');
      }
      named = true;
      field = fields[++index];
    }
    if (field !== undefined && isContext(field, 1)) {
      readBitString({ ...field, tagClass: 0, tagNumber: 3 }, 'ReasonFlags');
      field = fields[++index];
    }
    if (field !== undefined && isContext(field, 2)) {
      readGeneralNames({ ...field, tagClass: 0, tagNumber: 16 });
      named = true;
      field = fields[++index];
    }
    if (index !== fields.length || !named) throw new DerError('bad DistributionPoint');
  }
}

function nameConstraintsOf(tlv: Tlv): NameConstraints {
  const fields = sequenceChildren(tlv, 'NameConstraints');
  let permitted: GeneralName[] = [];
  let excluded: GeneralName[] = [];
  let index = 0;
  const permittedField = fields[index];
  if (permittedField !== undefined && isContext(permittedField, 0)) {
    permitted = subtreesOf(permittedField);
    index++;
  }
  const excludedField = fields[index];
  if (excludedField !== undefined && isContext(excludedField, 1)) {
    excluded = subtreesOf(excludedField);
    index++;
  }
  // RFC 5280 §4.2.1.10: the extension MUST NOT be an empty sequence.
  if (index !== fields.length || index === 0) throw new DerError('bad NameConstraints');
  return { permitted, excluded };
}

function subtreesOf(tlv: Tlv): GeneralName[] {
  if (!tlv.constructed) throw new DerError('bad GeneralSubtrees');
  const subtrees = sequenceChildren(
    // [0]/[1] IMPLICIT GeneralSubtrees: re-read the content as a SEQUENCE body.
    { ...tlv, tagClass: 0, tagNumber: 16 },
    'GeneralSubtrees',
  );
  if (subtrees.length === 0) throw new DerError('empty GeneralSubtrees');
  return subtrees.map((subtree) => {
    const [base, ...rest] = sequenceChildren(subtree, 'GeneralSubtree');
    if (base === undefined) throw new DerError('bad GeneralSubtree');
    // RFC 5280 §4.2.1.10: minimum MUST be zero and maximum MUST be absent.
    for (const field of rest) {
      if (isContext(field, 0) && field.value.length === 1 && field.value[0] === 0) continue;
      throw new DerError('GeneralSubtree minimum/maximum not supported');
    }
    const name = readGeneralName(base);
    if (name.type === 'ip' && !isAddressRange(name.bytes)) {
      throw new DerError('iPAddress constraint is not an address and a contiguous mask');
    }
    return name;
  });
}

/**
 * RFC 5280 §4.2.1.10: an iPAddress constraint is an address and a mask of the same length, 8
 * octets (IPv4) or 32 (IPv6), the mask a CIDR prefix (ones, then zeros).
 */
function isAddressRange(bytes: Uint8Array): boolean {
  if (bytes.length !== 8 && bytes.length !== 32) return false;
  let zeros = false;
  for (const octet of bytes.subarray(bytes.length / 2)) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = ((octet >> bit) & 1) === 1;
      if (one && zeros) return false;
      if (!one) zeros = true;
    }
  }
  return true;
}
