/**
 * The one key policy: which public keys and which signature algorithms Tollgate accepts, for
 * every key it is asked to trust (each certificate of a client chain, trust anchors and
 * intermediates, registered JWKs and the certificates they carry, self-signed client
 * certificates, DPoP proof keys, workload bundles).
 *
 * Keys: RSA with a modulus of at least `minRsaBits` (default 2048, configurable upward) and a
 * whole number of octets, odd public exponent of 3 to 33 bits; ECDSA on P-256, P-384 or P-521 by
 * named curve only (explicit curve parameters are refused even when they describe a named
 * curve: node:crypto reports such keys as the named curve, so the decision is made on the DER);
 * Ed25519 and Ed448. DSA, X25519/X448 and anything else are refused.
 *
 * Signatures: SHA-256/384/512 with RSA PKCS#1 v1.5, RSASSA-PSS or ECDSA, and EdDSA. MD2, MD5,
 * SHA-1 and DSA signatures are refused by name, others as unknown.
 *
 * Checks work on DER and return the reason a key is refused (a sentence safe to log and to put
 * in a configuration error), or `undefined` when it is accepted.
 *
 * @see CA/Browser Forum Baseline Requirements §6.1.5, §6.1.6, §7.1.3; RFC 5480 §2.1.1
 *   (named curves), RFC 8410 (EdDSA keys), RFC 5280 §4.1.1.2
 */
import type { KeyObject } from 'node:crypto';
import {
  DerError,
  integerBytes,
  readBitString,
  readOid,
  readSingle,
  sequenceChildren,
  type Tlv,
  universalTag,
} from './der.js';

/** What the policy lets vary. */
export interface KeyPolicy {
  /** Smallest RSA modulus, in bits; at least 2048 and a multiple of 8. */
  readonly minRsaBits: number;
}

/** The default policy: RSA ≥ 2048. */
export const defaultKeyPolicy: KeyPolicy = Object.freeze({ minRsaBits: 2048 });

/** Largest RSA modulus accepted: bounds the cost of a verification a stranger can ask for. */
export const maxRsaBits = 16_384;

/**
 * Longest RSA public exponent accepted, in bits (BoringSSL's limit; 65537 has 17). OpenSSL takes
 * any exponent with a modulus of up to 3072 bits, and a verification costs in proportion to the
 * exponent's length: with a 3072-bit exponent one RSA-3072 verification took 7.1 ms instead of
 * 0.05 ms (measured), a cost anyone could pick with a DPoP proof key or a certificate.
 */
export const maxRsaExponentBits = 33;

/**
 * A policy from options; throws `TypeError` for a `minRsaBits` that would weaken the default
 * (below 2048), is not a multiple of 8, or is above {@link maxRsaBits}.
 */
export function resolveKeyPolicy(options: Partial<KeyPolicy> = {}): KeyPolicy {
  const minRsaBits = options.minRsaBits ?? defaultKeyPolicy.minRsaBits;
  if (
    !Number.isSafeInteger(minRsaBits) ||
    minRsaBits < defaultKeyPolicy.minRsaBits ||
    minRsaBits > maxRsaBits ||
    minRsaBits % 8 !== 0
  ) {
    throw new TypeError(
      `minRsaBits must be a multiple of 8 from ${defaultKeyPolicy.minRsaBits} to ${maxRsaBits}`,
    );
  }
  return minRsaBits === defaultKeyPolicy.minRsaBits
    ? defaultKeyPolicy
    : Object.freeze({ minRsaBits });
}

const keyOids = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  ed448: '1.3.101.113',
  dsa: '1.2.840.10040.4.1',
  x25519: '1.3.101.110',
  x448: '1.3.101.111',
} as const;

/** Named curves and their field size in octets. */
const namedCurves: Readonly<Record<string, { readonly name: string; readonly size: number }>> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
};

/** Curves people meet and should get a precise refusal for. */
const refusedCurves: Readonly<Record<string, string>> = {
  '1.2.840.10045.3.1.1': 'P-192',
  '1.3.132.0.33': 'P-224',
  '1.3.132.0.10': 'secp256k1',
  '1.3.36.3.3.2.8.1.1.7': 'brainpoolP256r1',
};

/**
 * Why a DER SubjectPublicKeyInfo is refused, or `undefined` when the policy accepts it.
 *
 * @see RFC 5280 §4.1.2.7, RFC 3279 §2.3, RFC 5480 §2, RFC 8410 §4
 */
export function spkiPolicyViolation(
  spki: Uint8Array,
  policy: KeyPolicy = defaultKeyPolicy,
): string | undefined {
  try {
    const [algorithm, subjectPublicKey, extra] = sequenceChildren(
      readSingle(spki),
      'SubjectPublicKeyInfo',
    );
    if (extra !== undefined) return 'malformed public key';
    const [oidTlv, params, extraParam] = sequenceChildren(algorithm, 'AlgorithmIdentifier');
    if (extraParam !== undefined) return 'malformed public key algorithm';
    const oid = readOid(oidTlv, 'algorithm');
    const key = readBitString(subjectPublicKey, 'subjectPublicKey');
    if (key.unusedBits !== 0) return 'malformed public key';
    switch (oid) {
      case keyOids.rsaEncryption:
        if (!isAbsentOrNull(params)) return 'RSA key with parameters';
        return rsaViolation(key.bytes, policy);
      case keyOids.rsassaPss:
        // RSASSA-PSS-params restrict how the key is used, not its strength.
        return rsaViolation(key.bytes, policy);
      case keyOids.ecPublicKey:
        return ecViolation(params, key.bytes);
      case keyOids.ed25519:
        return params === undefined && key.bytes.length === 32
          ? undefined
          : 'malformed Ed25519 key';
      case keyOids.ed448:
        return params === undefined && key.bytes.length === 57 ? undefined : 'malformed Ed448 key';
      case keyOids.dsa:
        return 'DSA keys are not accepted (use ECDSA P-256/P-384/P-521, Ed25519, Ed448 or RSA)';
      case keyOids.x25519:
      case keyOids.x448:
        return 'X25519/X448 keys cannot sign and are not accepted';
      default:
        return `public key algorithm ${oid} is not accepted`;
    }
  } catch (error) {
    if (error instanceof DerError) return 'malformed public key';
    throw error;
  }
}

