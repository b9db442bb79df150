/**
 * Certificate revocation lists: parsed with pkijs when a trust store is built, signature-checked
 * against the configured CA that issued them, and reduced to a set of revoked serial numbers so
 * the per-connection check is one lookup.
 *
 * Supported profile: complete base CRLs for one CA. Refused at load (a configuration error, since
 * silently ignoring them would under-revoke): delta CRLs, issuing distribution points (partitioned
 * or indirect CRLs), any other critical CRL or entry extension (e.g. certificateIssuer), and CRLs
 * without a cRLNumber or with a critical one (RFC 5280 §5.2.3: conforming issuers MUST include
 * it, non-critical; without it a replayed older CRL cannot be told from a newer one).
 *
 * @see RFC 5280 §5, §6.3
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  DerError,
  expectUniversal,
  integerBytes,
  readBitString,
  readSingle,
  sequenceChildren,
  universalTag,
} from './der.js';
import { type DistinguishedName, dnFromDer } from './dn.js';
import { bytesEqual, bytesToHex, copyBytes } from './encoding.js';
import { PkiError } from './errors.js';

/** A parsed CRL (its signature not yet checked). */
export interface ParsedCrl {
  readonly der: Buffer;
  readonly issuer: DistinguishedName;
  readonly thisUpdate: Date;
  /** Absent in non-conforming CRLs; such a CRL never goes stale. */
  readonly nextUpdate: Date | undefined;
  /** Serial numbers (lower-case hex of the INTEGER content octets, as in ParsedCertificate). */
  readonly revokedSerials: ReadonlySet<string>;
  /** The revoked certificates as listed, for tools that show or re-issue the CRL. */
  readonly entries: readonly CrlEntry[];
  /** The cRLNumber (RFC 5280 §5.2.3). */
  readonly crlNumber: bigint;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: Uint8Array;
  readonly signature: Uint8Array;
}

/** One revokedCertificates entry. @see RFC 5280 §5.1.2.6, §5.3.1 */
export interface CrlEntry {
  /** As in {@link ParsedCrl.revokedSerials}. */
  readonly serial: string;
  readonly revocationDate: Date;
  /** The CRLReason code; undefined when the entry has no reasonCode extension. */
  readonly reasonCode: number | undefined;
}

const crlNumberOid = '2.5.29.20';
const reasonCodeOid = '2.5.29.21';
const handledCrlExtensions = new Set([
  crlNumberOid,
  '2.5.29.35', // authorityKeyIdentifier
]);
const handledEntryExtensions = new Set([
  '2.5.29.21', // reasonCode
  '2.5.29.24', // invalidityDate
]);
const unsupportedCrlExtensions = new Set([
  '2.5.29.27', // deltaCRLIndicator
  '2.5.29.28', // issuingDistributionPoint
  '2.5.29.46', // freshestCRL (points at deltas we would not fetch)
]);

/**
 * An extension's decoded value. pkijs decodes it lazily, on first read, with asn1js, which throws
 * its own errors (a RangeError for a BMPString of odd length, for one) on bytes the outer parse
 * let through: those are a malformed CRL like any other.
 */
function parsedValueOf(extension: pkijs.Extension): unknown {
  try {
    return extension.parsedValue as unknown;
  } catch (error) {
    throw new PkiError('malformed', `malformed CRL extension ${extension.extnID}`, {
      cause: error,
    });
  }
}

/**
 * Parses a DER CRL; throws {@link PkiError} `malformed` for bad encodings and for CRLs outside the
 * supported profile.
 *
 * @see RFC 5280 §5.1
 */
