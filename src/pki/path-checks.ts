/**
 * The validators run on a candidate certification path (leaf first, trust anchor last) once its
 * signatures have verified. Each is small, named and returns a failure or `undefined`; the trust
 * store runs them in a fixed order (validity, key policy, certificate profile, critical
 * extensions, basic constraints, key usage, EKU, name constraints, revocation, pin) so that the
 * reason reported is deterministic.
 *
 * The certificate profile ({@link certificateProfileProblem}) holds every certificate of the
 * path, the trust anchor included, to the RFC 5280 rules a conforming CA MUST follow and that
 * `openssl verify -x509_strict` enforces, plus the CA/Browser Forum rules a high-assurance
 * private PKI should meet: v3 only; serial numbers positive and at most 20 octets (anchors
 * exempt: an operator's legacy root is trusted by choice); a non-empty issuer; a subject, or an
 * empty subject with a critical subjectAltName on an end entity; authority key identifier on
 * every certificate but the anchor, subject key identifier on every CA, neither critical, and an
 * AKI that names its issuer's SKI; basicConstraints critical on CAs, no pathLenConstraint, name
 * constraints or keyCertSign outside CAs, a key usage on every CA; no anyExtendedKeyUsage and no
 * critical EKU in a leaf, no EKU in a trust anchor; dNSName and rfc822Name SANs in their
 * preferred syntax.
 *
 * Policy beyond RFC 5280, on purpose:
 * - the trust anchor's own validity period, pathLenConstraint, key usage and name constraints
 *   are enforced (RFC 5937 style), since a configured anchor is a certificate we chose to trust
 *   with its constraints;
 * - the leaf must not be a CA (`cA: TRUE`) and, when it has a key usage, must assert
 *   digitalSignature (a TLS client signs CertificateVerify). A CA certificate presented as a
 *   client identity (with or without a pathLenConstraint) is refused: one key would both issue
 *   certificates and authenticate, and a CA's name is not a client's;
 * - EKU: a leaf with the extension must list clientAuth (and never anyExtendedKeyUsage); an
 *   intermediate with the extension must list clientAuth (EKU chaining: OpenSSL's sslclient
 *   purpose does not let anyExtendedKeyUsage stand in for it on a CA either).
 *
 * @see RFC 5280 §6.1.3–§6.1.5, §4.2.1.3, §4.2.1.9, §4.2.1.12
 */

import { certificatePublicKey, type ParsedCertificate, validityStatus } from './certificate.js';
import { type ChainFailure, chainFailure } from './chain-result.js';
import type { ParsedCrl } from './crl.js';
import { extensionOids, hasKeyUsage, keyPurposeOids, netscapeCertTypeBits } from './extensions.js';
import { type KeyPolicy, spkiPolicyViolation } from './key-policy.js';
import { nameConstraintViolation } from './name-constraints.js';

/** What the revocation check needs from the trust store. */
export interface RevocationPolicy {
  /** The CRL issued by `ca`, if one is configured. */
  readonly crlFor: (ca: ParsedCertificate) => ParsedCrl | undefined;
  readonly requireCrls: boolean;
  /** `fail`: a CRL past nextUpdate (plus grace) fails the path; `ignore`: it is still used. */
  readonly staleness: 'fail' | 'ignore';
  readonly graceMilliseconds: number;
}

/** Human role of the certificate at `index` of `path`, for details. */
export function roleOf(path: readonly ParsedCertificate[], index: number): string {
  if (index === 0) return 'leaf';
  if (index === path.length - 1) return 'trust anchor';
  return `intermediate ${index}`;
}

/**
 * Every key on the path, the anchor's included, meets the key policy and decodes. The leaf's key
 * verifies no signature on the path, so without the second check an EC point off its curve (or
 * any key OpenSSL cannot load) would pass; OpenSSL refuses such a leaf (round 22).
 *
 * @see key-policy.ts, SEC 1 §3.2.2.1 (public key validation)
 */
