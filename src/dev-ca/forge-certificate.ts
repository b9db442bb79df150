/**
 * Builds the dev CA's RSA profile with node-forge: every certificate an RSA CA key signs over an
 * RSA subject key (the self-signed RSA root, the intermediate it signs, the RSA leaves the
 * intermediate signs), SHA-256 with RSA (PKCS #1 v1.5).
 *
 * The profile is exactly the pkijs one, byte for byte: same serial, validity, DN bytes, extension
 * order and encodings (test/dev-ca/forge-certificate.test.ts checks the DER is identical, which
 * PKCS #1 v1.5's deterministic signatures make possible). Forge's own builders make basic
 * constraints, key usage, EKU, SKI, AKI and SANs; the critical name constraints, which forge
 * cannot encode, go in as a raw extension. The DER both builders share (name constraints, the
 * authority key identifier, IP addresses) comes from x509.ts, the dispatcher, so this module
 * imports nothing from it at run time.
 *
 * What forge cannot express returns a reason instead of a certificate, and x509.ts builds
 * that one with pkijs: a non-RSA subject key (forge only models RSA public keys), a multi-valued
 * RDN or an attribute string type other than UTF8String, PrintableString or IA5String (forge
 * writes one attribute per RDN), a non-ASCII SAN, a repeated EKU.
 *
 * @see RFC 5280 §4.1, §4.2; RFC 4055 §5 (sha256WithRSAEncryption)
 */
import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import type { DevKeyPair } from './keys.js';
import type { CertificateTemplate } from './x509.js';

/** DER the dispatcher encodes with the same code the pkijs builder uses. */
export interface ForgeEncodedParts {
  /** SHA-1 key identifier of the issuer's public key (RFC 5280 §4.2.1.2 method 1). */
  readonly authorityKeyIdentifier: Buffer;
  /** The template's IP SANs in network form, in the same order. */
  readonly ipAddresses: readonly Buffer[];
  /** DER `NameConstraints`, when the template has permitted subtrees. */
  readonly nameConstraints: Buffer | undefined;
}

/** Why node-forge cannot build a certificate; the caller falls back to pkijs. */
export interface ForgeUnsupported {
  readonly unsupported: string;
}

const { asn1 } = forge;
// The string types src/dev-ca/dn.ts writes; forge encodes each one verbatim from its tag.
const dnStringTypes = new Set<number>([
  asn1.Type.UTF8,
  asn1.Type.PRINTABLESTRING,
  asn1.Type.IA5STRING,
]);
const ascii = /^[\x20-\x7e]*$/;

// Parsing a PEM key into forge's big integers costs more than signing a small certificate, and
// a CA signs many: cache per key pair (the pair object is immutable).
const forgeKeys = new WeakMap<DevKeyPair, forge.pki.rsa.PrivateKey>();

/**
 * Builds and signs `template` with node-forge, returning the certificate DER, or says why it
 * cannot. The signer must be an RSA key (forge cannot sign with ECDSA or Ed25519).
 */
