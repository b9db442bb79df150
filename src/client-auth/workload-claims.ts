/**
 * Validators shared by the workload-token methods (JWT-SVID, federated workload tokens): sole
 * audience, times under the source's policy, key selection and signature, and the `jti` policy.
 * Each is small and named, and throws the OAuthError of its own reason.
 *
 * @see RFC 7519 §4.1, RFC 7523 §3, draft-ietf-oauth-rfc7523bis §5 (sole audience),
 *   draft-ietf-oauth-spiffe-client-auth §3.1
 */
import { OAuthError, type ReasonCode } from '../errors/index.js';
import {
  type AsymmetricAlg,
  type DecodedJws,
  decodeCompactJws,
  JwsFormatError,
  verifyJwsSignature,
} from '../jws/index.js';
import type { ClientKey } from '../registry/index.js';
import { type ReplayStore, ReplayStoreError } from '../replay/index.js';
import type { SpiffeBundle, SpiffeTrustSource, WorkloadTokenPolicy } from '../workload/index.js';

export const fail = (reason: ReasonCode, description: string) =>
  new OAuthError('invalid_client', reason, description);

/** Longest `jti` claimed in the replay store. */
const maxJtiLength = 256;

/**
 * `aud` is the issuer identifier as its only value: a string, or an array of exactly that one
 * string. Two values, even if one is the issuer, are refused (audience injection).
 *
 * @see draft-ietf-oauth-spiffe-client-auth §3.1 step 3, draft-ietf-oauth-rfc7523bis §5
 */
export function checkSoleAudience(aud: unknown, issuer: string, what: string): void {
  if (Array.isArray(aud) && aud.length > 1) {
    throw fail(
      'assertion_aud_multiple',
      `${what} aud must have the issuer ${issuer} as its only value`,
    );
  }
  const value = Array.isArray(aud) ? aud[0] : aud;
  if (value !== issuer) {
    throw fail('assertion_aud_invalid', `${what} aud must be the issuer identifier ${issuer}`);
  }
}

/** What {@link checkTokenTimes} found out about a token's time window, in epoch seconds. */
export interface TokenWindow {
  readonly exp: number;
  /**
   * When the token was issued: its `iat`, or without one the earliest instant the age cap let it
   * in (`exp` minus the cap and the tolerance). Nothing issued later can have been used before.
   */
  readonly issuedAt: number;
  /**
   * The last instant the token is accepted: `exp` plus tolerance, or sooner when the age cap ends
   * it first (`iat` plus the cap plus tolerance). A single-use `jti` needs holding until then only.
   */
  readonly acceptedUntil: number;
}

/**
 * `exp` required and not passed; `nbf`/`iat` not ahead; age within the source's cap: `now - iat`,
 * or without `iat` the remaining lifetime `exp - now`, so a token without `iat` cannot dodge it.
 */
export function checkTokenTimes(
  payload: Record<string, unknown>,
  policy: WorkloadTokenPolicy,
  nowSeconds: number,
  what: string,
): TokenWindow {
  const { exp, nbf, iat } = payload;
  const tolerance = policy.clockToleranceSeconds;
  if (exp === undefined) throw fail('assertion_exp_missing', `${what} must have an exp claim`);
  if (!isNumericDate(exp)) throw fail('assertion_malformed', `${what} exp must be a NumericDate`);
  if (nowSeconds >= exp + tolerance) throw fail('assertion_expired', `${what} has expired`);
  if (nbf !== undefined) {
    if (!isNumericDate(nbf)) throw fail('assertion_malformed', `${what} nbf must be a NumericDate`);
    if (nbf > nowSeconds + tolerance)
      throw fail('assertion_not_yet_valid', `${what} nbf is in the future`);
  }
  if (iat !== undefined) {
    if (!isNumericDate(iat)) throw fail('assertion_malformed', `${what} iat must be a NumericDate`);
    if (iat > nowSeconds + tolerance)
      throw fail('assertion_iat_future', `${what} iat is in the future`);
  }
  const age = iat === undefined ? exp - nowSeconds : nowSeconds - (iat as number);
  if (age > policy.maxTokenAgeSeconds + tolerance) {
    throw fail(
      'assertion_too_old',
      `${what} is older than this source accepts (${policy.maxTokenAgeSeconds} s)`,
    );
  }
  const cap = policy.maxTokenAgeSeconds + tolerance;
  return iat === undefined
    ? { exp, issuedAt: exp - cap, acceptedUntil: exp + tolerance }
    : {
        exp,
        issuedAt: iat as number,
        acceptedUntil: Math.min(exp + tolerance, (iat as number) + cap),
      };
}

