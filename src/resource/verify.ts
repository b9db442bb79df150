/**
 * Verifies an RFC 9068 JWT access token at a resource server, including its RFC 8705 §3
 * certificate binding.
 *
 * Order, on purpose: cheap structural checks first (size, `typ`, `alg` allowlist, `crit`), so a
 * garbage token never reaches the key resolver (and never triggers a JWKS refetch); then the
 * signature; then the claims; then the binding, which only means something once the signature
 * holds; and only then scopes, so a stolen token learns nothing about what it would be allowed
 * to do.
 *
 * @see RFC 9068 §4, RFC 8705 §3, RFC 6750 §3.1, RFC 8725 §3.1
 */

import { timingSafeEqual } from 'node:crypto';
import {
  type CryptoKey,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type JWTVerifyResult,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import {
  type DpopJtiCache,
  type DpopNonces,
  DpopProofError,
  type VerifiedDpopProof,
  verifyDpopProof,
} from '../dpop/index.js';
import { asymmetricAlgs, isCanonicalBase64url } from '../jws/index.js';
import type { KeyPolicy } from '../pki/index.js';
import { ResourceError } from './errors.js';

/** DPoP proof algorithms a resource accepts by default (`algs=` of its challenge). */
export const defaultDpopAlgorithms = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'EdDSA',
  'Ed25519',
] as const;

/**
 * The DPoP side of one request (RFC 9449 §7): the proofs it carried and what they must match.
 *
 * @see RFC 9449 §4.3, §7.1, §9, §11.1
 */
export interface DpopRequest {
  /** Every `DPoP` header value of the request (see `dpopHeaderValues`). */
  readonly proofs: readonly string[];
  /** The request method (`htm`). */
  readonly method: string;
  /**
   * The URI the proof's `htu` must name: this API's configured public origin (`https://api.example.com`)
   * followed by the request's path; query and fragment are ignored. A list when the API is served
   * under several names (any one matches). Never build it from the request's `Host` header or an
   * absolute-form target: the sender chooses both, so a proof made for another server of the same
   * audience (whose replay cache is not this one's) would pass here. The plugin does this for you
   * (`dpop.publicOrigin`).
   */
  readonly uri: string | readonly string[];
  /** Accepted proof algorithms; default {@link defaultDpopAlgorithms}. */
  readonly algorithms?: readonly string[];
  /** How old a proof's `iat` may be; default 60 s. */
  readonly maxAgeSeconds?: number;
  /** How far ahead `iat` may be; default 10 s. */
  readonly clockToleranceSeconds?: number;
  /** Server nonces, when this resource requires them (RFC 9449 §9). */
  readonly nonces?: DpopNonces | undefined;
  /** Single use of proofs (per instance); without it, replays within the window are not caught. */
  readonly jtiCache?: DpopJtiCache | undefined;
  /** The key policy proof keys must pass; default Tollgate's (RSA ≥ 2048, P-256/384/521, EdDSA). */
  readonly keyPolicy?: KeyPolicy | undefined;
}

/**
 * Access-token signature algorithms accepted by default: what Tollgate signs with and what common
 * authorization servers use. Never `none` nor HMAC: a resource server sharing a secret with the
 * issuer could forge tokens, and `none` forges itself.
 *
 * @see RFC 8725 §3.1
 */
export const defaultAccessTokenAlgorithms = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'EdDSA',
  'RS256',
] as const;

/** Every algorithm an allowlist may name: asymmetric JWS algorithms only. */
const permittedAlgorithms: ReadonlySet<string> = new Set(asymmetricAlgs);

/** Longest accepted token (compact JWS characters) by default. */
export const defaultMaxAccessTokenBytes = 8192;
/** Clock skew accepted on `exp`, `nbf` and `iat` by default (Tollgate's assertion default). */
export const defaultClockToleranceSeconds = 30;
const maxClockToleranceSeconds = 300;

/** Claims RFC 9068 §2.2 requires; `iss` and `aud` are checked by value. */
const requiredClaims = ['exp', 'iat', 'sub', 'client_id', 'jti'];

/**
 * Resolves the verification key from the token's protected header: jose's `createRemoteJWKSet`
 * (see {@link remoteJwks}) or `createLocalJWKSet`, or your own.
 */
export type AccessTokenKeyResolver = JWTVerifyGetKey;

