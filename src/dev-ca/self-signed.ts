/**
 * Self-signed client certificates for `self_signed_tls_client_auth`, with the JWK (carrying the
 * certificate in `x5c`) that registers them.
 *
 * The `selfsigned` package builds the certificate for EC and RSA keys (its one job here); it cannot
 * do Ed25519 or multi-valued RDNs, so those go through the CA's one builder (x509.ts, pkijs).
 *
 * @see RFC 8705 §2.2 (self-signed certificate mutual TLS), RFC 7517 §4.7 (`x5c`)
 */
import { X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { generate } from 'selfsigned';
import { encodeDnString, formatDn, parseDn } from '../pki/index.js';
import {
  type CertificateInfo,
  defaultSubject,
  describeCert,
  type ValidityOptions,
  validityOf,
} from './ca.js';
import { type DevKeyType, generateDevKeyPair } from './keys.js';
import { buildCertificate, ekuOids, randomSerial } from './x509.js';

/** Validity as for CA-issued leaves; default 1 hour (fixtures), the CLI passes 30 days. */
export interface SelfSignedClientOptions extends ValidityOptions {
  readonly clientId: string;
  /** RFC 4514 DN. Default `CN=<clientId>,O=Tollgate Dev,C=US`. */
  readonly subject?: string;
  /** Default `p256`. */
  readonly keyType?: DevKeyType;
}

export interface SelfSignedClient extends CertificateInfo {
  readonly clientId: string;
  readonly keyPem: string;
  /** Public JWK with `kid` (RFC 7638 thumbprint) and `x5c`: the registry `jwks` entry. */
  readonly jwk: JWK;
}

/** The attribute types the selfsigned package maps (through @peculiar/x509) one-to-one. */
const selfsignedTypes = new Set(['CN', 'O', 'OU', 'C', 'L', 'ST', 'DC']);

/** Makes a self-signed clientAuth certificate and its registry JWK. @see RFC 8705 §2.2.2 */
export async function createSelfSignedClient(
  options: SelfSignedClientOptions,
): Promise<SelfSignedClient> {
  const keyType = options.keyType ?? 'p256';
  const subject = options.subject ?? defaultSubject(options.clientId);
  const { notBefore, notAfter } = validityOf(options, 3_600_000);
  const key = await generateDevKeyPair(keyType);
  // selfsigned joins these into a string that @peculiar/x509 parses back, in the order given
  // (ASN.1 order, as parseDn keeps it): each attribute as src/pki prints it, escaped per RFC 4514.
  const attributes = parseDn(subject).rdns.map((rdn) => {
    const [attribute] = rdn;
    if (rdn.length !== 1 || attribute?.value.kind !== 'string') return undefined;
    const printed = formatDn({ rdns: [[attribute]], rdnKeys: [], key: '' });
    const shortName = printed.slice(0, printed.indexOf('='));
    const value = printed.slice(shortName.length + 1);
    return selfsignedTypes.has(shortName) ? { shortName, value } : undefined;
  });
  let certPem: string;
  if (
    keyType !== 'ed25519' &&
    attributes.every((a): a is NonNullable<typeof a> => a !== undefined)
  ) {
    const generated = await generate(attributes, {
      keyType: keyType.startsWith('rsa') ? 'rsa' : 'ec',
      ...(keyType === 'p384' ? { curve: 'P-384' as const } : {}),
      algorithm: keyType === 'p384' ? 'sha384' : 'sha256',
      keyPair: {
        privateKey: key.privateKeyPem,
        publicKey: key.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
      notBeforeDate: notBefore,
      notAfterDate: notAfter,
      extensions: [
        { name: 'basicConstraints', cA: false, critical: true },
        { name: 'keyUsage', digitalSignature: true, critical: true },
        { name: 'extKeyUsage', clientAuth: true },
      ],
    });
    certPem = generated.cert;
  } else {
    const name = encodeDnString(subject);
    certPem = buildCertificate({
      serial: randomSerial(),
      subject: name,
      issuer: name,
      notBefore,
      notAfter,
      subjectSpki: key.spkiDer,
      issuerSpki: key.spkiDer,
      signer: key,
      keyUsage: ['digitalSignature'],
      extKeyUsage: [ekuOids.clientAuth],
    }).pem;
  }
  const cert = new X509Certificate(certPem);
  const publicJwk = await exportJWK(key.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return {
    ...describeCert(cert),
    clientId: options.clientId,
    keyPem: key.privateKeyPem,
    keyType,
    // No `use`/`alg`: the key authenticates a TLS handshake, not JWS; RFC 8705 only needs x5c.
    jwk: { ...publicJwk, kid, x5c: [cert.raw.toString('base64')] },
  };
}