export function checkKeyPolicy(
  path: readonly ParsedCertificate[],
  policy: KeyPolicy,
): ChainFailure | undefined {
  for (const [index, certificate] of path.entries()) {
    const problem = spkiPolicyViolation(certificate.spki, policy);
    if (problem !== undefined) {
      return chainFailure('untrusted', 'key_policy', `${roleOf(path, index)}: ${problem}`);
    }
    if (certificatePublicKey(certificate) === undefined) {
      return chainFailure(
        'untrusted',
        'key_policy',
        `${roleOf(path, index)}: public key does not decode (e.g. an EC point not on its curve)`,
      );
    }
  }
  return undefined;
}

/** Where a certificate sits on a path, for {@link certificateProfileProblem}. */
export type PathRole = 'leaf' | 'intermediate' | 'anchor';

/** A profile problem: which check it belongs to and what is wrong. */
export interface ProfileProblem {
  readonly check: 'version' | 'serial_number' | 'name_form' | 'key_identifier' | 'profile';
  readonly detail: string;
}

const profileCache = new WeakMap<ParsedCertificate, Map<PathRole, ProfileProblem | null>>();

/**
 * The RFC 5280 / CA-Browser-Forum profile problems of one certificate in a role (see the module
 * comment), memoized per certificate and role.
 *
 * @see RFC 5280 §4.1.2.2, §4.1.2.4, §4.1.2.6, §4.2.1.1–§4.2.1.3, §4.2.1.6, §4.2.1.9, §4.2.1.10,
 *   §4.2.1.12; CA/B Forum Baseline Requirements §7.1.2
 */
export function certificateProfileProblem(
  certificate: ParsedCertificate,
  role: PathRole,
): ProfileProblem | undefined {
  let byRole = profileCache.get(certificate);
  if (byRole === undefined) {
    byRole = new Map();
    profileCache.set(certificate, byRole);
  }
  let problem = byRole.get(role);
  if (problem === undefined) {
    problem = profileOf(certificate, role) ?? null;
    byRole.set(role, problem);
  }
  return problem ?? undefined;
}

