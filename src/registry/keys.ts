/**
 * Client key sets: a registered JWKS is checked and imported once, at load, into node:crypto
 * KeyObjects, so that no request ever parses a JWK.
 *
 * @see RFC 7517, RFC 7591 §2 (jwks), RFC 8705 §2.2.2 (x5c of self-signed certificates)
 */
import { createHash, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type AsymmetricAlg, asymmetricAlgs, isAsymmetricAlg, keyMismatch } from '../jws/index.js';
import {
  defaultKeyPolicy,
  type KeyPolicy,
  keyPolicyViolation,
  PkiError,
  parseCertificate,
  signatureAlgorithmViolation,
} from '../pki/index.js';

/** A registered public key, ready to verify with. */
export interface ClientKey {
  readonly kid: string | undefined;
  /** The JWK's `alg`, when it pins one. */
  readonly alg: AsymmetricAlg | undefined;
  /** False for keys marked `use: "enc"` or whose `key_ops` lack `verify`. */
  readonly canVerify: boolean;
  readonly key: KeyObject;
  /** base64url SHA-256 of `x5c[0]` DER, when the JWK carries a certificate. */
  readonly x5tS256: string | undefined;
  /** The `x5c[0]` certificate, when present. */
  readonly certificate: X509Certificate | undefined;
  /** Algorithms this key can verify (type, curve, size), computed once at import. */
  readonly fits: ReadonlySet<AsymmetricAlg>;
}

/** Thrown for a key set that cannot be registered; `problems` are the reasons, one per line. */
export class KeySetError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'KeySetError';
    this.problems = problems;
  }
}

/** At most this many keys per client key set. */
export const maxKeysPerSet = 20;

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
const allowedCurves: Readonly<Record<string, readonly string[]>> = {
  EC: ['P-256', 'P-384', 'P-521'],
  OKP: ['Ed25519', 'Ed448'],
};

/**
 * Validates and imports a public JWK Set. Every key must pass the one key policy of src/pki
 * (RSA ≥ `policy.minRsaBits` and a whole number of octets, P-256/384/521, Ed25519/Ed448), and an
 * `x5c[0]` certificate must not be signed with MD5 or SHA-1.
 *
 * @throws KeySetError with every problem found (private material, weak or unknown key types,
 *   unknown `alg`, duplicate `kid`, unparsable `x5c`).
 */
export function importClientJwks(jwks: unknown, policy: KeyPolicy = defaultKeyPolicy): ClientKey[] {
  if (
    typeof jwks !== 'object' ||
    jwks === null ||
    !Array.isArray((jwks as { keys?: unknown }).keys)
  ) {
    throw new KeySetError(['must be a JWK Set: {"keys": [...]}']);
  }
  const keys = (jwks as { keys: unknown[] }).keys;
  if (keys.length === 0) throw new KeySetError(['keys must not be empty']);
  if (keys.length > maxKeysPerSet) throw new KeySetError([`at most ${maxKeysPerSet} keys`]);

  const problems: string[] = [];
  const imported: ClientKey[] = [];
  const kids = new Set<string>();
  keys.forEach((jwk, index) => {
    const result = importOne(jwk, policy);
    if (typeof result === 'string') {
      problems.push(`keys[${index}]: ${result}`);
      return;
    }
    if (result.kid !== undefined) {
      if (kids.has(result.kid)) problems.push(`keys[${index}]: duplicate kid "${result.kid}"`);
      kids.add(result.kid);
    }
    imported.push(result);
  });
  if (problems.length > 0) throw new KeySetError(problems);
  return imported;
}

function importOne(jwk: unknown, policy: KeyPolicy): ClientKey | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'must be a JSON object';
  const record = jwk as Record<string, unknown>;
  const present = privateMembers.filter((member) => member in record);
  if (present.length > 0) {
    return `contains private key material (${present.join(', ')}); register the public key only`;
  }
  const { kty, crv, kid, alg, use } = record;
  if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') {
    return `kty ${JSON.stringify(kty)} is not supported (RSA, EC or OKP; symmetric keys are not accepted)`;
  }
  const curves = allowedCurves[kty];
  if (curves !== undefined && (typeof crv !== 'string' || !curves.includes(crv))) {
    return `${kty} crv ${JSON.stringify(crv)} is not accepted (${curves.join(', ')})`;
  }
  if (kid !== undefined && (typeof kid !== 'string' || kid.length === 0 || kid.length > 256)) {
    return 'kid must be a non-empty string';
  }
  if (alg !== undefined && !isAsymmetricAlg(alg))
    return `alg ${JSON.stringify(alg)} is not supported`;
  if (use !== undefined && use !== 'sig' && use !== 'enc') return 'use must be "sig" or "enc"';
  const keyOps = record.key_ops;
  if (
    keyOps !== undefined &&
    (!Array.isArray(keyOps) || !keyOps.every((op) => typeof op === 'string'))
  ) {
    return 'key_ops must be an array of strings';
  }

  let key: KeyObject;
  try {
    key = createPublicKey({ key: stripForImport(record), format: 'jwk' });
  } catch {
    return 'is not a valid public JWK';
  }
  const policyProblem = keyPolicyViolation(key, policy);
  if (policyProblem !== undefined) return policyProblem;
  if (alg !== undefined) {
    const mismatch = keyMismatch(key, alg);
    if (mismatch !== undefined) return `alg ${alg} does not fit the key: ${mismatch}`;
  }

  let certificate: X509Certificate | undefined;
  let x5tS256: string | undefined;
  if (record.x5c !== undefined) {
    const x5c = record.x5c;
    if (!Array.isArray(x5c) || x5c.length === 0 || typeof x5c[0] !== 'string') {
      return 'x5c must be a non-empty array of base64 DER certificates';
    }
    // x5c is standard base64 (RFC 7517 §4.7), not base64url.
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(x5c[0])) return 'x5c[0] is not base64';
    const der = Buffer.from(x5c[0], 'base64');
    try {
      certificate = new X509Certificate(der);
    } catch {
      return 'x5c[0] is not a DER certificate';
    }
    if (!certificate.publicKey.equals(key))
      return 'x5c[0] does not hold the same public key as the JWK';
    let signatureProblem: string | undefined;
    try {
      signatureProblem = signatureAlgorithmViolation(parseCertificate(der).signatureAlgorithm);
    } catch (error) {
      if (!(error instanceof PkiError)) throw error;
      return `x5c[0]: ${error.message}`;
    }
    if (signatureProblem !== undefined) return `x5c[0]: ${signatureProblem}`;
    x5tS256 = createHash('sha256').update(der).digest('base64url');
  }

  const canVerify =
    use !== 'enc' && (keyOps === undefined || (keyOps as string[]).includes('verify'));
  return {
    kid: kid as string | undefined,
    alg: alg as AsymmetricAlg | undefined,
    canVerify,
    key,
    x5tS256,
    certificate,
    fits: new Set(asymmetricAlgs.filter((candidate) => keyMismatch(key, candidate) === undefined)),
  };
}

/** Node's JWK import rejects some registered members (`x5c` with `use`, ...): pass only key members. */
function stripForImport(jwk: Record<string, unknown>): { kty: string; [member: string]: unknown } {
  const { kty, crv, n, e, x, y } = jwk;
  const out: { kty: string; [member: string]: unknown } = { kty: kty as string };
  for (const [name, value] of Object.entries({ crv, n, e, x, y })) {
    if (value !== undefined) out[name] = value;
  }
  return out;
}
