/**
 * PKCS#10 certificate requests for `dev-ca sign`: the client makes its key and a CSR on its own
 * host (openssl, Go, Java keytool...), and the dev CA signs it without ever seeing the key.
 *
 * Parsed with pkijs (the ASN.1 model the builder and src/pki use) and verified with src/pki's
 * `verifySignature` (node:crypto, the algorithms chain validation accepts). node-forge, once meant
 * for this, reads RSA requests only ("Cannot read public key. OID is not RSA." for P-256 and
 * Ed25519), so it keeps its one job, the legacy PKCS#12.
 *
 * Input is hostile: size-capped before decoding, exactly one DER value, the self-signature must
 * verify (proof of possession), the key must pass the key policy, and what the request asks for is
 * read only to refuse it (a CA flag, an EKU not allowed) or to take its SANs; the certificate
 * profile itself is always the CA's.
 *
 * @see RFC 2986 (PKCS #10), RFC 2985 §5.4.2 (extensionRequest), RFC 5280 §4.2
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import * as pkijs from 'pkijs';
import {
  type CertificateExtensions,
  decodePem,
  defaultKeyPolicy,
  formatDnDer,
  maxRsaBits,
  parseExtensions,
  spkiPolicyViolation,
  verifySignature,
} from '../pki/index.js';
import { formatIp } from './x509.js';

/** Largest CSR accepted (PEM or DER); real ones are under 4 KiB. */
const maxCsrBytes = 64 * 1024;

const extensionRequestOid = '1.2.840.113549.1.9.14';

/** What a verified request carries. */
export interface CertificateRequest {
  /** The request's DER, exactly as verified. */
  readonly der: Uint8Array;
  /** RFC 4514 subject, or undefined when the request's subject is empty. */
  readonly subject: string | undefined;
  readonly spkiDer: Buffer;
  readonly publicKey: KeyObject;
  /** SANs requested in the extensionRequest attribute. */
  readonly sans: { dns: string[]; uri: string[]; ip: string[]; email: string[] };
  /** True when the request asks for basicConstraints cA = TRUE. */
  readonly requestsCa: boolean;
  /** Requested EKU OIDs; undefined when the request has no EKU extension. */
  readonly eku: readonly string[] | undefined;
}

/** Parses a PEM or DER CSR and verifies its self-signature; throws TypeError saying why not. */
export function readCertificateRequest(input: string | Uint8Array): CertificateRequest {
  if (input.length > maxCsrBytes) throw new TypeError(`the CSR is over ${maxCsrBytes} bytes`);
  const der = toDer(input);
  let csr: pkijs.CertificationRequest;
  try {
    csr = pkijs.CertificationRequest.fromBER(der);
  } catch {
    throw new TypeError('not a PKCS#10 certificate request');
  }
  // One DER value, nothing after it: what we verify is exactly what we were given.
  if (csr.toSchema().toBER(false).byteLength !== der.byteLength) {
    throw new TypeError('the CSR has trailing or non-DER bytes');
  }
  const spkiDer = Buffer.from(csr.subjectPublicKeyInfo.toSchema().toBER(false));
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    throw new TypeError('the CSR public key cannot be read');
  }
  // The server's key policy, so the CA never certifies a key Tollgate would then refuse.
  const weak = spkiPolicyViolation(spkiDer);
  if (weak !== undefined) {
    const rsa = `RSA keys must have ${defaultKeyPolicy.minRsaBits} to ${maxRsaBits} bits in whole octets and an odd exponent; this one: `;
    const hint = publicKey.asymmetricKeyType === 'rsa' ? rsa : '';
    throw new TypeError(`the CSR key is refused: ${hint}${weak}`);
  }
  const check = verifySignature(
    new Uint8Array(csr.signatureAlgorithm.toSchema().toBER(false)),
    csr.tbsView,
    csr.signatureValue.valueBlock.valueHexView,
    publicKey,
  );
  if (check === 'unsupported') {
    throw new TypeError('the CSR is signed with an algorithm Tollgate does not accept');
  }
  if (check !== 'valid') {
    throw new TypeError('the CSR signature does not verify (not signed by its own key)');
  }
  const extensions = requestedExtensions(csr);
  const sans: CertificateRequest['sans'] = { dns: [], uri: [], ip: [], email: [] };
  for (const name of extensions?.subjectAltName ?? []) {
    if (name.type === 'ip') sans.ip.push(formatIp(name.bytes));
    else if (name.type === 'dns' || name.type === 'uri' || name.type === 'email') {
      sans[name.type].push(name.value);
    } else throw new TypeError('the CSR asks for a SAN form the dev CA does not issue');
  }
  // Anything else requested (key usage, policies...) is not copied: the CA's profile decides.
  return {
    der,
    subject:
      csr.subject.typesAndValues.length === 0
        ? undefined
        : formatDnDer(new Uint8Array(csr.subject.toSchema().toBER(false))),
    spkiDer,
    publicKey,
    sans,
    requestsCa: extensions?.basicConstraints?.cA === true,
    eku: extensions?.extKeyUsage,
  };
}

/**
 * The extensionRequest attribute (RFC 2985 §5.4.2: a single Extensions value), read by the rules
 * src/pki reads a certificate's extensions with.
 */
function requestedExtensions(csr: pkijs.CertificationRequest): CertificateExtensions | undefined {
  const requests = (csr.attributes ?? []).filter((a) => a.type === extensionRequestOid);
  const [value, ...more] = requests.flatMap((attribute) => attribute.values);
  if (value === undefined) return undefined;
  try {
    if (more.length === 0) return parseExtensions(new Uint8Array(value.toBER(false)));
  } catch {
    // fall through to the one message below
  }
  throw new TypeError('the CSR has a malformed extensionRequest');
}

function toDer(input: string | Uint8Array): Uint8Array {
  const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
  if (!text.includes('-----BEGIN ')) return new Uint8Array(Buffer.from(text, 'latin1'));
  const label = /-----BEGIN ((?:NEW )?CERTIFICATE REQUEST)-----/.exec(text)?.[1];
  try {
    const [der] = decodePem(text, label ?? 'CERTIFICATE REQUEST', { maxBlocks: 1 });
    if (der !== undefined) return new Uint8Array(der);
  } catch {
    // fall through to the one message below
  }
  throw new TypeError('expected one PEM "CERTIFICATE REQUEST" block (or DER)');
}
