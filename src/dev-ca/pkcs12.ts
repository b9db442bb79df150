/**
 * PKCS#12 bundles (for browsers, Java, curl on macOS), in two forms.
 *
 * The modern form, with pkijs: key and certificates encrypted with PBES2 (PBKDF2-HMAC-SHA256,
 * AES-256-CBC) and a SHA-256 MAC, the OpenSSL 3 defaults. Not node-forge: its PKCS#12 writer
 * always uses an HMAC-SHA1 MAC and only wraps RSA keys, so it could not bundle the default EC
 * P-256 keys at all. pkijs needs a WebCrypto engine here; we pass our own instance explicitly
 * instead of setting the global one that src/pki relies on.
 *
 * The legacy form, with node-forge, for importers that cannot read the modern one: macOS Keychain
 * (`security import`, Keychain Access) and Java keystores before 8u301 / 11.0.12 reject SHA-256
 * MACs. It is what `openssl pkcs12 -export -legacy` wrote for years: the key shrouded with
 * pbeWithSHAAnd3-KeyTripleDES-CBC, an HMAC-SHA1 MAC (RFC 7292 Appendix B key derivation), the
 * certificates in the clear. It is weaker, so it is opt-in (`--p12-legacy`) and keeps the modern
 * iteration count and the 192-bit random password. forge wraps RSA keys only and re-encodes every
 * certificate it bundles from its own RSA-only model, so the key must be RSA and the certificates
 * RSA keys signed with RSA: the RSA profile (`init --key-type rsa2048`). Anything else is refused
 * before a byte is written.
 *
 * @see RFC 7292 (PKCS #12 v1.1) §4 and Appendices B-D, RFC 8018 §6.2 (PBES2), RFC 9579
 */
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import forge from 'node-forge';
import * as pkijs from 'pkijs';
import { fromPem } from './x509.js';

const engine = new pkijs.CryptoEngine({
  name: 'tollgate-dev-ca',
  crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'],
});

/**
 * PBKDF and MAC iterations for both PKCS#12 forms. The password is 192 random bits (see the CLI),
 * so the work factor only has to match what OpenSSL 3 writes by default, not to slow down
 * guessing of a human password.
 */
const pkcs12Iterations = 10_000;

export interface Pkcs12Options {
  readonly keyPem: string;
  /** Leaf first, then CA certificates. */
  readonly certsPem: string;
  readonly password: string;
  readonly friendlyName?: string;
}

/** Builds a password-protected PKCS#12 file (DER). */
export async function createPkcs12(options: Pkcs12Options): Promise<Buffer> {
  const ders = fromPem('CERTIFICATE', options.certsPem);
  const [leafDer] = ders;
  if (leafDer === undefined) throw new TypeError('dev-ca: PKCS#12 needs at least one certificate');
  const certs = ders.map((der) => pkijs.Certificate.fromBER(der));
  const pkcs8 = createPrivateKey(options.keyPem).export({ type: 'pkcs8', format: 'der' });
  // localKeyId ties the key to its certificate, so importers pair them without guessing.
  const localKeyId = createHash('sha1').update(leafDer).digest();
  const keyAttributes = bagAttributes(localKeyId, options.friendlyName);
  // A fresh, exactly sized ArrayBuffer (a Buffer's may be a slice of a shared pool).
  const utf8Password = Uint8Array.from(Buffer.from(options.password, 'utf8')).buffer;
  const pbes2 = {
    password: utf8Password,
    contentEncryptionAlgorithm: { name: 'AES-CBC', length: 256 },
    hmacHashAlgorithm: 'SHA-256',
    iterationCount: pkcs12Iterations,
  };

  const keyBag = new pkijs.PKCS8ShroudedKeyBag({
    parsedValue: pkijs.PrivateKeyInfo.fromBER(pkcs8),
  });
  await keyBag.makeInternalValues(pbes2, engine);

  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            {
              privacyMode: 0,
              value: new pkijs.SafeContents({
                safeBags: [
                  new pkijs.SafeBag({
                    bagId: '1.2.840.113549.1.12.10.1.2',
                    bagValue: keyBag,
                    bagAttributes: keyAttributes,
                  }),
                ],
              }),
            },
            {
              privacyMode: 1,
              value: new pkijs.SafeContents({
                safeBags: certs.map(
                  (cert, index) =>
                    new pkijs.SafeBag({
                      bagId: '1.2.840.113549.1.12.10.1.3',
                      bagValue: new pkijs.CertBag({ parsedValue: cert }),
                      ...(index === 0 ? { bagAttributes: keyAttributes } : {}),
                    }),
                ),
              }),
            },
          ],
        },
      }),
    },
  });
  const authenticatedSafe = pfx.parsedValue?.authenticatedSafe;
  if (authenticatedSafe === undefined) throw new Error('dev-ca: PKCS#12 assembly failed');
  await authenticatedSafe.makeInternalValues({ safeContents: [{}, pbes2] }, engine);
  await pfx.makeInternalValues(
    {
      // UTF-8 here too: pkijs turns it into the BMPString RFC 7292 Appendix B.1 wants.
      password: utf8Password,
      iterations: pkcs12Iterations,
      pbkdf2HashAlgorithm: 'SHA-256',
      hmacHashAlgorithm: 'SHA-256',
    },
    engine,
  );
  return Buffer.from(pfx.toSchema().toBER(false));
}

function bagAttributes(localKeyId: Buffer, friendlyName: string | undefined): pkijs.Attribute[] {
  const attributes = [
    new pkijs.Attribute({
      type: '1.2.840.113549.1.9.21',
      values: [new asn1js.OctetString({ valueHex: localKeyId })],
    }),
  ];
  if (friendlyName !== undefined) {
    attributes.push(
      new pkijs.Attribute({
        type: '1.2.840.113549.1.9.20',
        values: [new asn1js.BmpString({ value: friendlyName })],
      }),
    );
  }
  return attributes;
}

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
