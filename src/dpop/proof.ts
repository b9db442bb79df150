/**
 * Checks a DPoP proof: every RFC 9449 §4.3 check, in the RFC's order, each refused with its own
 * reason code. Pure and synchronous: the one side effect, claiming the proof's `jti`, is the
 * caller's, after everything else about the request has been verified (see the token endpoint and
 * the resource verifier), so a proof refused for any other reason never spends a `jti`.
 *
 * The proof's key comes only from its `jwk` header, which is the point of DPoP (the key is the
 * client's to choose); it must still pass the server's one key policy (src/pki/key-policy.ts, the
 * same as for registered client keys, certificates and workload bundles: RSA of at least
 * `minRsaBits` and a whole number of octets, named curves P-256/384/521, Ed25519/Ed448), refused
 * with its own reason, and never carry private material.
 *
 * @see RFC 9449 §4.2, §4.3, §11.1 (replay), §11.6 (key policy); RFC 8725 §3.1
 */
import { createHash, type KeyObject, timingSafeEqual } from 'node:crypto';
import {
  type AsymmetricAlg,
  type DecodedJws,
  decodeCompactJws,
  isAsymmetricAlg,
  JwsFormatError,
  keyMismatch,
  verifyJwsSignature,
} from '../jws/index.js';
// The policy module itself, not src/pki/index.ts: it needs only the DER reader, and the client
// SDK (which imports src/dpop for its signer) should not load the certificate machinery.
import { defaultKeyPolicy, type KeyPolicy } from '../pki/key-policy.js';
import { DpopProofError } from './errors.js';
import { htuMatches } from './htu.js';
import { jwkThumbprint } from './jkt.js';
import { type ImportedProofKey, importProofJwk, keyPolicyProblem } from './proof-keys.js';

/** `typ` of a DPoP proof. @see RFC 9449 §4.2 */
export const dpopProofTyp = 'dpop+jwt';
/** Largest proof accepted by default (an RSA-4096 `jwk` with an `ath` fits in about 1.2 KiB). */
export const defaultMaxProofBytes = 4096;
/** Longest `jti` accepted: it is stored, so it is bounded. */
export const maxProofJtiLength = 256;
/** Longest `nonce` read. */
const maxNonceLength = 512;

/** Private JWK members: any of them makes the proof invalid. @see RFC 9449 §4.3 check 7 */
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** What a server nonce check says about a proof's `nonce` claim. */
export type NonceVerdict = 'ok' | 'missing' | 'invalid';

/** What the proof must match: the request as the server received it. */
export interface DpopProofExpectations {
  /** The request method (`htm`), e.g. `POST`. */
  readonly method: string;
  /**
   * The URI the request was sent to, from the server's own configuration (its public origin and
   * the request's path), never from the request's `Host` or absolute-form target; query and
   * fragment ignored. A list when the server has several public names: any one matches.
   */
  readonly uri: string | readonly string[];
  /** Wall clock of the request, epoch ms. */
  readonly nowMs: number;
  /** Accepted `alg` values (asymmetric only; `none` and HMAC can never be among them). */
  readonly allowedAlgs: readonly string[];
  /** How old `iat` may be, seconds. */
  readonly maxAgeSeconds: number;
  /** How far ahead `iat` may be (client clock skew), seconds. */
  readonly clockToleranceSeconds: number;
  /** At a resource: the access token presented, whose hash `ath` must be. @see RFC 9449 §4.3 check 12 */
  readonly accessToken?: string | undefined;
  /** Checks `nonce` when the server requires nonces; absent: any nonce is ignored. */
  readonly nonce?: ((nonce: string | undefined, nowMs: number) => NonceVerdict) | undefined;
  /** Longest proof accepted; default {@link defaultMaxProofBytes}. */
  readonly maxProofBytes?: number;
  /** The key policy the proof key must pass; default the policy's default (RSA ≥ 2048). */
  readonly keyPolicy?: KeyPolicy;
}

/** A proof that passed every stateless check. */
export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key: `cnf.jkt`. */
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
  readonly alg: AsymmetricAlg;
  /** Until when the `jti` must be remembered (epoch ms): after that, `iat` fails anyway. */
  readonly replayUntilMs: number;
}

/**
 * The `DPoP` header values of a request, from Node's `rawHeaders` (which, unlike `headers`, keeps
 * a header sent twice).
 */
export function dpopHeaderValues(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (
      (rawHeaders[i] as string).length === 4 &&
      (rawHeaders[i] as string).toLowerCase() === 'dpop'
    )
      values.push(rawHeaders[i + 1] as string);
  }
  return values;
}

