/**
 * Signature verification for certificates and CRLs, synchronous, with node:crypto (OpenSSL).
 *
 * pkijs verifies through WebCrypto, which is asynchronous and (in pkijs 3.4) knows no Ed25519;
 * the dev CA issues Ed25519 certificates and chain validation runs on the hot path of new TLS
 * connections, so signatures are checked here with `crypto.verify` on the exact TBS bytes.
 *
 * Policy: SHA-1 and MD5 signatures, RSA keys under 2048 or over 16384 bits or with a public
 * exponent over 33 bits, and curves other than P-256, P-384 and P-521 are `unsupported`, which path validation treats as a signature that does not
 * verify. This is a second line behind the key policy (key-policy.ts), which every certificate
 * of a path and every configured CA must pass and which reports the precise reason.
 *
 * @see RFC 5280 §4.1.1.2, RFC 4055 (RSASSA-PSS), RFC 5758 (ECDSA), RFC 8410 (EdDSA)
 */
import { constants, type KeyObject, verify } from 'node:crypto';
import {
  DerError,
  isContext,
  readOid,
  readSingle,
  readSmallInteger,
  sequenceChildren,
  type Tlv,
  universalTag,
} from './der.js';
import { maxRsaBits, maxRsaExponentBits } from './key-policy.js';

/** Outcome of a signature check. */
export type SignatureCheck = 'valid' | 'invalid' | 'unsupported';

const hashByOid: Readonly<Record<string, string>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const rsaPkcs1: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

const ecdsa: Readonly<Record<string, string>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

const rsassaPss = '1.2.840.113549.1.1.10';
const mgf1 = '1.2.840.113549.1.1.8';
const eddsa: Readonly<Record<string, string>> = {
  '1.3.101.112': 'ed25519',
  '1.3.101.113': 'ed448',
};
const allowedCurves = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

interface VerifyPlan {
  readonly hash: string | null;
  readonly keyTypes: readonly string[];
  readonly pssSaltLength?: number;
}

/**
 * Verifies `signature` over `data` with `key`, for the AlgorithmIdentifier `algorithm` (DER).
 *
 * @see RFC 5280 §4.1.1.2
 */
export function verifySignature(
  algorithm: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
): SignatureCheck {
  let plan: VerifyPlan | undefined;
  try {
    plan = planFor(readSingle(algorithm));
  } catch {
    return 'unsupported';
  }
  if (plan === undefined || !keyAcceptable(key, plan)) return 'unsupported';
  try {
    const ok =
      plan.pssSaltLength === undefined
        ? verify(plan.hash, data, key, signature)
        : verify(
            plan.hash,
            data,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: plan.pssSaltLength },
            signature,
          );
    return ok ? 'valid' : 'invalid';
  } catch {
    return 'invalid';
  }
}

function planFor(algorithm: Tlv): VerifyPlan | undefined {
  const [oidTlv, params, extra] = sequenceChildren(algorithm, 'AlgorithmIdentifier');
  if (extra !== undefined) return undefined;
  const oid = readOid(oidTlv, 'algorithm');
  const absentOrNull =
    params === undefined || (params.tagNumber === universalTag.null && params.value.length === 0);
  const rsaHash = rsaPkcs1[oid];
  if (rsaHash !== undefined) return absentOrNull ? { hash: rsaHash, keyTypes: ['rsa'] } : undefined;
  const ecdsaHash = ecdsa[oid];
  if (ecdsaHash !== undefined)
    return params === undefined ? { hash: ecdsaHash, keyTypes: ['ec'] } : undefined;
  const edType = eddsa[oid];
  if (edType !== undefined)
    return params === undefined ? { hash: null, keyTypes: [edType] } : undefined;
  if (oid === rsassaPss && params !== undefined) return pssPlan(params);
  return undefined;
}

/** RSASSA-PSS-params with SHA-2, MGF1 over the same hash, trailer field 1. @see RFC 4055 §3.1 */
function pssPlan(params: Tlv): VerifyPlan | undefined {
  let hash: string | undefined;
  let mgfHash: string | undefined;
  let saltLength = 20;
  for (const field of sequenceChildren(params, 'RSASSA-PSS-params')) {
    const inner = readSingle(field.value);
    if (isContext(field, 0)) {
      hash = hashByOid[readOid(sequenceChildren(inner, 'hashAlgorithm')[0], 'hash')];
    } else if (isContext(field, 1)) {
      const [mgfOid, mgfParams] = sequenceChildren(inner, 'maskGenAlgorithm');
      if (readOid(mgfOid, 'mgf') !== mgf1 || mgfParams === undefined) return undefined;
      mgfHash = hashByOid[readOid(sequenceChildren(mgfParams, 'mgf hash')[0], 'mgf hash')];
    } else if (isContext(field, 2)) {
      saltLength = readSmallInteger(inner, 'saltLength');
    } else if (isContext(field, 3)) {
      if (readSmallInteger(inner, 'trailerField') !== 1) return undefined;
    } else {
      throw new DerError('bad RSASSA-PSS-params');
    }
  }
  // Absent hash means SHA-1 (RFC 4055 defaults), which we refuse.
  if (hash === undefined || mgfHash !== hash) return undefined;
  return { hash, keyTypes: ['rsa', 'rsa-pss'], pssSaltLength: saltLength };
}

function keyAcceptable(key: KeyObject, plan: VerifyPlan): boolean {
  const type = key.asymmetricKeyType;
  if (type === undefined || !plan.keyTypes.includes(type)) return false;
  const details = key.asymmetricKeyDetails;
  if (type === 'rsa' || type === 'rsa-pss') {
    // The key policy's RSA size bounds, before the verification: path building verifies with the
    // keys of certificates a client sent before the policy runs on the path they form.
    const bits = details?.modulusLength ?? 0;
    const exponent = details?.publicExponent ?? 0n;
    return bits >= 2048 && bits <= maxRsaBits && exponent < 1n << BigInt(maxRsaExponentBits);
  }
  if (type === 'ec') return allowedCurves.has(details?.namedCurve ?? '');
  return true;
}