/** The keys that may verify: matching `kid` when one is named, fitting `alg`, verify-capable. */
export function candidateKeys(
  keys: readonly ClientKey[],
  alg: AsymmetricAlg,
  kid: string | undefined,
): ClientKey[] {
  return keys.filter(
    (key) =>
      key.canVerify &&
      (kid === undefined || key.kid === kid) &&
      (key.alg === undefined || key.alg === alg) &&
      key.fits.has(alg),
  );
}

/** Verifies with one of the candidates; refuses with its own reason when none exists or fits. */
export function verifyWith(
  jws: DecodedJws,
  alg: AsymmetricAlg,
  candidates: readonly ClientKey[],
  kid: string | undefined,
  what: string,
): void {
  if (candidates.length === 0) {
    throw fail(
      'assertion_key_not_found',
      kid === undefined
        ? `no key of the trust source fits ${alg}`
        : `no key of the trust source matches the kid of ${what}`,
    );
  }
  if (!candidates.some((key) => verifyJwsSignature(jws, alg, key.key))) {
    throw fail('assertion_signature_invalid', `${what} signature is invalid`);
  }
}

/** The `client_assertion` decoded: present, within the size bound, a compact JWS. */
export function decodeAssertion(assertion: string | undefined, maxBytes: number): DecodedJws {
  if (assertion === undefined) {
    throw new OAuthError(
      'invalid_request',
      'missing_parameter',
      'client_assertion is required with client_assertion_type',
    );
  }
  if (assertion.length > maxBytes) {
    throw fail('assertion_too_large', `client_assertion is larger than ${maxBytes} bytes`);
  }
  try {
    return decodeCompactJws(assertion);
  } catch (error) {
    if (!(error instanceof JwsFormatError)) throw error;
    throw fail('assertion_malformed', `client_assertion is not a signed JWT: ${error.message}`);
  }
}

/**
 * The bundle in force for an SVID's trust domain: 503 when the source has none within its
 * staleness limit, and every SVID refused when the bundle has no keys (revocation by emptying).
 *
 * @see SPIFFE Trust Domain and Bundle §4, draft-ietf-oauth-spiffe-client-auth §6
 */
export async function usableBundle(source: SpiffeTrustSource): Promise<SpiffeBundle> {
  let bundle: SpiffeBundle;
  try {
    bundle = await source.bundle();
  } catch (error) {
    // bundle() only throws WorkloadSourceUnavailable: fail closed, temporarily.
    throw sourceUnavailable(error);
  }
  if (bundle.empty) {
    throw fail(
      'spiffe_bundle_empty',
      `the bundle of ${source.trustDomain} has no keys: every SVID of the domain is refused`,
    );
  }
  return bundle;
}

/** The source cannot vouch right now: fail closed, and say it is temporary. */
export function sourceUnavailable(error: unknown): OAuthError {
  return new OAuthError(
    'temporarily_unavailable',
    'workload_source_unavailable',
    'the trust source for this workload has no current keys; retry later',
    { retryAfterSeconds: 30, cause: error },
  );
}

/**
 * What the source's `jti` policy asks of one verified token: its `jti` (for the audit line), and
 * whether that `jti` is to be spent (claimed once in the replay store).
 */
export type JtiDecision =
  | { readonly jti: string | undefined; readonly spend: false }
  | { readonly jti: string; readonly spend: true };

/**
 * The stateless half of the source's `jti` policy: the `jti` well formed, present when the policy
 * requires it, and whether it is to be spent. No side effect, so the caller can run its own checks
 * (a DPoP proof) between this and {@link spendJti}.
 */