/** base64url SHA-256 of an access token: the `ath` claim. @see RFC 9449 §4.2 */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/**
 * Verifies the one DPoP proof of a request against the request.
 *
 * @param headerValues every `DPoP` header value the request carried (see {@link dpopHeaderValues})
 * @throws DpopProofError with the reason of the first check that fails
 * @see RFC 9449 §4.3
 */
export function verifyDpopProof(
  headerValues: readonly string[],
  expect: DpopProofExpectations,
): VerifiedDpopProof {
  // Check 1: exactly one DPoP header.
  if (headerValues.length === 0) {
    throw new DpopProofError('dpop_proof_missing', 'a DPoP proof is required');
  }
  if (headerValues.length > 1) {
    throw new DpopProofError('dpop_proof_multiple', 'send exactly one DPoP header');
  }
  const proof = (headerValues[0] as string).trim();

  // Check 2: a single well-formed JWS with JSON header and claims (bounded before parsing).
  const maxBytes = expect.maxProofBytes ?? defaultMaxProofBytes;
  if (proof.length > maxBytes) {
    throw new DpopProofError(
      'dpop_proof_too_large',
      `the DPoP proof is larger than ${maxBytes} bytes`,
    );
  }
  let jws: DecodedJws;
  try {
    jws = decodeCompactJws(proof);
  } catch (error) {
    if (!(error instanceof JwsFormatError)) throw error;
    throw new DpopProofError(
      'dpop_proof_malformed',
      `the DPoP proof is not a signed JWT: ${error.message}`,
    );
  }
  const { header, payload } = jws;

  // Check 3: the claims of §4.2 (and ath when a token is presented), present and typed.
  const claims = checkClaims(payload, expect.accessToken !== undefined);

  // Check 4: typ is the media type application/dpop+jwt (RFC 9449 §4.2, §11.5). RFC 7515 §4.1.9
  // says a recipient MUST read a typ without '/' as if "application/" were prepended, and media
  // types are case-insensitive (RFC 6838 §4.2): so "application/dpop+jwt" and "DPoP+JWT" name the
  // same type, as they do for assertions and access tokens here (and in jose).
  if (!isDpopTyp(header.typ)) {
    throw new DpopProofError('dpop_typ_invalid', 'the DPoP proof typ must be dpop+jwt');
  }
  // Check 5: an asymmetric alg this server accepts; never none or HMAC (not in the JWS table).
  const { alg } = header;
  if (!isAsymmetricAlg(alg) || !expect.allowedAlgs.includes(alg)) {
    throw new DpopProofError(
      'dpop_alg_not_allowed',
      `the DPoP proof alg must be one of ${expect.allowedAlgs.join(', ')}`,
    );
  }
  if (header.crit !== undefined) {
    throw new DpopProofError('dpop_crit_unsupported', 'the DPoP proof must not carry crit');
  }
  // Check 7 before check 6: a private jwk is refused before anything is done with it.
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    throw new DpopProofError('dpop_jwk_invalid', 'the DPoP proof must carry its public key as jwk');
  }
  const jwkRecord = jwk as Record<string, unknown>;
  if (privateMembers.some((member) => Object.hasOwn(jwkRecord, member))) {
    throw new DpopProofError(
      'dpop_jwk_private',
      'the DPoP proof jwk must be a public key, not a private one',
    );
  }
  const { key, jkt } = importProofKey(jwkRecord, alg, expect.keyPolicy ?? defaultKeyPolicy);
  // Check 6: the signature, with the key the proof carries.
  if (!verifyJwsSignature(jws, alg, key)) {
    throw new DpopProofError(
      'dpop_signature_invalid',
      'the DPoP proof signature does not verify with its jwk',
    );
  }

  // Check 8: htm. RFC 9110 §9.1: methods are case-sensitive.
  if (claims.htm !== expect.method) {
    throw new DpopProofError('dpop_htm_mismatch', `the DPoP proof htm must be ${expect.method}`);
  }
  // Check 9: htu, normalised, query and fragment ignored.
  if (!htuMatches(claims.htu, expect.uri)) {
    throw new DpopProofError(
      'dpop_htu_mismatch',
      'the DPoP proof htu does not match the URI of this request',
    );
  }
  // Check 10: the server's nonce, when it wants one.
  if (expect.nonce !== undefined) {
    const verdict = expect.nonce(claims.nonce, expect.nowMs);
    if (verdict === 'missing') {
      throw new DpopProofError(
        'dpop_nonce_missing',
        'the DPoP proof must carry the nonce this server provides',
      );
    }
    if (verdict === 'invalid') {
      throw new DpopProofError(
        'dpop_nonce_invalid',
        'the DPoP proof nonce is not current; use the new one',
      );
    }
  }
  // Check 11: iat within [now - maxAge, now + tolerance].
  const nowSeconds = expect.nowMs / 1000;
  if (claims.iat < nowSeconds - expect.maxAgeSeconds) {
    throw new DpopProofError('dpop_iat_too_old', 'the DPoP proof is too old (iat)');
  }
  if (claims.iat > nowSeconds + expect.clockToleranceSeconds) {
    throw new DpopProofError('dpop_iat_future', 'the DPoP proof iat is in the future');
  }
  // Check 12 (first half): ath. The key binding is the caller's, once the token is verified.
  if (
    expect.accessToken !== undefined &&
    !sameString(claims.ath as string, accessTokenHash(expect.accessToken))
  ) {
    throw new DpopProofError(
      'dpop_ath_mismatch',
      'the DPoP proof ath is not the hash of this access token',
    );
  }
  return {
    jkt,
    jti: claims.jti,
    iat: claims.iat,
    alg,
    replayUntilMs: Math.ceil(
      (claims.iat + expect.maxAgeSeconds + expect.clockToleranceSeconds) * 1000,
    ),
  };
}

