/**
 * Certificate revocation lists for the dev CA: built with pkijs (node-forge cannot make CRLs),
 * signed with node:crypto. The CRL itself is the revocation state on disk, so `revoke` and `crl`
 * re-read it rather than keeping a second database.
 *
 * @see RFC 5280 §5 (CRL profile), §5.2.3 (CRL number), §5.3.1 (reason code)
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { encodePem, parseCrl as parsePkiCrl } from '../pki/index.js';
import { type DevKeyPair, signTbs } from './keys.js';
import { algorithmIdentifier, authorityKeyIdentifier, extension, timeOf } from './x509.js';

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

export interface CrlTemplate {
  /** DER Name of the issuing CA. */
  readonly issuer: Buffer;
  readonly issuerSpki: Buffer;
  readonly signer: DevKeyPair;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly crlNumber: number;
  readonly entries: readonly RevocationEntry[];
}

/** Builds and signs a v2 CRL with a CRL number, AKI, and per-entry reason codes. */
export function buildCrl(template: CrlTemplate): { der: Buffer; pem: string } {
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