export function buildForgeCertificate(
  template: CertificateTemplate,
  parts: ForgeEncodedParts,
): Buffer | ForgeUnsupported {
  if (template.signer.keyType !== 'rsa2048' && template.signer.keyType !== 'rsa3072') {
    return { unsupported: `node-forge signs with RSA only, not ${template.signer.keyType}` };
  }
  const publicKey = rsaPublicKey(template.subjectSpki);
  if ('unsupported' in publicKey) return publicKey;
  const subject = forgeName(template.subject, 'subject');
  if ('unsupported' in subject) return subject;
  const issuer = forgeName(template.issuer, 'issuer');
  if ('unsupported' in issuer) return issuer;
  const extensions = forgeExtensions(template, parts);
  if ('unsupported' in extensions) return extensions;

  const cert = forge.pki.createCertificate();
  cert.version = 2;
  cert.serialNumber = template.serial.toString('hex');
  cert.validity.notBefore = template.notBefore;
  cert.validity.notAfter = template.notAfter;
  cert.publicKey = publicKey.key;
  cert.setSubject(subject.attributes);
  cert.setIssuer(issuer.attributes);
  // After the public key: forge derives the subject key identifier from it (RFC 5280 §4.2.1.2
  // method 1, the same SHA-1 the pkijs path computes).
  cert.setExtensions(extensions.list);
  cert.sign(forgeKeyOf(template.signer), forge.md.sha256.create());
  return Buffer.from(asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

function forgeKeyOf(signer: DevKeyPair): forge.pki.rsa.PrivateKey {
  let key = forgeKeys.get(signer);
  if (key === undefined) {
    key = forge.pki.privateKeyFromPem(signer.privateKeyPem) as forge.pki.rsa.PrivateKey;
    forgeKeys.set(signer, key);
  }
  return key;
}

function rsaPublicKey(spkiDer: Buffer): { key: forge.pki.rsa.PublicKey } | ForgeUnsupported {
  const type = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' }).asymmetricKeyType;
  if (type !== 'rsa') {
    return { unsupported: `node-forge certificates carry RSA public keys only, not ${type}` };
  }
  const key = forge.pki.publicKeyFromAsn1(asn1.fromDer(spkiDer.toString('binary')));
  // forge re-encodes the key; it must come out as the same SubjectPublicKeyInfo.
  const again = Buffer.from(asn1.toDer(forge.pki.publicKeyToAsn1(key)).getBytes(), 'binary');
  if (!again.equals(spkiDer))
    return { unsupported: 'node-forge re-encodes this RSA key differently' };
  return { key: key as forge.pki.rsa.PublicKey };
}

/**
 * A DER `Name` as forge attributes, one per RDN in RDNSequence order, each keeping its string
 * type. The attributes must re-encode to the same bytes: an issuer name that differs by a byte
 * from the issuer's subject breaks path building (RFC 5280 §7.1).
 */
function forgeName(
  der: Buffer,
  which: 'subject' | 'issuer',
): { attributes: forge.pki.CertificateField[] } | ForgeUnsupported {
  const name = asn1.fromDer(der.toString('binary'));
  const attributes: forge.pki.CertificateField[] = [];
  for (const rdn of name.value as forge.asn1.Asn1[]) {
    const atvs = rdn.value as forge.asn1.Asn1[];
    if (atvs.length !== 1) {
      return { unsupported: `the ${which} has a multi-valued RDN, which node-forge cannot write` };
    }
    const [oid, value] = (atvs[0] as forge.asn1.Asn1).value as forge.asn1.Asn1[];
    if (oid === undefined || value === undefined || typeof value.value !== 'string') {
      return { unsupported: `the ${which} has a malformed attribute` };
    }
    if (!dnStringTypes.has(value.type)) {
      return { unsupported: `the ${which} uses ASN.1 string type ${value.type}` };
    }
    attributes.push({
      type: asn1.derToOid(oid.value as string),
      // forge UTF-8-encodes UTF8String values itself and writes the others as they are.
      value: value.type === asn1.Type.UTF8 ? forge.util.decodeUtf8(value.value) : value.value,
      // Typed as a tag class in @types/node-forge, but forge reads it as the universal tag number.
      valueTagClass: value.type as unknown as forge.asn1.Class,
    });
  }
  const again = asn1.toDer(forge.pki.distinguishedNameToAsn1({ attributes })).getBytes();
  if (Buffer.from(again, 'binary').equals(der)) return { attributes };
  return { unsupported: `node-forge does not re-encode the ${which} DN byte for byte` };
}

/** The pkijs path's extensions, in its order, as forge extension specs. */
function forgeExtensions(
  template: CertificateTemplate,
  parts: ForgeEncodedParts,
): { list: object[] } | ForgeUnsupported {
  if (template.keyUsage.length === 0) {
    throw new TypeError('dev-ca: a key usage extension needs at least one bit');
  }
  const list: object[] = [
    {
      name: 'basicConstraints',
      critical: true,
      cA: template.ca !== undefined,
      ...(template.ca?.pathLength === undefined
        ? {}
        : { pathLenConstraint: template.ca.pathLength }),
    },
    {
      name: 'keyUsage',
      critical: true,
      ...Object.fromEntries(template.keyUsage.map((usage) => [usage, true])),
    },
  ];
  if (template.extKeyUsage !== undefined) {
    if (new Set(template.extKeyUsage).size !== template.extKeyUsage.length) {
      return { unsupported: 'a repeated EKU, which node-forge collapses' };
    }
    // forge takes EKUs as flags named by its OID table (an unknown OID names itself); a known OID
    // must go by its name, since forge would look the OID up and write the name as an OID.
    const flags = template.extKeyUsage.map((oid) => [knownOidName(oid) ?? oid, true]);
    list.push({ name: 'extKeyUsage', critical: false, ...Object.fromEntries(flags) });
  }
  list.push(
    { name: 'subjectKeyIdentifier', critical: false },
    {
      name: 'authorityKeyIdentifier',
      critical: false,
      keyIdentifier: parts.authorityKeyIdentifier.toString('binary'),
    },
  );
  const names = template.subjectAltNames;
  const textNames = [...(names?.dns ?? []), ...(names?.uri ?? []), ...(names?.email ?? [])];
  if (!textNames.every((value) => ascii.test(value))) {
    return { unsupported: 'a non-ASCII SAN (IA5String), which node-forge would truncate' };
  }
  const altNames = [
    ...(names?.dns ?? []).map((value) => ({ type: 2, value })),
    // Parsed by x509.ts for both builders, so both write the same octets for every form.
    ...parts.ipAddresses.map((bytes) => ({ type: 7, value: bytes.toString('binary') })),
    ...(names?.uri ?? []).map((value) => ({ type: 6, value })),
    ...(names?.email ?? []).map((value) => ({ type: 1, value })),
  ];
  if (altNames.length > 0) {
    // RFC 5280 §4.2.1.6: critical only when the subject is empty; ours never is.
    list.push({ name: 'subjectAltName', critical: false, altNames });
  }
  if (parts.nameConstraints !== undefined) {
    // RFC 5280 §4.2.1.10: conforming CAs MUST mark name constraints critical.
    list.push({ id: '2.5.29.30', critical: true, value: parts.nameConstraints.toString('binary') });
  }
  return { list };
}

function knownOidName(oid: string): string | undefined {
  const name: unknown = (forge.pki.oids as Record<string, unknown>)[oid];
  return typeof name === 'string' && !name.includes('.') ? name : undefined;
}