export interface VerifyAccessTokenOptions {
  /** The authorization server's issuer identifier; `iss` must equal it exactly. */
  readonly issuer: string;
  /** This resource's identifier(s); `aud` must contain at least one. @see RFC 9068 §4 */
  readonly audience: string | readonly string[];
  /** The issuer's keys, normally a cached remote JWKS (`jwks_uri`). */
  readonly jwks: AccessTokenKeyResolver;
  /** Accepted `alg` values; default {@link defaultAccessTokenAlgorithms}. */
  readonly algorithms?: readonly string[];
  /** Accepted clock skew; default 30, at most 300. */
  readonly clockToleranceSeconds?: number;
  /** Scopes the request needs; all must be in the token's `scope`. */
  readonly requiredScopes?: readonly string[];
  /**
   * `x5t#S256` (base64url SHA-256 of the DER) of the client certificate the caller presented on
   * this request, or undefined when it presented none.
   */
  readonly certificateThumbprint?: string | undefined;
  /** Refuse tokens that are not sender-constrained (neither `cnf.x5t#S256` nor `cnf.jkt`). */
  readonly requireBinding?: boolean;
  /**
   * How the token came: `Authorization: Bearer` (default) or `Authorization: DPoP` (RFC 9449
   * §7.1). A DPoP-bound token sent as Bearer is refused (a downgrade).
   */
  readonly scheme?: 'Bearer' | 'DPoP';
  /** The DPoP proof of the request; required with the DPoP scheme. */
  readonly dpop?: DpopRequest;
  /** Current time, epoch ms; default `Date.now()`. */
  readonly nowMs?: number;
  /** Longest accepted token; default 8192. */
  readonly maxTokenBytes?: number;
}

/** RFC 9068 access-token claims, checked for presence and type. */
export interface AccessTokenClaims extends JWTPayload {
  readonly iss: string;
  readonly sub: string;
  readonly client_id: string;
  readonly aud: string | string[];
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
  readonly scope?: string;
  readonly cnf?: { readonly 'x5t#S256': string } | { readonly jkt: string };
}

/** A token that passed every check. */
export interface VerifiedAccessToken {
  readonly claims: AccessTokenClaims;
  /** The client the token was issued to (`client_id`). */
  readonly clientId: string;
  /** The granted scopes (`scope`, split). */
  readonly scopes: ReadonlySet<string>;
  /** `cnf.x5t#S256` when the token is certificate-bound (and the caller's certificate matched). */
  readonly certificateThumbprint: string | undefined;
  /** `cnf.jkt` when the token is DPoP-bound (and the request's proof was made with that key). */
  readonly dpopJkt: string | undefined;
  /** The protected header's `alg` and `kid`. */
  readonly alg: string;
  readonly kid: string | undefined;
}

/**
 * Verifies a bearer access token for this resource.
 *
 * @throws ResourceError `invalid_token` (bad, expired, foreign or stolen token),
 *   `insufficient_scope`, or `temporarily_unavailable` when the issuer's keys cannot be fetched.
 * @throws TypeError for bad options (no issuer or audience, an allowlist naming `none` or HMAC,
 *   a bad tolerance).
 * @see RFC 9068 §4, RFC 8705 §3
 */