function profileOf(certificate: ParsedCertificate, role: PathRole): ProfileProblem | undefined {
  const extensions = certificate.extensions;
  const critical = extensions.critical;
  const constraints = extensions.basicConstraints;
  // A CA certificate presented as a leaf is held to the CA rules here; the basic-constraints
  // check then refuses it as a client certificate with its own reason.
  const isCa = role !== 'leaf' || constraints?.cA === true;
  if (certificate.version !== 3) {
    return { check: 'version', detail: `a version ${certificate.version} certificate` };
  }
  if (role !== 'anchor' && certificate.generalizedTimeBefore2050) {
    // RFC 5280 §4.1.2.5: validity dates 1950-2049 MUST be UTCTime (anchors exempt, as for
    // serial numbers: an operator's legacy root is trusted by choice).
    return { check: 'profile', detail: 'validity date before 2050 encoded as GeneralizedTime' };
  }
  if (role !== 'anchor') {
    const serial = certificate.serialNumber;
    if (serial.length > 40) {
      return { check: 'serial_number', detail: 'serial number longer than 20 octets' };
    }
    if (/^0*$/.test(serial) || Number.parseInt(serial.slice(0, 1), 16) >= 8) {
      return { check: 'serial_number', detail: 'serial number zero or negative' };
    }
  }
  if (certificate.issuer.rdns.length === 0) {
    return { check: 'name_form', detail: 'empty issuer name' };
  }
  if (certificate.subject.rdns.length === 0) {
    if (isCa) return { check: 'name_form', detail: 'CA certificate with an empty subject' };
    if (extensions.subjectAltName === undefined || !critical.has(extensionOids.subjectAltName)) {
      return {
        check: 'name_form',
        detail: 'empty subject without a critical subjectAltName',
      };
    }
  }
  for (const name of extensions.subjectAltName ?? []) {
    if (name.type === 'dns' && !isPreferredDnsName(name.value)) {
      return { check: 'name_form', detail: 'dNSName not in preferred name syntax' };
    }
    if (name.type === 'email' && !isMailbox(name.value)) {
      return { check: 'name_form', detail: 'rfc822Name is not a mailbox (local@domain)' };
    }
    // RFC 5280 §4.2.1.6: an iPAddress SAN is exactly four (IPv4) or sixteen (IPv6) octets.
    if (name.type === 'ip' && name.bytes.length !== 4 && name.bytes.length !== 16) {
      return { check: 'name_form', detail: 'iPAddress SAN is not 4 or 16 octets' };
    }
  }
  if (
    critical.has(extensionOids.authorityKeyIdentifier) ||
    critical.has(extensionOids.subjectKeyIdentifier)
  ) {
    return { check: 'key_identifier', detail: 'critical key identifier extension' };
  }
  if (role !== 'anchor' && extensions.authorityKeyIdentifier === undefined) {
    return { check: 'key_identifier', detail: 'no authority key identifier' };
  }
  if (isCa && extensions.subjectKeyIdentifier === undefined) {
    return { check: 'key_identifier', detail: 'CA certificate without a subject key identifier' };
  }
  if (isCa) {
    if (constraints?.cA === true && !critical.has(extensionOids.basicConstraints)) {
      return { check: 'profile', detail: 'CA basicConstraints not marked critical' };
    }
    if (extensions.keyUsage === undefined) {
      return { check: 'profile', detail: 'CA certificate without a key usage extension' };
    }
  } else {
    if (
      constraints !== undefined &&
      !constraints.cA &&
      constraints.pathLenConstraint !== undefined
    ) {
      return { check: 'profile', detail: 'pathLenConstraint in a certificate that is not a CA' };
    }
    if (extensions.keyUsage !== undefined && hasKeyUsage(extensions.keyUsage, 'keyCertSign')) {
      return { check: 'profile', detail: 'keyCertSign asserted by a certificate that is not a CA' };
    }
    if (extensions.nameConstraints !== undefined) {
      return { check: 'profile', detail: 'name constraints in an end-entity certificate' };
    }
    const purposes = extensions.extKeyUsage;
    if (purposes?.includes(keyPurposeOids.anyExtendedKeyUsage) === true) {
      return { check: 'profile', detail: 'anyExtendedKeyUsage in an end-entity certificate' };
    }
    if (critical.has(extensionOids.extKeyUsage)) {
      return {
        check: 'profile',
        detail: 'critical extended key usage in an end-entity certificate',
      };
    }
  }
  if (role === 'anchor' && extensions.extKeyUsage !== undefined) {
    return { check: 'profile', detail: 'extended key usage in a trust anchor' };
  }
  if (role === 'anchor' && certificate.selfIssued) {
    // A self-signed anchor's AKI names itself; OpenSSL does not take one that names another key
    // or certificate as self-signed, and no path can end there.
    const aki = extensions.authorityKeyIdentifier;
    const ski = extensions.subjectKeyIdentifier;
    if (aki !== undefined && ski !== undefined && Buffer.compare(aki, ski) !== 0) {
      return {
        check: 'key_identifier',
        detail: 'self-issued trust anchor whose authority key identifier names another key',
      };
    }
    const mismatch = akiIssuerSerialMismatch(certificate, certificate);
    if (mismatch !== undefined) return { check: 'key_identifier', detail: mismatch };
  }
  return undefined;
}

const dnsLabel = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const preferredDnsName = new RegExp(`^(?:\\*\\.)?${dnsLabel}(?:\\.${dnsLabel})*\\.?$`);
const mailboxDomain = new RegExp(`^${dnsLabel}(?:\\.${dnsLabel})*$`);

/**
 * RFC 1034 §3.5 preferred name syntax (RFC 5280 §4.2.1.6), with an optional `*.` first label and
 * an optional final dot (an absolute name: never equal to a registered name, which has none, so
 * it fails identity matching rather than the path).
 */
