/**
 * Certificates the dev CA's public API does not issue on purpose (a SAN outside the name
 * constraints, a second-level intermediate), built with the dev CA's own certificate builder and
 * the intermediate's key, so every fixture still comes from src/dev-ca.
 */
import { createPublicKey } from 'node:crypto';
import type { DevCa } from '../../src/dev-ca/index.js';
import { encodeDn } from '../../src/dev-ca/index.js';
import { generateDevKeyPair, loadDevKeyPair } from '../../src/dev-ca/keys.js';
import {
  buildCertificate,
  type EncodedCertificate,
  ekuOids,
  randomSerial,
  type SubjectAltNames,
} from '../../src/dev-ca/x509.js';

const hourMs = 3_600_000;

/** Issuer material: a CA certificate's subject, PEM and private key. */
export interface Signer {
  readonly subject: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** A clientAuth leaf signed by `issuer` with arbitrary SANs (no name-constraint pre-check). */
export async function leafSignedBy(
  issuer: Signer,
  now: Date,
  options: {
    subject?: string;
    sans?: SubjectAltNames;
    ca?: boolean;
    /** The certified key (any type node:crypto makes, e.g. RSA-1024); default a fresh P-256. */
    key?: { readonly spkiDer: Buffer; readonly privateKeyPem: string };
  } = {},
): Promise<EncodedCertificate & { keyPem: string }> {
  const signer = loadDevKeyPair(issuer.keyPem);
  const key = options.key ?? (await generateDevKeyPair('p256'));
  const certificate = buildCertificate({
    serial: randomSerial(),
    subject: encodeDn(options.subject ?? 'CN=crafted,O=Tollgate Dev,C=US'),
    issuer: encodeDn(issuer.subject),
    notBefore: new Date(now.getTime() - hourMs),
    notAfter: new Date(now.getTime() + hourMs),
    subjectSpki: key.spkiDer,
    issuerSpki: createPublicKey(issuer.certPem).export({ type: 'spki', format: 'der' }),
    signer,
    ...(options.ca === true
      ? { ca: {}, keyUsage: ['keyCertSign', 'cRLSign'] as const }
      : { keyUsage: ['digitalSignature'] as const, extKeyUsage: [ekuOids.clientAuth] }),
    ...(options.sans === undefined ? {} : { subjectAltNames: options.sans }),
  });
  return { ...certificate, keyPem: key.privateKeyPem };
}

/** The intermediate of a dev CA as a signer. */
export function intermediateOf(ca: DevCa): Signer {
  return ca.intermediate;
}
