/**
 * The validators run on a candidate certification path (leaf first, trust anchor last) once its
 * signatures have verified. Each is small, named and returns a failure or `undefined`; the trust
 * store runs them in a fixed order (validity, critical extensions, basic constraints, key usage,
 * EKU, name constraints, revocation, pin) so that the reason reported is deterministic.
 *
 * Policy beyond RFC 5280, on purpose:
 * - the trust anchor's own validity period, pathLenConstraint, key usage and name constraints
 *   are enforced (RFC 5937 style), since a configured anchor is a certificate we chose to trust
 *   with its constraints;
 * - the leaf must not be a CA (`cA: TRUE`) and, when it has a key usage, must assert
 *   digitalSignature (a TLS client signs CertificateVerify);
 * - EKU: a leaf with the extension must list clientAuth (anyExtendedKeyUsage alone is not
 *   enough); an intermediate with the extension must list clientAuth or anyExtendedKeyUsage (EKU
 *   chaining, as OpenSSL and browsers do).
 *
 * @see RFC 5280 §6.1.3–§6.1.5, §4.2.1.3, §4.2.1.9, §4.2.1.12
 */

import { type ParsedCertificate, validityStatus } from './certificate.js';
import { type ChainFailure, chainFailure } from './chain-result.js';
import type { ParsedCrl } from './crl.js';
import { hasKeyUsage, keyPurposeOids } from './extensions.js';
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

/** No certificate below the anchor has a critical extension we do not process. @see RFC 5280 §4.2 */
export function checkCriticalExtensions(
  path: readonly ParsedCertificate[],
): ChainFailure | undefined {
  for (let index = 0; index < path.length - 1; index++) {
    const unhandled = (path[index] as ParsedCertificate).extensions.unhandledCritical;
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

/** clientAuth on a leaf that has an EKU; intermediates allow it too. @see RFC 5280 §4.2.1.12 */
export function checkExtendedKeyUsage(
  path: readonly ParsedCertificate[],
): ChainFailure | undefined {
  const leafPurposes = (path[0] as ParsedCertificate).extensions.extKeyUsage;
  if (leafPurposes !== undefined && !leafPurposes.includes(keyPurposeOids.clientAuth)) {
    return chainFailure('eku', 'extended_key_usage', 'leaf extended key usage lacks clientAuth');
  }
  for (let index = 1; index < path.length - 1; index++) {
    const purposes = (path[index] as ParsedCertificate).extensions.extKeyUsage;
    if (
      purposes !== undefined &&
      !purposes.includes(keyPurposeOids.clientAuth) &&
      !purposes.includes(keyPurposeOids.anyExtendedKeyUsage)
    ) {
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
      const violation = nameConstraintViolation(constraints, certificate);
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