/**
 * Why a node:crypto public key is refused, or `undefined`: the same check as
 * {@link spkiPolicyViolation} on the key's SPKI encoding (for JWKs and DPoP proof keys).
 */
export function keyPolicyViolation(
  key: KeyObject,
  policy: KeyPolicy = defaultKeyPolicy,
): string | undefined {
  if (key.type !== 'public') return 'not a public key';
  let spki: Buffer;
  try {
    spki = key.export({ type: 'spki', format: 'der' });
  } catch {
    return `public key type ${key.asymmetricKeyType ?? 'unknown'} is not accepted`;
  }
  return spkiPolicyViolation(spki, policy);
}

const weakSignatures: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.2': 'MD2',
  '1.2.840.113549.1.1.4': 'MD5',
  '1.2.840.113549.1.1.5': 'SHA-1',
  '1.2.840.113549.1.1.14': 'SHA-224',
  '1.3.14.3.2.29': 'SHA-1',
  '1.2.840.10045.4.1': 'SHA-1',
  '1.2.840.10045.4.3.1': 'SHA-224',
  '1.2.840.10040.4.3': 'DSA',
  '2.16.840.1.101.3.4.3.1': 'DSA',
  '2.16.840.1.101.3.4.3.2': 'DSA',
};

const acceptedSignatures = new Set([
  '1.2.840.113549.1.1.11',
  '1.2.840.113549.1.1.12',
  '1.2.840.113549.1.1.13',
  '1.2.840.113549.1.1.10',
  '1.2.840.10045.4.3.2',
  '1.2.840.10045.4.3.3',
  '1.2.840.10045.4.3.4',
  keyOids.ed25519,
  keyOids.ed448,
]);

/**
 * Why a signature AlgorithmIdentifier (DER) is refused, or `undefined` for an accepted
 * algorithm family (its parameters are checked where the signature is verified).
 *
 * @see RFC 5280 §4.1.1.2
 */
export function signatureAlgorithmViolation(algorithm: Uint8Array): string | undefined {
  let oid: string;
  try {
    oid = readOid(sequenceChildren(readSingle(algorithm), 'AlgorithmIdentifier')[0], 'algorithm');
  } catch {
    return 'malformed signature algorithm';
  }
  const weak = weakSignatures[oid];
  if (weak !== undefined) return `${weak} signatures are not accepted`;
  return acceptedSignatures.has(oid) ? undefined : `signature algorithm ${oid} is not accepted`;
}

function isAbsentOrNull(params: Tlv | undefined): boolean {
  return (
    params === undefined || (params.tagNumber === universalTag.null && params.value.length === 0)
  );
}

function rsaViolation(bytes: Uint8Array, policy: KeyPolicy): string | undefined {
  const [modulusTlv, exponentTlv, extra] = sequenceChildren(readSingle(bytes), 'RSAPublicKey');
  if (extra !== undefined) return 'malformed RSA key';
  const modulus = integerBytes(modulusTlv, 'modulus');
  const exponent = integerBytes(exponentTlv, 'publicExponent');
  if (((modulus[0] as number) & 0x80) !== 0 || ((exponent[0] as number) & 0x80) !== 0) {
    return 'malformed RSA key (negative integer)';
  }
  const bits = bitLength(modulus);
  if (bits > maxRsaBits) return `RSA keys over ${maxRsaBits} bits are not accepted`;
  if (bits < policy.minRsaBits) {
    return `RSA key of ${bits} bits is below the minimum of ${policy.minRsaBits}`;
  }
  if (bits % 8 !== 0) return `RSA key of ${bits} bits is not a whole number of octets`;
  const lastExponentOctet = exponent[exponent.length - 1] as number;
  if ((lastExponentOctet & 1) === 0 || bitLength(exponent) < 2) {
    return 'RSA public exponent must be odd and at least 3';
  }
  if (bitLength(exponent) > maxRsaExponentBits) {
    return `RSA public exponent over ${maxRsaExponentBits} bits is not accepted`;
  }
  return undefined;
}

function ecViolation(params: Tlv | undefined, point: Uint8Array): string | undefined {
  if (params === undefined || params.tagNumber !== universalTag.oid) {
    return 'explicit or implicit EC curve parameters are not accepted (use a named curve)';
  }
  const oid = readOid(params, 'namedCurve');
  const curve = namedCurves[oid];
  if (curve === undefined) {
    return `EC curve ${refusedCurves[oid] ?? oid} is not accepted (P-256, P-384 or P-521)`;
  }
  const uncompressed = point[0] === 0x04 && point.length === 1 + 2 * curve.size;
  const compressed = (point[0] === 0x02 || point[0] === 0x03) && point.length === 1 + curve.size;
  return uncompressed || compressed ? undefined : `malformed ${curve.name} point`;
}

function bitLength(bytes: Uint8Array): number {
  let index = 0;
  while (index < bytes.length - 1 && bytes[index] === 0) index++;
  const first = bytes[index] as number;
  return (bytes.length - index - 1) * 8 + (first === 0 ? 0 : 32 - Math.clz32(first));
}