interface ProofClaims {
  readonly jti: string;
  readonly htm: string;
  readonly htu: string;
  readonly iat: number;
  readonly ath: string | undefined;
  readonly nonce: string | undefined;
}

function checkClaims(payload: Record<string, unknown>, needsAth: boolean): ProofClaims {
  const { jti, htm, htu, iat, ath, nonce } = payload;
  const required: [string, unknown][] = [
    ['jti', jti],
    ['htm', htm],
    ['htu', htu],
    ['iat', iat],
  ];
  if (needsAth) required.push(['ath', ath]);
  for (const [name, value] of required) {
    if (value === undefined) {
      if (name === 'ath') {
        throw new DpopProofError(
          'dpop_ath_missing',
          'the DPoP proof must carry ath, the hash of the access token',
        );
      }
      throw new DpopProofError('dpop_claim_missing', `the DPoP proof must carry ${name}`);
    }
  }
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > maxProofJtiLength) {
    throw new DpopProofError(
      'dpop_claim_invalid',
      `the DPoP proof jti must be a string of 1 to ${maxProofJtiLength} characters`,
    );
  }
  if (typeof htm !== 'string' || typeof htu !== 'string') {
    throw new DpopProofError('dpop_claim_invalid', 'the DPoP proof htm and htu must be strings');
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat) || iat < 0) {
    throw new DpopProofError('dpop_claim_invalid', 'the DPoP proof iat must be a NumericDate');
  }
  if (ath !== undefined && typeof ath !== 'string') {
    throw new DpopProofError('dpop_claim_invalid', 'the DPoP proof ath must be a string');
  }
  if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length > maxNonceLength)) {
    throw new DpopProofError('dpop_claim_invalid', 'the DPoP proof nonce must be a short string');
  }
  return { jti, htm, htu, iat, ath, nonce };
}

/** Imports the proof's public key and checks it against the key policy, then against the alg. */
function importProofKey(
  jwk: Record<string, unknown>,
  alg: AsymmetricAlg,
  policy: KeyPolicy,
): { key: KeyObject; jkt: string } {
  const jkt = jwkThumbprint(jwk);
  if (jkt === undefined) {
    throw new DpopProofError(
      'dpop_jwk_invalid',
      'the DPoP proof jwk must be an RSA, EC or OKP public key',
    );
  }
  // Imported once per key (a bounded cache keyed by the thumbprint, see proof-keys.ts).
  let imported: ImportedProofKey;
  try {
    imported = importProofJwk(jkt, jwk);
  } catch (error) {
    throw new DpopProofError('dpop_jwk_invalid', 'the DPoP proof jwk is not a valid public key', {
      cause: error,
    });
  }
  // The key's strength first (the same sentence a registered key would get), then its fit to alg.
  const { key } = imported;
  const problem = keyPolicyProblem(imported, policy);
  if (problem !== undefined) {
    throw new DpopProofError(
      'dpop_jwk_key_policy',
      `the DPoP proof key is refused by the key policy: ${problem}`,
    );
  }
  const mismatch = keyMismatch(key, alg);
  if (mismatch !== undefined) {
    throw new DpopProofError(
      'dpop_jwk_invalid',
      `the DPoP proof jwk does not fit its alg: ${mismatch}`,
    );
  }
  return { key, jkt };
}

/** Whether a `typ` names the media type application/dpop+jwt. @see RFC 7515 §4.1.9 */
function isDpopTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const type = typ.toLowerCase();
  return type === dpopProofTyp || type === `application/${dpopProofTyp}`;
}

/** Equal strings, compared without an early exit. */
export function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