export async function verifyAccessToken(
  token: unknown,
  options: VerifyAccessTokenOptions,
): Promise<VerifiedAccessToken> {
  checkIdentifiers(options.issuer, options.audience);
  const algorithms = checkAlgorithms(options.algorithms ?? defaultAccessTokenAlgorithms);
  const tolerance = options.clockToleranceSeconds ?? defaultClockToleranceSeconds;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > maxClockToleranceSeconds) {
    throw new TypeError(`clockToleranceSeconds must be between 0 and ${maxClockToleranceSeconds}`);
  }
  const nowMs = options.nowMs ?? Date.now();

  const scheme = options.scheme ?? 'Bearer';
  const header = withScheme(scheme, () =>
    checkStructure(token, options.maxTokenBytes ?? defaultMaxAccessTokenBytes),
  );
  if (!algorithms.includes(header.alg)) {
    throw invalidToken(
      'alg_not_allowed',
      'the access token is signed with an algorithm not accepted here',
      undefined,
      scheme,
    );
  }
  // The proof before the token's signature: it needs no key fetch, so a garbage proof never
  // triggers a JWKS refetch; and before any claim of the token is believed.
  const proof = scheme === 'DPoP' ? checkProof(token as string, options.dpop, nowMs) : undefined;

  const verifyOptions: JWTVerifyOptions = {
    issuer: options.issuer,
    audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
    algorithms: [...algorithms],
    clockTolerance: tolerance,
    currentDate: new Date(nowMs),
    typ: 'at+jwt',
    requiredClaims,
  };
  const { payload } = await withSchemeAsync(scheme, () =>
    verifySignatureAndClaims(token as string, options.jwks, verifyOptions),
  );
  const claims = withScheme(scheme, () => checkClaimTypes(payload, nowMs, tolerance));

  // RFC 9449 §7.1 and §7.2: a DPoP-bound token only with a proof by its key; never as Bearer.
  const jkt = claims.cnf !== undefined && 'jkt' in claims.cnf ? claims.cnf.jkt : undefined;
  if (jkt !== undefined) {
    if (proof === undefined) {
      throw new ResourceError(
        'invalid_token',
        'dpop_downgrade',
        'the access token is DPoP-bound: send it with Authorization: DPoP and a DPoP proof',
        { scheme: 'DPoP' },
      );
    }
    if (!sameThumbprint(jkt, proof.jkt)) {
      throw new ResourceError(
        'invalid_dpop_proof',
        'dpop_key_mismatch',
        'the DPoP proof is signed with another key than the one the access token is bound to',
        { scheme: 'DPoP' },
      );
    }
    // Side effect last: everything about this request verified, so its proof is spent once.
    const cache = options.dpop?.jtiCache;
    if (cache !== undefined && !cache.claim(proof.jkt, proof.jti, proof.replayUntilMs, nowMs)) {
      throw new ResourceError(
        'invalid_dpop_proof',
        'dpop_replayed',
        'the DPoP proof was replayed: its jti has already been used',
        { scheme: 'DPoP' },
      );
    }
  } else if (proof !== undefined) {
    throw new ResourceError(
      'invalid_token',
      'dpop_not_bound',
      'the access token is not DPoP-bound: send it with Authorization: Bearer',
      { scheme: 'DPoP' },
    );
  }

  // RFC 8705 §3: the binding is checked against this request's certificate, after the signature.
  const bound =
    claims.cnf !== undefined && 'x5t#S256' in claims.cnf ? claims.cnf['x5t#S256'] : undefined;
  if (bound !== undefined) {
    if (options.certificateThumbprint === undefined) {
      throw invalidToken(
        'binding_certificate_missing',
        'the access token is bound to a client certificate; present that certificate',
      );
    }
    if (!sameThumbprint(bound, options.certificateThumbprint)) {
      throw invalidToken(
        'binding_mismatch',
        'the access token is bound to a different client certificate',
      );
    }
  } else if (options.requireBinding === true && jkt === undefined) {
    throw invalidToken(
      'binding_required',
      'this resource accepts only sender-constrained (certificate- or DPoP-bound) access tokens',
    );
  }

  const scopes = new Set(claims.scope?.split(' ').filter((scope) => scope !== '') ?? []);
  const required = options.requiredScopes ?? [];
  if (!required.every((scope) => scopes.has(scope))) {
    throw new ResourceError(
      'insufficient_scope',
      'scope_missing',
      'the access token does not grant the scope this request needs',
      { scopes: required, scheme },
    );
  }

  return {
    claims,
    clientId: claims.client_id,
    scopes,
    certificateThumbprint: bound,
    dpopJkt: jkt,
    alg: header.alg,
    kid: header.kid,
  };
}

function invalidToken(
  reason: ResourceError['reason'],
  description: string,
  cause?: unknown,
  scheme?: 'Bearer' | 'DPoP',
) {
  return new ResourceError('invalid_token', reason, description, {
    ...(cause === undefined ? {} : { cause }),
    ...(scheme === undefined ? {} : { scheme }),
  });
}

/** Runs a check, answering its errors in the scheme the request used (RFC 9449 §7.1). */
function withScheme<T>(scheme: 'Bearer' | 'DPoP', run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw rescheme(error, scheme);
  }
}

async function withSchemeAsync<T>(scheme: 'Bearer' | 'DPoP', run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw rescheme(error, scheme);
  }
}

function rescheme(error: unknown, scheme: 'Bearer' | 'DPoP'): unknown {
  if (!(error instanceof ResourceError) || error.scheme === scheme) return error;
  return new ResourceError(error.code, error.reason, error.description, {
    ...(error.scopes === undefined ? {} : { scopes: error.scopes }),
    ...(error.cause === undefined ? {} : { cause: error.cause }),
    scheme,
  });
}