export function parseCrl(der: Uint8Array): ParsedCrl {
  const copy = copyBytes(der);
  let skeleton: { tbs: Uint8Array; signatureAlgorithm: Uint8Array; signature: Uint8Array };
  try {
    skeleton = readSkeleton(copy);
  } catch (error) {
    throw new PkiError('malformed', `malformed CRL: ${(error as Error).message}`, { cause: error });
  }
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(copy);
  } catch (error) {
    throw new PkiError('malformed', 'malformed CRL', { cause: error });
  }
  const crlNumber = crl.crlExtensions?.extensions.find((one) => one.extnID === crlNumberOid);
  if (crlNumber === undefined) throw new PkiError('malformed', 'CRL without a cRLNumber');
  if (crlNumber.critical) throw new PkiError('malformed', 'critical cRLNumber');
  const number = parsedValueOf(crlNumber);
  if (!(number instanceof asn1js.Integer)) throw new PkiError('malformed', 'malformed cRLNumber');
  for (const extension of crl.crlExtensions?.extensions ?? []) {
    if (unsupportedCrlExtensions.has(extension.extnID)) {
      throw new PkiError('malformed', `unsupported CRL extension ${extension.extnID}`);
    }
    if (extension.critical && !handledCrlExtensions.has(extension.extnID)) {
      throw new PkiError('malformed', `unknown critical CRL extension ${extension.extnID}`);
    }
  }
  const revokedSerials = new Set<string>();
  const entries: CrlEntry[] = [];
  for (const entry of crl.revokedCertificates ?? []) {
    let reasonCode: number | undefined;
    for (const extension of entry.crlEntryExtensions?.extensions ?? []) {
      const value = parsedValueOf(extension);
      if (extension.extnID === reasonCodeOid && value instanceof asn1js.Enumerated) {
        reasonCode = value.valueBlock.valueDec;
      }
      if (extension.critical && !handledEntryExtensions.has(extension.extnID)) {
        throw new PkiError(
          'malformed',
          `unsupported critical CRL entry extension ${extension.extnID}`,
        );
      }
    }
    const serial = revokedSerial(entry.userCertificate.valueBlock.valueHexView);
    revokedSerials.add(serial);
    entries.push({ serial, revocationDate: entry.revocationDate.value, reasonCode });
  }
  let issuer: DistinguishedName;
  try {
    issuer = dnFromDer(new Uint8Array(crl.issuer.valueBeforeDecode));
  } catch (error) {
    throw new PkiError('malformed', 'malformed CRL issuer', { cause: error });
  }
  return Object.freeze({
    der: copy,
    issuer,
    thisUpdate: crl.thisUpdate.value,
    nextUpdate: crl.nextUpdate?.value,
    revokedSerials,
    entries,
    crlNumber: number.toBigInt(),
    ...skeleton,
  });
}

/**
 * A revoked serial number as the hex a certificate's serial is kept in. The INTEGER must be
 * minimally encoded: a CA that wrote `00 12 34` for the certificate `12 34` would otherwise
 * revoke nothing, silently (OpenSSL refuses such a CRL; so does Tollgate, loudly).
 *
 * @see RFC 5280 §5.1.2.6, X.690 §8.3.2
 */
function revokedSerial(bytes: Uint8Array): string {
  try {
    return bytesToHex(
      integerBytes(
        {
          tagClass: 0,
          constructed: false,
          tagNumber: universalTag.integer,
          value: bytes,
          raw: bytes,
        },
        'userCertificate',
      ),
    );
  } catch (error) {
    throw new PkiError('malformed', `malformed CRL: ${(error as Error).message}`, { cause: error });
  }
}

/** The signed part, the algorithm and the signature, with RFC 5280 §5.1.1.2's equality check. */
function readSkeleton(der: Uint8Array): {
  tbs: Uint8Array;
  signatureAlgorithm: Uint8Array;
  signature: Uint8Array;
} {
  const [tbsTlv, algorithm, signatureTlv, extra] = sequenceChildren(
    readSingle(der),
    'CertificateList',
  );
  if (extra !== undefined) throw new DerError('trailing fields in CertificateList');
  const tbsFields = sequenceChildren(tbsTlv, 'TBSCertList');
  const first = tbsFields[0];
  const inner =
    first !== undefined && first.tagNumber === universalTag.integer ? tbsFields[1] : first;
  const outer = expectUniversal(algorithm, universalTag.sequence, 'signatureAlgorithm');
  if (inner === undefined || !bytesEqual(inner.raw, outer.raw)) {
    throw new DerError('signature algorithm mismatch');
  }
  const signature = readBitString(signatureTlv, 'signatureValue');
  if (signature.unusedBits !== 0) throw new DerError('signature is not whole octets');
  return {
    tbs: (tbsTlv as NonNullable<typeof tbsTlv>).raw,
    signatureAlgorithm: outer.raw,
    signature: signature.bytes,
  };
}