export function checkJtiPolicy(
  payload: Record<string, unknown>,
  policy: WorkloadTokenPolicy,
  what: string,
): JtiDecision {
  const { jti } = payload;
  if (
    jti !== undefined &&
    (typeof jti !== 'string' || jti.length === 0 || jti.length > maxJtiLength)
  ) {
    throw fail(
      'assertion_malformed',
      `${what} jti must be a string of 1 to ${maxJtiLength} characters`,
    );
  }
  if (jti === undefined && policy.jti === 'required-unique')
    throw fail('assertion_jti_missing', `${what} must have a jti claim`);
  if (jti === undefined || policy.jti === 'reuse-allowed') return { jti, spend: false };
  return { jti, spend: true };
}

/**
 * The restart fence of a single-use `jti`: a replay store that forgets on restart (the memory
 * store) can only vouch for tokens issued after it started, as for private_key_jwt. Stateless, so
 * callers run it with the other checks, before the request's own (a DPoP proof) and the spend.
 */
export function checkReplayRecordCovers(
  decision: JtiDecision,
  window: TokenWindow,
  replayStore: ReplayStore,
  what: string,
): void {
  if (!decision.spend || replayRecordCovers(replayStore, window.issuedAt)) return;
  throw fail(
    'assertion_predates_replay_record',
    `${what} was issued before this server started its replay record (a restart) and cannot be checked for replay: send a fresh one`,
  );
}

/**
 * Whether `replayStore` remembers every claim since `issuedAtSeconds`. Compared in whole seconds,
 * as `iat` is usually written, so a token issued after the restart by a right clock always passes.
 * Shared with private_key_jwt.
 */
export function replayRecordCovers(replayStore: ReplayStore, issuedAtSeconds: number): boolean {
  const since = replayStore.rememberedSinceMs?.();
  return since === undefined || issuedAtSeconds >= Math.floor(since / 1000);
}

/**
 * Spends a verified token's `jti` once, when the policy asks for it, for as long as the token can
 * be accepted (`exp`, or its age cap when that ends it sooner: a token minted with a far `exp`
 * must not hold a claim for what the cap already refuses). The side effect of workload
 * authentication: callers run it last, after the signature verified (so a forged token burns no
 * `jti`) and after the request's own checks (`beforeSideEffects`).
 */
export async function spendJti(
  decision: JtiDecision,
  window: TokenWindow,
  replayStore: ReplayStore,
  clientId: string,
  what: string,
): Promise<void> {
  if (!decision.spend) return;
  const claimed = await claimOnce(
    replayStore,
    clientId,
    decision.jti,
    Math.ceil(window.acceptedUntil * 1000),
  );
  if (!claimed)
    throw fail('assertion_replayed', `${what} was replayed: its jti has already been used`);
}

/**
 * Claims `jti` for `clientId` until `expiresAtMs` (atomic insert-if-absent); a store that cannot
 * decide fails closed with `temporarily_unavailable`. Shared with private_key_jwt.
 */
export async function claimOnce(
  replayStore: ReplayStore,
  clientId: string,
  jti: string,
  expiresAtMs: number,
): Promise<boolean> {
  try {
    return await replayStore.claim(clientId, jti, expiresAtMs);
  } catch (error) {
    if (!(error instanceof ReplayStoreError)) throw error;
    if (error.failure === 'client_share') {
      // This client alone holds its share of the store: it waits, the others do not.
      throw new OAuthError(
        'temporarily_unavailable',
        'replay_client_share',
        'This client has too many live client assertions; retry later.',
        { status: 429, retryAfterSeconds: error.retryAfterSeconds, cause: error },
      );
    }
    throw new OAuthError(
      'temporarily_unavailable',
      error.failure === 'full' ? 'replay_store_full' : 'replay_store_unavailable',
      'The server cannot record client assertions right now; retry later.',
      { retryAfterSeconds: error.retryAfterSeconds, cause: error },
    );
  }
}

/** RFC 7519 §2: a JSON number of seconds since the epoch. */
export function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