/** The stateless RFC 9449 §4.3 checks of the request's proof, `ath` included. */
function checkProof(
  token: string,
  dpop: DpopRequest | undefined,
  nowMs: number,
): VerifiedDpopProof {
  if (dpop === undefined)
    throw new TypeError('verifyAccessToken: the DPoP scheme needs options.dpop');
  const nonces = dpop.nonces;
  try {
    return verifyDpopProof(dpop.proofs, {
      method: dpop.method,
      uri: dpop.uri,
      nowMs,
      allowedAlgs: dpop.algorithms ?? defaultDpopAlgorithms,
      maxAgeSeconds: dpop.maxAgeSeconds ?? 60,
      clockToleranceSeconds: dpop.clockToleranceSeconds ?? 10,
      ...(dpop.keyPolicy === undefined ? {} : { keyPolicy: dpop.keyPolicy }),
      accessToken: token,
      nonce: nonces === undefined ? undefined : (nonce, now) => nonces.check(nonce, now),
    });
  } catch (error) {
    if (!(error instanceof DpopProofError)) throw error;
    const nonce = nonces?.current(nowMs);
    throw new ResourceError(
      error.wantsNonce ? 'use_dpop_nonce' : 'invalid_dpop_proof',
      error.reason,
      error.description,
      { scheme: 'DPoP', cause: error, ...(nonce === undefined ? {} : { dpopNonce: nonce }) },
    );
  }
}

/**
 * Checks the issuer and audience options (internal; the plugin checks at start-up): jose skips the
 * `iss` check when its option is undefined, so an issuer from an unset variable would accept
 * tokens from any issuer. Misuse, so a TypeError, never a pass.
 */
export function checkIdentifiers(issuer: unknown, audience: unknown): void {
  if (typeof issuer !== 'string' || issuer === '') {
    throw new TypeError('issuer is required: the issuer identifier tokens must carry as iss');
  }
  const audiences = typeof audience === 'string' ? [audience] : audience;
  if (
    !Array.isArray(audiences) ||
    audiences.length === 0 ||
    audiences.some((one) => typeof one !== 'string' || one === '')
  ) {
    throw new TypeError('audience is required: the identifier(s) of this resource, non-empty');
  }
}

/** Checks an allowlist: asymmetric algorithms only (internal; the plugin checks at start-up). */
export function checkAlgorithms(algorithms: readonly string[]): readonly string[] {
  if (algorithms.length === 0) throw new TypeError('algorithms must not be empty');
  for (const alg of algorithms) {
    if (!permittedAlgorithms.has(alg)) {
      throw new TypeError(
        `algorithm ${JSON.stringify(alg)} cannot verify access tokens (asymmetric JWS algorithms only)`,
      );
    }
  }
  return algorithms;
}

/** Size, three parts, a JSON header with `typ: at+jwt`, an `alg`, no `crit`. */
function checkStructure(
  token: unknown,
  maxBytes: number,
): { alg: string; kid: string | undefined } {
  if (typeof token !== 'string' || token.length === 0) {
    throw invalidToken('token_malformed', 'the access token is not a JWT');
  }
  if (token.length > maxBytes) {
    throw invalidToken('token_too_large', 'the access token is too large');
  }
  const parts = token.split('.');
  if (parts.length !== 3) {
    throw invalidToken('token_malformed', 'the access token is not a signed JWT');
  }
  // jose decodes with Node's base64, which skips spaces, tabs and other stray characters and
  // ignores a last character's unused bits: without this, one token would have many spellings
  // that all verify (the token endpoint refuses them the same way, ../jws/index.ts). An empty
  // signature passes here so that `alg: none` is refused by name below.
  const [encodedHeader, encodedPayload, signature] = parts as [string, string, string];
  if (
    !isCanonicalBase64url(encodedHeader) ||
    !isCanonicalBase64url(encodedPayload) ||
    !(signature === '' || isCanonicalBase64url(signature))
  ) {
    throw invalidToken('token_malformed', 'the access token is not canonical base64url');
  }
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch (error) {
    throw invalidToken('token_malformed', 'the access token is not a JWT', error);
  }
  // RFC 9068 §4: `at+jwt`, or its long form; this is what tells an access token from an ID
  // token or a client assertion signed by the same issuer.
  const typ = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
  if (typ !== 'at+jwt' && typ !== 'application/at+jwt') {
    throw invalidToken('typ_invalid', 'the token is not a JWT access token (typ at+jwt)');
  }
  if (typeof header.alg !== 'string') {
    throw invalidToken('token_malformed', 'the access token has no alg');
  }
  if (header.crit !== undefined) {
    throw invalidToken('crit_unsupported', 'the access token uses unsupported critical headers');
  }
  return { alg: header.alg, kid: typeof header.kid === 'string' ? header.kid : undefined };
}

/** Marks a failure of the key resolver itself (fetch, timeout), as opposed to a bad token. */
class KeysUnavailable extends Error {
  override readonly name = 'KeysUnavailable';
}

