/**
 * Legacy PKCS#12 bundles, written with node-forge, for importers that cannot read the modern form
 * (pkcs12.ts: PBES2/AES-256 and a SHA-256 MAC): macOS Keychain (`security import`, Keychain
 * Access) and Java keystores before 8u301 / 11.0.12 reject SHA-256 MACs. The legacy form is what
 * `openssl pkcs12 -export -legacy` wrote for years: the key shrouded with
 * pbeWithSHAAnd3-KeyTripleDES-CBC, an HMAC-SHA1 MAC (RFC 7292 Appendix B key derivation), the
 * certificates in the clear. It is weaker than the modern form, so it is opt-in (`--p12-legacy`)
 * and keeps the modern iteration count and the 192-bit random password.
 *
 * forge wraps RSA keys only and re-encodes every certificate it bundles from its own RSA-only
 * model, so the key must be RSA and the certificates RSA keys signed with RSA: the RSA profile
 * (`init --key-type rsa2048`). Anything else is refused before a byte is written.
 *
 * @see RFC 7292 (PKCS #12 v1.1) §4, Appendix B and C
 */
import { createPrivateKey } from 'node:crypto';
import forge from 'node-forge';
import * as pkijs from 'pkijs';
import { type Pkcs12Options, pkcs12Iterations } from './pkcs12.js';
import { fromPem } from './x509.js';

const sha1Oid = '1.3.14.3.2.26';
const modernAlternative = 'or use --p12 for the modern bundle, which takes any key type';

/** Builds a password-protected legacy PKCS#12 file (DER): 3DES key bag, SHA-1 MAC. */
export function createLegacyPkcs12(options: Pkcs12Options): Buffer {
  const key = createPrivateKey(options.keyPem);
  if (key.asymmetricKeyType !== 'rsa') {
    throw new TypeError(
      `dev-ca: the legacy PKCS#12 (--p12-legacy) needs an RSA key, not ${key.asymmetricKeyType ?? 'this key'}: node-forge writes it and wraps RSA keys only. Issue the client from an RSA CA (init --key-type rsa2048) with an RSA key, ${modernAlternative}`,
    );
  }
  const ders = fromPem('CERTIFICATE', options.certsPem);
  if (ders.length === 0) throw new TypeError('dev-ca: PKCS#12 needs at least one certificate');
  const certs = ders.map((der, index) => forgeCertificate(der, index));
  const pkcs8Pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(pkcs8Pem),
    certs,
    options.password,
    {
      algorithm: '3des',
      count: pkcs12Iterations,
      // localKeyId = SHA-1 of the leaf DER, as in the modern form, so importers pair key and cert.
      generateLocalKeyId: true,
      // forge writes it as a BMPString (UCS-2), as RFC 7292 Appendix D wants.
      ...(options.friendlyName === undefined ? {} : { friendlyName: options.friendlyName }),
    },
  );
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** True when a PKCS#12 file's MAC is HMAC-SHA1, the mark of the legacy form (RFC 7292 §4). */
export function isLegacyPkcs12(der: Uint8Array): boolean {
  try {
    return pkijs.PFX.fromBER(der).macData?.mac.digestAlgorithm.algorithmId === sha1Oid;
  } catch {
    return false;
  }
}

/**
 * Parses a certificate into forge's model and checks forge writes it back byte for byte: forge
 * re-encodes the outer signature algorithm itself (with RSA's NULL parameters), so an ECDSA-signed
 * certificate would come out altered and fail to verify.
 */
function forgeCertificate(der: Buffer, index: number): forge.pki.Certificate {
  const which = index === 0 ? 'the client certificate' : `CA certificate ${index}`;
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromAsn1(forge.asn1.fromDer(der.toString('binary')));
  } catch {
    throw new TypeError(
      `dev-ca: the legacy PKCS#12 (--p12-legacy) cannot carry ${which}: node-forge reads certificates with RSA keys only. Create the PKI with init --key-type rsa2048, ${modernAlternative}`,
    );
  }
  const again = forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes();
  if (!Buffer.from(again, 'binary').equals(der)) {
    throw new TypeError(
      `dev-ca: the legacy PKCS#12 (--p12-legacy) cannot carry ${which}: it is not signed with RSA, and node-forge would alter it. Create the PKI with init --key-type rsa2048, ${modernAlternative}`,
    );
  }
  return cert;
}