function isPreferredDnsName(name: string): boolean {
  return name.length <= 254 && preferredDnsName.test(name);
}

/** One `@`, with a non-empty local part and a domain in preferred name syntax. @see RFC 5280 §4.2.1.6 */
function isMailbox(value: string): boolean {
  const at = value.indexOf('@');
  return (
    at > 0 &&
    at === value.lastIndexOf('@') &&
    /^[\x21-\x7e]+$/.test(value) &&
    mailboxDomain.test(value.slice(at + 1))
  );
}

/**
 * Every certificate of the path meets the profile for its role, and each AKI key identifier
 * names its issuer's SKI.
 *
 * @see {@link certificateProfileProblem}, RFC 5280 §4.2.1.1
 */
export function checkProfile(path: readonly ParsedCertificate[]): ChainFailure | undefined {
  for (const [index, certificate] of path.entries()) {
    const role: PathRole =
      index === path.length - 1 ? 'anchor' : index === 0 ? 'leaf' : 'intermediate';
    const problem = certificateProfileProblem(certificate, role);
    if (problem !== undefined) {
      return chainFailure('untrusted', problem.check, `${roleOf(path, index)}: ${problem.detail}`);
    }
    const issuer = path[index + 1];
    const aki = certificate.extensions.authorityKeyIdentifier;
    const ski = issuer?.extensions.subjectKeyIdentifier;
    if (aki !== undefined && ski !== undefined && Buffer.compare(aki, ski) !== 0) {
      return chainFailure(
        'untrusted',
        'key_identifier',
        `${roleOf(path, index)}: authority key identifier does not match its issuer's`,
      );
    }
    const mismatch =
      issuer === undefined ? undefined : akiIssuerSerialMismatch(certificate, issuer);
    if (mismatch !== undefined) {
      return chainFailure('untrusted', 'key_identifier', `${roleOf(path, index)}: ${mismatch}`);
    }
  }
  return undefined;
}

/**
 * An AKI that names its issuer by issuer and serial number (besides or instead of a key
 * identifier) must name this issuer: its serial number and its issuer's name. OpenSSL's
 * `X509_check_akid` refuses the issuer otherwise, and a path through a CA the child says is not
 * its issuer is not one the CA meant.
 *
 * @see RFC 5280 §4.2.1.1
 */
function akiIssuerSerialMismatch(
  certificate: ParsedCertificate,
  issuer: ParsedCertificate,
): string | undefined {
  const { authorityCertSerialNumber, authorityCertIssuer } = certificate.extensions;
  if (
    authorityCertSerialNumber !== undefined &&
    authorityCertSerialNumber !== issuer.serialNumber
  ) {
    return "authority key identifier names another serial number than its issuer's";
  }
  if (authorityCertIssuer !== undefined && authorityCertIssuer.key !== issuer.issuer.key) {
    return "authority key identifier names another issuer than its issuer's";
  }
  return undefined;
}

/** Every certificate, anchor included, is inside its validity period. @see RFC 5280 §6.1.3 (a)(2) */
export function checkValidity(
  path: readonly ParsedCertificate[],
  now: Date,
): ChainFailure | undefined {
  for (const [index, certificate] of path.entries()) {
    const status = validityStatus(certificate, now);
    if (status === 'expired') {
      return chainFailure(
        'expired',
        'validity',
        `${roleOf(path, index)} expired at ${certificate.notAfter.toISOString()}`,
      );
    }
    if (status === 'not_yet_valid') {
      return chainFailure(
        'not_yet_valid',
        'validity',
        `${roleOf(path, index)} not valid before ${certificate.notBefore.toISOString()}`,
      );
    }
  }
  return undefined;
}

/**
 * No certificate, the anchor included, has a critical extension we do not process (a
 * constraint on the anchor we cannot honour is a reason not to use it), nor, critical or not, a
 * proxy-certificate or RFC 3779 resource extension (see extensions.ts).
 *
 * @see RFC 5280 §4.2
 */
