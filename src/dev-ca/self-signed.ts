/**
 * Self-signed client certificates for `self_signed_tls_client_auth`, with the JWK (carrying the
 * certificate in `x5c`) that registers them.
 *
 * The `selfsigned` package builds the certificate for EC and RSA keys; it cannot do Ed25519 or
 * multi-valued RDNs, so those go through the CA's builder (pkijs, or node-forge for RSA keys).
 *
 * @see RFC 8705 §2.2 (self-signed certificate mutual TLS), RFC 7517 §4.7 (`x5c`)
 */
import { X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { generate } from 'selfsigned';
import { describeCert, x5tS256 } from './ca.js';
import { encodeDn, escapeValue, parseDn } from './dn.js';
import { type DevKeyType, generateDevKeyPair } from './keys.js';
import { buildCertificate, ekuOids, randomSerial } from './x509.js';

export interface SelfSignedClientOptions {
  readonly clientId: string;
  /** RFC 4514 DN. Default `CN=<clientId>,O=Tollgate Dev,C=US`. */
  readonly subject?: string;
  /** Default `p256`. */
  readonly keyType?: DevKeyType;
  readonly now?: Date;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Default 1 hour (fixtures); the CLI passes 30 days. */
  readonly validityDays?: number;
}

export interface SelfSignedClient {
  readonly clientId: string;
  readonly certPem: string;
  readonly certDer: Buffer;
  readonly keyPem: string;
  readonly subject: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyType: DevKeyType;
  /** base64url SHA-256 of the DER (RFC 8705 §3.1). */
  readonly x5tS256: string;
  /** Public JWK with `kid` (RFC 7638 thumbprint) and `x5c`: the registry `jwks` entry. */
  readonly jwk: JWK;
}

const hourMs = 3_600_000;
// The attribute types the selfsigned package maps (through @peculiar/x509) one-to-one.
const selfsignedTypes = new Set(['CN', 'O', 'OU', 'C', 'L', 'ST', 'DC']);

/** Makes a self-signed clientAuth certificate and its registry JWK. @see RFC 8705 §2.2.2 */
export async function createSelfSignedClient(
  options: SelfSignedClientOptions,
): Promise<SelfSignedClient> {
  const keyType = options.keyType ?? 'p256';
  const subject = options.subject ?? `CN=${options.clientId},O=Tollgate Dev,C=US`;
  const now = truncate(options.now ?? new Date());
  const notBefore = truncate(options.notBefore ?? now);
  const notAfter = truncate(
    options.notAfter ??
      new Date(
        notBefore.getTime() +
          (options.validityDays === undefined ? hourMs : options.validityDays * 24 * hourMs),
      ),
  );
  const key = await generateDevKeyPair(keyType);
  const rdns = parseDn(subject);
  const simple = rdns.every((rdn) => rdn.length === 1 && selfsignedTypes.has(rdn[0]?.type ?? ''));
  let certPem: string;
  if (simple && keyType !== 'ed25519') {
    const generated = await generate(
      // selfsigned joins these into a string that @peculiar/x509 encodes in the order given
      // (ASN.1 order), while RFC 4514 strings list the most specific RDN first: reverse them.
      [...rdns]
        .reverse()
        .map((rdn) => ({ shortName: rdn[0]?.type ?? '', value: escapeValue(rdn[0]?.value ?? '') })),
      {
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
      },
    );
    certPem = generated.cert;
  } else {
    const name = encodeDn(subject);
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
  const info = describeCert(cert);
  const publicJwk = await exportJWK(key.publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return {
    clientId: options.clientId,
    certPem: cert.toString(),
    certDer: cert.raw,
    keyPem: key.privateKeyPem,
    subject: info.subject,
    serialHex: info.serialHex,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    keyType,
    x5tS256: x5tS256(cert.raw),
    // No `use`/`alg`: the key authenticates a TLS handshake, not JWS; RFC 8705 only needs x5c.
    jwk: { ...publicJwk, kid, x5c: [cert.raw.toString('base64')] },
  };
}

function truncate(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
