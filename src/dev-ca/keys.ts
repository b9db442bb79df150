/**
 * Key pairs for the development PKI and the signature algorithms that go with them, and the JWK
 * signing keys of private_key_jwt clients (the public half goes into the registry's `jwks`).
 *
 * Keys come from node:crypto (fast, native, no WebCrypto engine to share with src/pki), and
 * certificates and CRLs are signed with `crypto.sign`, whose ECDSA output is already the DER
 * `Ecdsa-Sig-Value` that X.509 wants.
 *
 * @see RFC 5480 (EC SubjectPublicKeyInfo), RFC 8410 (Ed25519), RFC 4055 and RFC 8017 (RSA),
 *      RFC 7517 (JWK), RFC 7638 (thumbprint used as `kid`), RFC 7523 §3
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  sign,
} from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { asymmetricAlgs } from '../jws/index.js';
import { generateKeyPairFor } from '../jws/keygen.js';

/** `generateKeyPair` with PEM output under one signature (node's typings have one per kind). */
const generatePemPair = promisify(generateKeyPair) as (
  kind: 'ec' | 'rsa' | 'ed25519',
  options: object,
) => Promise<{ privateKey: string; publicKey: string }>;

/** Key types the dev CA can issue; EC P-256 is the default because it is fast and small. */
export const devKeyTypes = ['p256', 'p384', 'rsa2048', 'rsa3072', 'ed25519'] as const;
export type DevKeyType = (typeof devKeyTypes)[number];

/**
 * Per key type: how node:crypto makes and names it, and the X.509 signature algorithm the key
 * signs with (RSA PKCS#1 v1.5 identifiers carry an explicit NULL; ECDSA and Ed25519 none; Ed25519
 * is pure EdDSA, without a digest).
 *
 * @see RFC 5758 §3.2 (ecdsa-with-SHA256/384), RFC 4055 §5 (sha256WithRSAEncryption), RFC 8410 §3
 */
const keyTypes = {
  p256: { kind: 'ec', size: 'prime256v1', oid: '1.2.840.10045.4.3.2', digest: 'sha256' },
  p384: { kind: 'ec', size: 'secp384r1', oid: '1.2.840.10045.4.3.3', digest: 'sha384' },
  rsa2048: { kind: 'rsa', size: 2048, oid: '1.2.840.113549.1.1.11', digest: 'sha256' },
  rsa3072: { kind: 'rsa', size: 3072, oid: '1.2.840.113549.1.1.11', digest: 'sha256' },
  ed25519: { kind: 'ed25519', size: undefined, oid: '1.3.101.112', digest: null },
} as const satisfies Record<DevKeyType, object>;

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

/** Generates a key pair of the given type with node:crypto, off the main thread. */
export async function generateDevKeyPair(keyType: DevKeyType = 'p256'): Promise<DevKeyPair> {
  const { kind, size } = keyTypes[keyType];
  const parameters =
    kind === 'ec' ? { namedCurve: size } : kind === 'rsa' ? { modulusLength: size } : {};
  // As PEM, read back into a key of its own (see src/jws/keygen.ts: the Node 20 deadlock).
  const { privateKey } = await generatePemPair(kind, {
    ...parameters,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return describeKeyPair(keyType, createPrivateKey(privateKey));
}

/** Wraps an existing private key (PEM), detecting its type. */
export function loadDevKeyPair(privateKeyPem: string): DevKeyPair {
  const privateKey = createPrivateKey(privateKeyPem);
  return describeKeyPair(keyTypeOf(privateKey), privateKey);
}

/** Which {@link DevKeyType} a key object is; throws TypeError for anything else. */
export function keyTypeOf(key: KeyObject): DevKeyType {
  const details = key.asymmetricKeyDetails;
  const size = key.asymmetricKeyType === 'rsa' ? details?.modulusLength : details?.namedCurve;
  const found = devKeyTypes.find(
    (type) => keyTypes[type].kind === key.asymmetricKeyType && keyTypes[type].size === size,
  );
  if (found !== undefined) return found;
  throw new TypeError(
    `dev-ca: unsupported key (${key.asymmetricKeyType ?? 'unknown'}); use one of ${devKeyTypes.join(', ')}`,
  );
}

/** The signature algorithm OID a key of `keyType` signs certificates and CRLs with. */
export function signatureAlgorithmFor(keyType: DevKeyType): {
  readonly oid: string;
  readonly nullParams: boolean;
} {
  return { oid: keyTypes[keyType].oid, nullParams: keyTypes[keyType].kind === 'rsa' };
}

/** Signs `data` (a DER TBS structure) with the CA key; ECDSA output is DER as X.509 requires. */
export function signTbs(key: DevKeyPair, data: Uint8Array): Buffer {
  return sign(keyTypes[key.keyType].digest, data, key.privateKey);
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

/** JWS algorithms a client signing key can be made for. */
export const signingJwkAlgs = asymmetricAlgs;
export type SigningJwkAlg = (typeof signingJwkAlgs)[number];

/** True when `value` names a supported signing algorithm. */
export function isSigningJwkAlg(value: unknown): value is SigningJwkAlg {
  return typeof value === 'string' && (signingJwkAlgs as readonly string[]).includes(value);
}

export interface SigningJwk {
  readonly alg: SigningJwkAlg;
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  readonly kid: string;
  /** `kty`, key members, `kid`, `alg`, `use: "sig"`: ready for a registry `jwks`. */
  readonly publicJwk: JWK;
  /** The same plus the private members; keep it 0600. */
  readonly privateJwk: JWK;
}

/** Generates a signing key pair and its JWKs; `kid` is the RFC 7638 thumbprint. */
export async function generateSigningJwk(alg: SigningJwkAlg = 'ES256'): Promise<SigningJwk> {
  if (!isSigningJwkAlg(alg)) {
    throw new TypeError(
      `dev-ca: unsupported signing alg ${String(alg)}; use one of ${signingJwkAlgs.join(', ')}`,
    );
  }
  const pair = generateKeyPairFor(alg);
  const publicKeyJwk = await exportJWK(pair.publicKey);
  const privateKeyJwk = await exportJWK(pair.privateKey);
  const kid = await calculateJwkThumbprint(publicKeyJwk, 'sha256');
  return {
    alg,
    kid,
    publicJwk: { ...publicKeyJwk, kid, alg, use: 'sig' },
    privateJwk: { ...privateKeyJwk, kid, alg, use: 'sig' },
  };
}