export function checkCriticalExtensions(
  path: readonly ParsedCertificate[],
): ChainFailure | undefined {
  for (let index = 0; index < path.length; index++) {
    const { unhandledCritical: unhandled, refused } = (path[index] as ParsedCertificate).extensions;
    if (refused.length > 0) {
      return chainFailure(
        'untrusted',
        'critical_extension',
        `${roleOf(path, index)} has ${refused.join(', ')}, which Tollgate does not accept`,
      );
    }
    if (unhandled.length > 0) {
      return chainFailure(
        'untrusted',
        'critical_extension',
        `${roleOf(path, index)} has unsupported critical extension ${unhandled.join(', ')}`,
      );
    }
  }
  return undefined;
}

/**
 * CAs are CAs (v3, `cA: TRUE`), the leaf is not, and no pathLenConstraint is exceeded
 * (self-issued intermediates do not count).
 *
 * @see RFC 5280 §6.1.4 (k), (l), (m)
 */
export function checkBasicConstraints(
  path: readonly ParsedCertificate[],
): ChainFailure | undefined {
  const leaf = path[0] as ParsedCertificate;
  if (leaf.extensions.basicConstraints?.cA === true) {
    return chainFailure('untrusted', 'basic_constraints', 'leaf is a CA certificate');
  }
  for (let index = 1; index < path.length; index++) {
    const ca = path[index] as ParsedCertificate;
    const constraints = ca.extensions.basicConstraints;
    if (ca.version !== 3 || constraints?.cA !== true) {
      return chainFailure(
        'untrusted',
        'basic_constraints',
        `${roleOf(path, index)} is not a CA certificate`,
      );
    }
    if (constraints.pathLenConstraint !== undefined) {
      let below = 0;
      for (let inner = 1; inner < index; inner++) {
        if (!(path[inner] as ParsedCertificate).selfIssued) below++;
      }
      if (below > constraints.pathLenConstraint) {
        return chainFailure(
          'untrusted',
          'path_length',
          `${roleOf(path, index)} allows ${constraints.pathLenConstraint} intermediates below it, path has ${below}`,
        );
      }
    }
  }
  return undefined;
}

/** CAs with a key usage assert keyCertSign; a leaf with one asserts digitalSignature. @see RFC 5280 §4.2.1.3 */
export function checkKeyUsage(path: readonly ParsedCertificate[]): ChainFailure | undefined {
  const leafUsage = (path[0] as ParsedCertificate).extensions.keyUsage;
  if (leafUsage !== undefined && !hasKeyUsage(leafUsage, 'digitalSignature')) {
    return chainFailure('untrusted', 'key_usage', 'leaf key usage lacks digitalSignature');
  }
  for (let index = 1; index < path.length; index++) {
    const usage = (path[index] as ParsedCertificate).extensions.keyUsage;
    if (usage !== undefined && !hasKeyUsage(usage, 'keyCertSign')) {
      return chainFailure(
        'untrusted',
        'key_usage',
        `${roleOf(path, index)} key usage lacks keyCertSign`,
      );
    }
  }
  return undefined;
}

/**
 * clientAuth on every leaf and intermediate that has an EKU; SSL client on a leaf that has a
 * Netscape certificate type (as OpenSSL's sslclient purpose demands).
 *
 * @see RFC 5280 §4.2.1.12
 */
