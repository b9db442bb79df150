/**
 * Key pairs for the development PKI and the signature algorithms that go with them.
 *
 * Keys come from node:crypto (fast, native, no WebCrypto engine to share with src/pki), and
 * certificates and CRLs are signed with `crypto.sign`, whose ECDSA output is already the DER
 * `Ecdsa-Sig-Value` that X.509 wants.
 *
 * @see RFC 5480 (EC SubjectPublicKeyInfo), RFC 8410 (Ed25519), RFC 4055 and RFC 8017 (RSA)
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair as generateKeyPairCallback,
  type KeyObject,
  sign,
} from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPairCallback);

/** Key types the dev CA can issue; EC P-256 is the default because it is fast and small. */
export const devKeyTypes = ['p256', 'p384', 'rsa2048', 'rsa3072', 'ed25519'] as const;
export type DevKeyType = (typeof devKeyTypes)[number];

/** A generated or loaded key pair with the encodings every caller ends up needing. */
export interface DevKeyPair {
  readonly keyType: DevKeyType;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** PKCS#8 PEM (unencrypted: this is a development PKI; files are 0600). */
  readonly privateKeyPem: string;
  /** DER SubjectPublicKeyInfo. */
  readonly spkiDer: Buffer;
}

/** True when `value` names a supported key type. */
export function isDevKeyType(value: unknown): value is DevKeyType {
  return typeof value === 'string' && (devKeyTypes as readonly string[]).includes(value);
}

/** Generates a key pair of the given type with node:crypto. */
export async function generateDevKeyPair(keyType: DevKeyType = 'p256'): Promise<DevKeyPair> {
  const pair = await generateRaw(keyType);
  return describeKeyPair(keyType, pair.privateKey);
}

/** Wraps an existing private key (PEM), detecting its type. */
export function loadDevKeyPair(privateKeyPem: string): DevKeyPair {
  const privateKey = createPrivateKey(privateKeyPem);
  return describeKeyPair(keyTypeOf(privateKey), privateKey);
}

/** Which {@link DevKeyType} a key object is; throws TypeError for anything else. */
export function keyTypeOf(key: KeyObject): DevKeyType {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details?.namedCurve === 'prime256v1') return 'p256';
      if (details?.namedCurve === 'secp384r1') return 'p384';
      break;
    case 'rsa':
      if (details?.modulusLength === 2048) return 'rsa2048';
      if (details?.modulusLength === 3072) return 'rsa3072';
      break;
    case 'ed25519':
      return 'ed25519';
    default:
      break;
  }
  throw new TypeError(
    `dev-ca: unsupported key (${key.asymmetricKeyType ?? 'unknown'}); use one of ${devKeyTypes.join(', ')}`,
  );
}

/** The X.509 signature algorithm a CA key signs with, as an OID plus whether params are NULL. */
export interface SignatureAlgorithm {
  readonly oid: string;
  /** RSA PKCS#1 v1.5 identifiers carry an explicit NULL; ECDSA and Ed25519 carry none. */
  readonly nullParams: boolean;
  /** node:crypto digest name, or null for Ed25519 (pure EdDSA). */
  readonly digest: 'sha256' | 'sha384' | null;
}

/** @see RFC 5758 §3.2 (ecdsa-with-SHA256/384), RFC 4055 §5 (sha256WithRSAEncryption), RFC 8410 §3 */
export function signatureAlgorithmFor(keyType: DevKeyType): SignatureAlgorithm {
  switch (keyType) {
    case 'p256':
      return { oid: '1.2.840.10045.4.3.2', nullParams: false, digest: 'sha256' };
    case 'p384':
      return { oid: '1.2.840.10045.4.3.3', nullParams: false, digest: 'sha384' };
    case 'rsa2048':
    case 'rsa3072':
      return { oid: '1.2.840.113549.1.1.11', nullParams: true, digest: 'sha256' };
    case 'ed25519':
      return { oid: '1.3.101.112', nullParams: false, digest: null };
  }
}

/** Signs `data` (a DER TBS structure) with the CA key; ECDSA output is DER as X.509 requires. */
export function signTbs(key: DevKeyPair, data: Uint8Array): Buffer {
  const { digest } = signatureAlgorithmFor(key.keyType);
  return sign(digest, data, key.privateKey);
}

function describeKeyPair(keyType: DevKeyType, privateKey: KeyObject): DevKeyPair {
  const publicKey = createPublicKey(privateKey);
  return {
    keyType,
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spkiDer: publicKey.export({ type: 'spki', format: 'der' }),
  };
}

async function generateRaw(keyType: DevKeyType): Promise<{ privateKey: KeyObject }> {
  switch (keyType) {
    case 'p256':
      return generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
    case 'p384':
      return generateKeyPairAsync('ec', { namedCurve: 'secp384r1' });
    case 'rsa2048':
      return generateKeyPairAsync('rsa', { modulusLength: 2048 });
    case 'rsa3072':
      return generateKeyPairAsync('rsa', { modulusLength: 3072 });
    case 'ed25519':
      return generateKeyPairAsync('ed25519');
  }
}
