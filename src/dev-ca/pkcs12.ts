/**
 * PKCS#12 bundles (for browsers, Java, curl on macOS): key and certificates encrypted with
 * PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and a SHA-256 MAC, the OpenSSL 3 defaults.
 *
 * pkijs rather than node-forge: forge's PKCS#12 writer always uses an HMAC-SHA1 MAC and only
 * wraps RSA keys, so it could not bundle the default EC P-256 keys at all. Forge writes the
 * legacy form for old importers instead (pkcs12-legacy.ts). pkijs needs a WebCrypto
 * engine here; we pass our own instance explicitly instead of setting the global one that src/pki
 * relies on.
 *
 * @see RFC 7292 (PKCS #12 v1.1), RFC 8018 §6.2 (PBES2), RFC 9579 (PBMAC1 context)
 */
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
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
export const pkcs12Iterations = 10_000;

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