export function checkExtendedKeyUsage(
  path: readonly ParsedCertificate[],
): ChainFailure | undefined {
  const leafExtensions = (path[0] as ParsedCertificate).extensions;
  const leafPurposes = leafExtensions.extKeyUsage;
  if (leafPurposes !== undefined && !leafPurposes.includes(keyPurposeOids.clientAuth)) {
    return chainFailure('eku', 'extended_key_usage', 'leaf extended key usage lacks clientAuth');
  }
  const certType = leafExtensions.netscapeCertType;
  if (certType !== undefined && (certType & (1 << netscapeCertTypeBits.sslClient)) === 0) {
    return chainFailure(
      'eku',
      'extended_key_usage',
      'leaf Netscape certificate type lacks SSL client',
    );
  }
  for (let index = 1; index < path.length - 1; index++) {
    const purposes = (path[index] as ParsedCertificate).extensions.extKeyUsage;
    if (purposes !== undefined && !purposes.includes(keyPurposeOids.clientAuth)) {
      return chainFailure(
        'eku',
        'extended_key_usage',
        `${roleOf(path, index)} extended key usage excludes clientAuth`,
      );
    }
  }
  return undefined;
}

/**
 * Every CA's name constraints hold for each certificate below it (self-issued intermediates
 * excepted).
 *
 * @see RFC 5280 §6.1.3 (b), (c), §4.2.1.10
 */
export function checkNameConstraints(path: readonly ParsedCertificate[]): ChainFailure | undefined {
  for (let index = 1; index < path.length; index++) {
    const constraints = (path[index] as ParsedCertificate).extensions.nameConstraints;
    if (constraints === undefined) continue;
    for (let below = 0; below < index; below++) {
      const certificate = path[below] as ParsedCertificate;
      if (below > 0 && certificate.selfIssued) continue;
      const violation = nameConstraintViolation(constraints, certificate, below === 0);
      if (violation !== undefined) {
        return chainFailure(
          'untrusted',
          'name_constraints',
          `${roleOf(path, below)}: ${violation} of ${roleOf(path, index)}`,
        );
      }
    }
  }
  return undefined;
}

/**
 * No certificate below the anchor is on its issuer's CRL; CRL freshness per policy.
 *
 * @see RFC 5280 §6.3.3
 */
export function checkRevocation(
  path: readonly ParsedCertificate[],
  now: Date,
  policy: RevocationPolicy,
): ChainFailure | undefined {
  for (let index = 0; index < path.length - 1; index++) {
    const certificate = path[index] as ParsedCertificate;
    const crl = policy.crlFor(path[index + 1] as ParsedCertificate);
    if (crl === undefined) {
      if (policy.requireCrls) {
        return chainFailure(
          'untrusted',
          'crl_missing',
          `no CRL configured for the issuer of the ${roleOf(path, index)}`,
        );
      }
      continue;
    }
    if (crl.revokedSerials.has(certificate.serialNumber)) {
      return chainFailure('revoked', 'revocation', `${roleOf(path, index)} is revoked`);
    }
    // A CRL dated in the future is not in force yet (as OpenSSL rules): its status for now is
    // unknown, like a stale one's.
    if (
      policy.staleness === 'fail' &&
      Math.floor(now.getTime() / 1000) * 1000 + policy.graceMilliseconds < crl.thisUpdate.getTime()
    ) {
      return chainFailure(
        'untrusted',
        'crl_stale',
        `CRL for the issuer of the ${roleOf(path, index)} is not valid before ${crl.thisUpdate.toISOString()}`,
      );
    }
    if (
      policy.staleness === 'fail' &&
      crl.nextUpdate !== undefined &&
      now.getTime() > crl.nextUpdate.getTime() + policy.graceMilliseconds
    ) {
      return chainFailure(
        'untrusted',
        'crl_stale',
        `CRL for the issuer of the ${roleOf(path, index)} expired at ${crl.nextUpdate.toISOString()}`,
      );
    }
  }
  return undefined;
}

/** The path ends at one of the client's pinned anchors. */
export function checkPin(
  path: readonly ParsedCertificate[],
  pinnedSpkiSha256: readonly string[] | undefined,
): ChainFailure | undefined {
  if (pinnedSpkiSha256 === undefined) return undefined;
  const anchor = path[path.length - 1] as ParsedCertificate;
  if (pinnedSpkiSha256.includes(anchor.spkiSha256)) return undefined;
  return chainFailure('pin_mismatch', 'pin', 'path ends at a trust anchor the client did not pin');
}
