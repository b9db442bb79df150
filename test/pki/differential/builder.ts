/**
 * Certificate and CRL builder for the differential test: the dev CA's pkijs profile
 * (src/dev-ca/x509.ts and crl.ts: names, key identifiers, times, PEM, signatures with
 * node:crypto) with every field open to mutation, which the dev CA's own API rightly refuses to
 * issue: versions, serials, critical flags, malformed extension values, foreign key types,
 * SHA-1 signatures.
 */
import { constants, createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { encodeDn } from '../../../src/dev-ca/index.js';
import { keyIdentifier, timeOf } from '../../../src/dev-ca/x509.js';
import { encodePem as toPem } from '../../../src/pki/index.js';
import { bits, childrenOf, ctx, int, nul, oid, seq } from '../der-builder.js';

/** A key pair of any type node:crypto makes (or an SPKI it cannot, such as explicit curves). */
export interface KeyEntry {
  readonly name: string;
  readonly privateKey: KeyObject;
  /** The SPKI put in certificates (may differ from the private key's, e.g. explicit curves). */
  readonly spki: Buffer;
}

export function keyEntry(name: string, privateKey: KeyObject, spki?: Buffer): KeyEntry {
  return {
    name,
    privateKey,
    spki: spki ?? createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
  };
}

export function keyEntryFromPem(name: string, pem: string): KeyEntry {
  return keyEntry(name, createPrivateKey(pem));
}

/** One extension, as it will be encoded. */
export interface Ext {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** How a certificate is signed. */
export type SignatureVariant =
  | 'default'
  | 'sha1'
  | 'md5'
  | 'bad-signature'
  | 'mismatch'
  /** RSASSA-PSS (RSA signers only): SHA-256, MGF1-SHA-256, salt 32. */
  | 'pss-sha256'
  /** RSASSA-PSS SHA-256 with a zero-length salt. */
  | 'pss-sha256-salt0'
  /** RSASSA-PSS SHA-256 whose MGF1 hashes with SHA-1. */
  | 'pss-mgf1-sha1'
  /** RSASSA-PSS with every parameter at its default (SHA-1, MGF1-SHA-1, salt 20). */
  | 'pss-defaults'
  /** ECDSA (EC signers only) with a NULL parameter, which RFC 5758 §3.2 says MUST be absent. */
  | 'ecdsa-null-params'
  /** The outer signatureAlgorithm differs from the inner only in an absent vs NULL parameter. */
  | 'outer-params-differ'
  /** RSA PKCS#1 v1.5 SHA-256 with the parameters absent (RFC 4055 §5 wants NULL), both places. */
  | 'rsa-params-absent'
  /** RSA PKCS#1 v1.5 SHA-256 with an INTEGER where the NULL parameter goes, both places. */
  | 'rsa-params-integer'
  /** EdDSA with a NULL parameter, which RFC 8410 §3 says MUST be absent. */
  | 'eddsa-null-params'
  /** ecdsa-with-SHA224. */
  | 'ecdsa-sha224'
  /** RSASSA-PSS SHA-384 whose MGF1 hashes with SHA-256 (salt 48). */
  | 'pss-sha384-mgf1-sha256'
  /** RSASSA-PSS SHA-512, MGF1-SHA-512, salt 64. */
  | 'pss-sha512'
  /** RSASSA-PSS with no parameters at all (signed with the defaults: SHA-1, salt 20). */
  | 'pss-no-params';

/** Everything that goes into one certificate. */
export interface CertOptions {
  version: 1 | 2 | 3;
  serial: Uint8Array;
  subject: Buffer;
  issuer: Buffer;
  notBefore: Date;
  notAfter: Date;
  key: KeyEntry;
  extensions: Ext[];
  signature: SignatureVariant;
  /** Raw edits of the TBSCertificate's fields before signing (encodings pkijs never writes). */
  tbsEdit?: (fields: Uint8Array[]) => Uint8Array[];
  /** Raw edit of the whole TBSCertificate encoding before signing (after `tbsEdit`). */
  tbsRawEdit?: (tbs: Uint8Array) => Uint8Array;
  /** Raw edit of the signed certificate. */
  derEdit?: (der: Buffer) => Buffer;
}

export interface Built {
  readonly der: Buffer;
  readonly pem: string;
}

export const oids = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyConstraints: '2.5.29.36',
  inhibitAnyPolicy: '2.5.29.54',
  crlNumber: '2.5.29.20',
  issuingDistributionPoint: '2.5.29.28',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  anyExtendedKeyUsage: '2.5.29.37.0',
  unknown: '1.3.6.1.4.1.55555.1.1',
} as const;

const ber = (block: { toBER(sizeOnly?: boolean): ArrayBuffer }) =>
  new Uint8Array(block.toBER(false));

export const encode = {
  name: (dn: string): Buffer => encodeDn(dn),
  basicConstraints: (cA: boolean, pathLen?: number) =>
    ber(
      new pkijs.BasicConstraints(
        pathLen === undefined ? { cA } : { cA, pathLenConstraint: pathLen },
      ).toSchema(),
    ),
  /** Bits by RFC 5280 §4.2.1.3 number (0 digitalSignature … 6 cRLSign). */
  keyUsage: (bitNumbers: readonly number[]) => {
    let mask = 0;
    for (const bit of bitNumbers) mask |= 0x80 >> bit;
    let unused = 0;
    while (mask !== 0 && ((mask >> unused) & 1) === 0) unused++;
    return ber(new asn1js.BitString({ valueHex: Uint8Array.of(mask), unusedBits: unused }));
  },
  extKeyUsage: (purposes: readonly string[]) =>
    ber(new pkijs.ExtKeyUsage({ keyPurposes: [...purposes] }).toSchema()),
  keyIdentifier: (id: Uint8Array) => ber(new asn1js.OctetString({ valueHex: id })),
  authorityKeyIdentifier: (id: Uint8Array) =>
    ber(
      new pkijs.AuthorityKeyIdentifier({
        keyIdentifier: new asn1js.OctetString({ valueHex: id }),
      }).toSchema(),
    ),
  /** SAN entries: `dns:`, `email:`, `uri:` and `ip:` prefixed text. */
  generalNames: (names: readonly string[]) =>
    ber(new pkijs.GeneralNames({ names: names.map(generalName) }).toSchema()),
  nameConstraints: (permitted: readonly string[], excluded: readonly string[] = []) =>
    ber(
      new pkijs.NameConstraints({
        ...(permitted.length === 0
          ? {}
          : {
              permittedSubtrees: permitted.map(
                (name) => new pkijs.GeneralSubtree({ base: generalName(name) }),
              ),
            }),
        ...(excluded.length === 0
          ? {}
          : {
              excludedSubtrees: excluded.map(
                (name) => new pkijs.GeneralSubtree({ base: generalName(name) }),
              ),
            }),
      }).toSchema(),
    ),
  anyPolicy: () =>
    ber(
      new pkijs.CertificatePolicies({
        certificatePolicies: [new pkijs.PolicyInformation({ policyIdentifier: '2.5.29.32.0' })],
      }).toSchema(),
    ),
  null: () => Uint8Array.of(0x05, 0x00),
  /** Bytes that are not the DER of anything. */
  garbage: () => Uint8Array.of(0x30, 0x05, 0x02, 0x01),
};

function generalName(text: string): pkijs.GeneralName {
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const value = text.slice(colon + 1);
  switch (kind) {
    case 'dns':
      return new pkijs.GeneralName({ type: 2, value });
    case 'email':
      return new pkijs.GeneralName({ type: 1, value });
    case 'uri':
      return new pkijs.GeneralName({ type: 6, value });
    case 'ip':
      return new pkijs.GeneralName({
        type: 7,
        value: new asn1js.OctetString({ valueHex: Buffer.from(value, 'hex') }),
      });
    case 'dn':
      return new pkijs.GeneralName({
        type: 4,
        value: pkijs.RelativeDistinguishedNames.fromBER(encodeDn(value)),
      });
    default:
      throw new TypeError(`unknown general name ${text}`);
  }
}

/** The SHA-1 key identifier the dev CA writes (RFC 5280 §4.2.1.2 method 1). */
export function keyIdOf(spki: Buffer): Buffer {
  const cached = keyIds.get(spki);
  if (cached !== undefined) return cached;
  let id: Buffer;
  try {
    id = keyIdentifier(spki);
  } catch {
    id = Buffer.alloc(20, 0x42);
  }
  keyIds.set(spki, id);
  return id;
}
const keyIds = new WeakMap<Buffer, Buffer>();

interface SignPlan {
  readonly oid: string;
  readonly nullParams: boolean;
  readonly hash: string | null;
  /** RSASSA-PSS: the salt length, and the parameters' DER. */
  readonly pssSaltLength?: number;
  readonly pssParams?: Uint8Array;
  /** Parameters of any other DER (odd encodings). */
  readonly rawParams?: Uint8Array;
}

const hashOids: Readonly<Record<string, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

/** RSASSA-PSS-params (RFC 4055 §3.1); defaults (SHA-1, salt 20) are left out, as DER wants. */
function pssParams(hash: string, mgfHash: string, salt: number): Uint8Array {
  const algorithm = (name: string) => seq(oid(hashOids[name] as string), nul());
  return seq(
    ...(hash === 'sha1' ? [] : [ctx(0, algorithm(hash))]),
    ...(mgfHash === 'sha1' ? [] : [ctx(1, seq(oid('1.2.840.113549.1.1.8'), algorithm(mgfHash)))]),
    ...(salt === 20 ? [] : [ctx(2, int(salt))]),
  );
}

function planFor(key: KeyObject, variant: SignatureVariant): SignPlan {
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const pss = (hash: string, mgfHash: string, salt: number): SignPlan => ({
    oid: '1.2.840.113549.1.1.10',
    nullParams: false,
    hash,
    pssSaltLength: salt,
    pssParams: pssParams(hash, mgfHash, salt),
  });
  // An RSASSA-PSS key (id-RSASSA-PSS SPKI) signs with PSS only.
  if (type === 'rsa-pss') return pss('sha256', 'sha256', 32);
  if (type === 'rsa') {
    if (variant === 'pss-sha384-mgf1-sha256') return pss('sha384', 'sha256', 48);
    if (variant === 'pss-sha512') return pss('sha512', 'sha512', 64);
    if (variant === 'pss-no-params')
      return { oid: '1.2.840.113549.1.1.10', nullParams: false, hash: 'sha1', pssSaltLength: 20 };
    if (variant === 'rsa-params-absent')
      return { oid: '1.2.840.113549.1.1.11', nullParams: false, hash: 'sha256' };
    if (variant === 'rsa-params-integer')
      return {
        oid: '1.2.840.113549.1.1.11',
        nullParams: false,
        hash: 'sha256',
        rawParams: int(0),
      };
    if (variant === 'pss-sha256') return pss('sha256', 'sha256', 32);
    if (variant === 'pss-sha256-salt0') return pss('sha256', 'sha256', 0);
    if (variant === 'pss-mgf1-sha1') return pss('sha256', 'sha1', 32);
    if (variant === 'pss-defaults') return pss('sha1', 'sha1', 20);
    if (variant === 'sha1') return { oid: '1.2.840.113549.1.1.5', nullParams: true, hash: 'sha1' };
    if (variant === 'md5') return { oid: '1.2.840.113549.1.1.4', nullParams: true, hash: 'md5' };
    return { oid: '1.2.840.113549.1.1.11', nullParams: true, hash: 'sha256' };
  }
  if (type === 'ec') {
    if (variant === 'sha1' || variant === 'md5') {
      return { oid: '1.2.840.10045.4.1', nullParams: false, hash: 'sha1' };
    }
    if (variant === 'ecdsa-null-params')
      return { oid: '1.2.840.10045.4.3.2', nullParams: true, hash: 'sha256' };
    if (variant === 'ecdsa-sha224')
      return { oid: '1.2.840.10045.4.3.1', nullParams: false, hash: 'sha224' };
    if (curve === 'secp384r1')
      return { oid: '1.2.840.10045.4.3.3', nullParams: false, hash: 'sha384' };
    if (curve === 'secp521r1')
      return { oid: '1.2.840.10045.4.3.4', nullParams: false, hash: 'sha512' };
    return { oid: '1.2.840.10045.4.3.2', nullParams: false, hash: 'sha256' };
  }
  const edNull = variant === 'eddsa-null-params';
  if (type === 'ed25519') return { oid: '1.3.101.112', nullParams: edNull, hash: null };
  if (type === 'ed448') return { oid: '1.3.101.113', nullParams: edNull, hash: null };
  if (type === 'dsa') return { oid: '2.16.840.1.101.3.4.3.2', nullParams: false, hash: 'sha256' };
  throw new TypeError(`cannot sign with ${type}`);
}

/** The AlgorithmIdentifier DER of a plan. */
function algorithmDer(plan: SignPlan): Uint8Array {
  if (plan.pssParams !== undefined) return seq(oid(plan.oid), plan.pssParams);
  if (plan.rawParams !== undefined) return seq(oid(plan.oid), plan.rawParams);
  return plan.nullParams ? seq(oid(plan.oid), nul()) : seq(oid(plan.oid));
}

function algorithmIdentifier(plan: SignPlan): pkijs.AlgorithmIdentifier {
  return plan.nullParams
    ? new pkijs.AlgorithmIdentifier({ algorithmId: plan.oid, algorithmParams: new asn1js.Null() })
    : new pkijs.AlgorithmIdentifier({ algorithmId: plan.oid });
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Builds and signs a certificate with `signer` (the issuer's key). */
export function buildCert(options: CertOptions, signer: KeyEntry): Built {
  const certificate = new pkijs.Certificate();
  certificate.version = options.version - 1;
  certificate.serialNumber = new asn1js.Integer({ valueHex: toArrayBuffer(options.serial) });
  certificate.issuer = pkijs.RelativeDistinguishedNames.fromBER(options.issuer);
  certificate.subject = pkijs.RelativeDistinguishedNames.fromBER(options.subject);
  certificate.notBefore = timeOf(options.notBefore);
  certificate.notAfter = timeOf(options.notAfter);
  certificate.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(toArrayBuffer(options.key.spki));
  if (options.version === 3 && options.extensions.length > 0) {
    certificate.extensions = options.extensions.map(
      (extension) =>
        new pkijs.Extension({
          extnID: extension.oid,
          critical: extension.critical,
          extnValue: toArrayBuffer(extension.value),
        }),
    );
  }
  const plan = planFor(signer.privateKey, options.signature);
  const algorithm = algorithmDer(plan);
  certificate.signature = pkijs.AlgorithmIdentifier.fromBER(toArrayBuffer(algorithm));
  let tbs: Uint8Array = new Uint8Array(certificate.encodeTBS().toBER(false));
  if (options.tbsEdit !== undefined) tbs = seq(...options.tbsEdit(childrenOf(tbs)));
  if (options.tbsRawEdit !== undefined) tbs = options.tbsRawEdit(tbs);
  const signature =
    plan.pssSaltLength === undefined && signer.privateKey.asymmetricKeyType !== 'rsa-pss'
      ? sign(plan.hash, tbs, signer.privateKey)
      : sign(plan.hash, tbs, {
          key: signer.privateKey,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: plan.pssSaltLength,
        });
  if (options.signature === 'bad-signature') {
    signature[signature.length - 1] = (signature[signature.length - 1] as number) ^ 0x01;
  }
  const outer =
    options.signature === 'mismatch'
      ? algorithmDer({ oid: '1.2.840.113549.1.1.12', nullParams: true, hash: null })
      : options.signature === 'outer-params-differ'
        ? algorithmDer({ oid: plan.oid, nullParams: !plan.nullParams, hash: null })
        : algorithm;
  let der: Buffer = Buffer.from(seq(tbs, outer, bits(0, signature)));
  if (options.derEdit !== undefined) der = options.derEdit(der);
  return { der, pem: toPem('CERTIFICATE', der) };
}

/** What goes into a CRL. */
export interface CrlOptions {
  issuer: Buffer;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  revokedSerials: readonly Uint8Array[];
  extensions: Ext[];
  version: 1 | 2;
}

/** Builds and signs a CRL (the dev CA's CRL profile, every field open). */
export function buildCrl(options: CrlOptions, signer: KeyEntry): Built {
  const crl = new pkijs.CertificateRevocationList();
  if (options.version === 2) crl.version = 1;
  crl.issuer = pkijs.RelativeDistinguishedNames.fromBER(options.issuer);
  crl.thisUpdate = timeOf(options.thisUpdate);
  if (options.nextUpdate !== undefined) crl.nextUpdate = timeOf(options.nextUpdate);
  if (options.revokedSerials.length > 0) {
    crl.revokedCertificates = options.revokedSerials.map(
      (serial) =>
        new pkijs.RevokedCertificate({
          userCertificate: new asn1js.Integer({ valueHex: toArrayBuffer(serial) }),
          revocationDate: timeOf(options.thisUpdate),
        }),
    );
  }
  if (options.version === 2 && options.extensions.length > 0) {
    crl.crlExtensions = new pkijs.Extensions({
      extensions: options.extensions.map(
        (extension) =>
          new pkijs.Extension({
            extnID: extension.oid,
            critical: extension.critical,
            extnValue: toArrayBuffer(extension.value),
          }),
      ),
    });
  }
  const plan = planFor(signer.privateKey, 'default');
  crl.signature = algorithmIdentifier(plan);
  crl.signatureAlgorithm = algorithmIdentifier(plan);
  // encodeTBS is protected on CRLs (public on certificates), as src/dev-ca/crl.ts notes.
  const tbs = (crl as unknown as { encodeTBS(): asn1js.Sequence }).encodeTBS();
  crl.tbsView = new Uint8Array(tbs.toBER(false));
  crl.signatureValue = new asn1js.BitString({
    valueHex: toArrayBuffer(sign(plan.hash, crl.tbsView, signer.privateKey)),
  });
  const der = Buffer.from(crl.toSchema(false).toBER(false));
  return { der, pem: toPem('X509 CRL', der) };
}

/** A CRL number extension value. */
export function crlNumber(value: number): Uint8Array {
  return ber(new asn1js.Integer({ value }));
}