async function verifySignatureAndClaims(
  token: string,
  resolver: AccessTokenKeyResolver,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  const keys: JWTVerifyGetKey = async (header, input) => {
    try {
      return await resolver(header, input);
    } catch (error) {
      if (
        error instanceof joseErrors.JWKSNoMatchingKey ||
        error instanceof joseErrors.JWKSMultipleMatchingKeys ||
        error instanceof joseErrors.JOSENotSupported
      ) {
        throw error;
      }
      throw new KeysUnavailable('the key resolver failed', { cause: error });
    }
  };
  try {
    try {
      return await jwtVerify(token, keys, options);
    } catch (error) {
      // A token without `kid` against a set with several keys of its type: try each (jose's
      // documented pattern); one must verify.
      if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
      for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
        try {
          return await jwtVerify(token, key, options);
        } catch (inner) {
          if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new joseErrors.JWSSignatureVerificationFailed();
    }
  } catch (error) {
    throw fromJoseError(error);
  }
}

/** Maps jose's failures to RFC 6750 errors with a description safe to show. */
function fromJoseError(error: unknown): ResourceError {
  if (error instanceof ResourceError) return error;
  if (error instanceof KeysUnavailable) {
    return new ResourceError(
      'temporarily_unavailable',
      'jwks_unavailable',
      'the issuer keys cannot be fetched; retry later',
      { cause: error.cause },
    );
  }
  if (error instanceof joseErrors.JWTExpired) {
    return invalidToken('expired', 'the access token has expired', error);
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return invalidToken('issuer_invalid', 'the access token is from another issuer', error);
      case 'aud':
        return invalidToken(
          'audience_invalid',
          'the access token is not meant for this resource',
          error,
        );
      case 'nbf':
        return invalidToken('not_yet_valid', 'the access token is not valid yet', error);
      case 'typ':
        return invalidToken(
          'typ_invalid',
          'the token is not a JWT access token (typ at+jwt)',
          error,
        );
      default:
        return invalidToken('claims_invalid', 'the access token claims are invalid', error);
    }
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return invalidToken('key_not_found', 'the access token is signed with an unknown key', error);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return invalidToken('signature_invalid', 'the access token signature is invalid', error);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return invalidToken(
      'alg_not_allowed',
      'the access token is signed with an algorithm not accepted here',
      error,
    );
  }
  // JWSInvalid, JWTInvalid, JOSENotSupported, a key of the wrong type: the token is unusable.
  return invalidToken('token_malformed', 'the access token is malformed', error);
}

/**
 * Types of the claims the resource reads, and `iat` not in the future. `sub`, `client_id` and
 * `jti` are identifiers (RFC 9068 §2.2, RFC 6749 §2.2 makes a client_id at least one character):
 * an empty one would reach the application as "no client" or "no subject", so it is refused.
 */
function checkClaimTypes(payload: JWTPayload, nowMs: number, tolerance: number): AccessTokenClaims {
  const { sub, client_id: clientId, jti, scope, cnf, iat } = payload as Record<string, unknown>;
  if (![sub, clientId, jti].every((value) => typeof value === 'string' && value !== '')) {
    throw invalidToken('claims_invalid', 'the access token claims are invalid');
  }
  if (scope !== undefined && typeof scope !== 'string') {
    throw invalidToken('claims_invalid', 'the access token scope is invalid');
  }
  if (typeof iat === 'number' && iat > nowMs / 1000 + tolerance) {
    throw invalidToken('not_yet_valid', 'the access token was issued in the future');
  }
  if (cnf !== undefined) {
    // RFC 7800 §3.1: a confirmation the resource cannot check must not be ignored, or a token
    // bound by another method (DPoP `jkt`, ...) would become a plain bearer token here.
    if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) {
      throw invalidToken('claims_invalid', 'the access token cnf claim is invalid');
    }
    const record = cnf as Record<string, unknown>;
    const thumbprint = record['x5t#S256'];
    const jkt = record.jkt;
    if (thumbprint === undefined && jkt === undefined) {
      throw invalidToken(
        'binding_unsupported',
        'the access token is bound by a confirmation method this resource does not support',
      );
    }
    // One binding per token: a token naming both could be used with either, so with neither here.
    const value = thumbprint ?? jkt;
    if (
      (thumbprint !== undefined && jkt !== undefined) ||
      typeof value !== 'string' ||
      !/^[A-Za-z0-9_-]{43}$/.test(value)
    ) {
      throw invalidToken('claims_invalid', 'the access token cnf claim is invalid');
    }
  }
  return payload as AccessTokenClaims;
}

/** Compares two base64url thumbprints without an early exit. */
function sameThumbprint(bound: string, presented: string): boolean {
  const a = Buffer.from(bound);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
