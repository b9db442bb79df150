/**
 * private_key_jwt: the client authenticates with a JWT it signed with a registered key.
 *
 * Order, on purpose: structural checks (size, shape, header, claims, which cost nothing and need no
 * key), then the signature, and only then the one side effect, claiming the `jti` in the replay
 * store. A forged or malformed assertion therefore never burns a `jti`, and a valid one is
 * claimed exactly once, atomically, before any token is minted. Just before the claim, a store
 * that forgets on restart (the memory store) refuses assertions issued before it started.
 *
 * @see RFC 7523 §3, §3.1; OIDC Core §9; RFC 8725; draft-ietf-oauth-rfc7523bis; FAPI 2.0 §5.3.2.1
 */

import { OAuthError } from '../errors/index.js';
import {
  type AsymmetricAlg,
  type DecodedJws,
  decodeCompactJws,
  isAsymmetricAlg,
  JwsFormatError,
  verifyJwsSignature,
} from '../jws/index.js';
import type { ClientKey, RegisteredClient } from '../registry/index.js';
import type { ReplayStore } from '../replay/index.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';
import { candidateKeys, claimOnce, isNumericDate, replayRecordCovers } from './workload-claims.js';

/** @see RFC 7523 §2.2 */
export const jwtBearerAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** `typ` values accepted (rfc7523bis §4; absent is accepted too). Compared case-insensitively. */
const acceptedTyps = new Set([
  'client-authentication+jwt',
  'application/client-authentication+jwt',
  'jwt',
  'application/jwt',
]);

/** Longest accepted `jti`: it is stored, so it is bounded. */
const maxJtiLength = 256;
/** `iat`/`nbf` this far ahead are always accepted (rfc7523bis, FAPI 2.0). */
const alwaysAcceptedFutureSeconds = 10;

export interface PrivateKeyJwtOptions {
  /** The issuer identifier: the only `aud` accepted without the legacy opt-in. */
  readonly issuer: string;
  /** Extra audiences accepted for clients with an unexpired `legacy_audience` opt-in (token endpoint URLs). */
  readonly legacyAudiences: readonly string[];
  /** Server allowlist of assertion algorithms (profile, narrowed by config). */
  readonly allowedAlgs: readonly string[];
  readonly clockToleranceSeconds: number;
  readonly maxAssertionLifetimeSeconds: number;
  readonly maxAssertionBytes: number;
  readonly replayStore: ReplayStore;
}

const fail = (reason: ConstructorParameters<typeof OAuthError>[1], description: string) =>
  new OAuthError('invalid_client', reason, description);

/** An assertion decoded but not verified, and the client it claims to be (its `sub`). */
export interface ClaimedAssertion {
  readonly clientId: string;
  readonly jws: DecodedJws;
}

export class PrivateKeyJwtAuthenticator implements ClientAuthenticator {
  readonly method = 'private_key_jwt' as const;
  readonly #options: PrivateKeyJwtOptions;
  constructor(options: PrivateKeyJwtOptions) {
    this.#options = options;
  }

  /**
   * Reads the client the assertion claims to be (its `sub`), without trusting it yet: the
   * registered keys of that client decide. Checks the assertion type, size and shape.
   */
  identify(request: ClientAuthRequest): ClaimedAssertion {
    const type = request.params.get('client_assertion_type');
    const assertion = request.params.get('client_assertion');
    if (type === undefined) {
      throw new OAuthError(
        'invalid_request',
        'missing_parameter',
        'client_assertion_type is required with client_assertion',
      );
    }
    if (assertion === undefined) {
      throw new OAuthError(
        'invalid_request',
        'missing_parameter',
        'client_assertion is required with client_assertion_type',
      );
    }
    if (type !== jwtBearerAssertionType) {
      throw fail(
        'assertion_type_invalid',
        `client_assertion_type must be ${jwtBearerAssertionType}`,
      );
    }
    if (assertion.length > this.#options.maxAssertionBytes) {
      throw fail(
        'assertion_too_large',
        `client_assertion is larger than ${this.#options.maxAssertionBytes} bytes`,
      );
    }
    let jws: DecodedJws;
    try {
      jws = decodeCompactJws(assertion);
    } catch (error) {
      if (!(error instanceof JwsFormatError)) throw error;
      throw fail('assertion_malformed', `client_assertion is not a signed JWT: ${error.message}`);
    }
    const { sub } = jws.payload;
    if (typeof sub !== 'string' || sub.length === 0) {
      throw fail('assertion_malformed', 'client_assertion sub must be the client_id');
    }
    return { clientId: sub, jws };
  }

  /**
   * Verifies the assertion for `client`. `assertion` is what {@link identify} read from this
   * request; it is passed along rather than remembered per request (a `WeakMap` keyed by the
   * request kept every request's decoded assertion, and through it the request body, alive
   * through young-generation GCs into old space: 1 KiB per token of premature promotion).
   */
  async authenticate(
    request: ClientAuthRequest,
    client: RegisteredClient,
    assertion: ClaimedAssertion = this.identify(request),
  ): Promise<AuthenticatedClient> {
    const { jws } = assertion;
    const nowSeconds = request.nowMs / 1000;

    const alg = this.#checkHeader(jws.header, client);
    const { jti, exp, issuedAt, legacyAudience } = this.#checkClaims(
      jws.payload,
      client,
      nowSeconds,
    );
    await this.#verifySignature(jws, alg, client);
    this.#checkReplayRecordCovers(issuedAt);
    // The caller's checks that need an authenticated client (a DPoP proof) come before the jti is
    // spent: a request refused for them can be sent again with the same assertion.
    await request.beforeSideEffects?.(client);

    // Side effect last: the signature is valid, so this jti is the client's to spend, once.
    const tolerance = this.#options.clockToleranceSeconds;
    const claimed = await claimOnce(
      this.#options.replayStore,
      client.clientId,
      jti,
      Math.ceil((exp + tolerance) * 1000),
    );
    if (!claimed)
      throw fail(
        'assertion_replayed',
        'client_assertion was replayed: its jti has already been used',
      );
    return { client, method: this.method, jti, legacyAudience };
  }

  /**
   * The restart fence: a replay store that forgets on restart (the memory store) can only vouch
   * for assertions issued after it started; an older one may have been spent with the previous
   * process. Compared in whole seconds, as `iat` is usually written, so a client whose clock is
   * right is never refused for an assertion it signs after the restart. The description says
   * "replay", so clients that retry a replay rejection once with a fresh assertion (the SDK does)
   * recover by themselves.
   */
  #checkReplayRecordCovers(issuedAtSeconds: number): void {
    if (replayRecordCovers(this.#options.replayStore, issuedAtSeconds)) return;
    throw fail(
      'assertion_predates_replay_record',
      'client_assertion was issued before this server started its replay record (a restart) and cannot be checked for replay: send a freshly signed assertion',
    );
  }

  /** alg in the allowlist and the client's registered alg; typ; no crit. @see RFC 8725 §3.1, §3.11 */
  #checkHeader(header: Record<string, unknown>, client: RegisteredClient): AsymmetricAlg {
    const { alg, typ, crit, kid } = header;
    if (!isAsymmetricAlg(alg) || !this.#options.allowedAlgs.includes(alg)) {
      throw fail(
        'assertion_alg_not_allowed',
        `client_assertion alg must be one of ${this.#options.allowedAlgs.join(', ')}`,
      );
    }
    if (client.signingAlg !== undefined && alg !== client.signingAlg) {
      throw fail(
        'assertion_alg_not_allowed',
        `client_assertion alg must be ${client.signingAlg} for this client (set the library's signing algorithm; many default to RS256)`,
      );
    }
    if (crit !== undefined) {
      throw fail('assertion_crit', 'client_assertion must not carry a crit header');
    }
    if (typ !== undefined && (typeof typ !== 'string' || !acceptedTyps.has(typ.toLowerCase()))) {
      throw fail(
        'assertion_typ_invalid',
        'client_assertion typ must be client-authentication+jwt or JWT',
      );
    }
    if (kid !== undefined && typeof kid !== 'string') {
      throw fail('assertion_malformed', 'client_assertion kid must be a string');
    }
    return alg;
  }

  /** iss = sub, aud = issuer, exp/iat/nbf within the clock window, bounded lifetime, jti. */
  #checkClaims(
    payload: Record<string, unknown>,
    client: RegisteredClient,
    nowSeconds: number,
  ): { jti: string; exp: number; issuedAt: number; legacyAudience: boolean } {
    const { iss, aud, exp, iat, nbf, jti } = payload;
    if (iss !== client.clientId) {
      throw fail(
        'assertion_iss_sub_mismatch',
        'client_assertion iss must equal sub and the client_id',
      );
    }
    const legacyAudience = this.#checkAudience(aud, client, nowSeconds);

    const tolerance = this.#options.clockToleranceSeconds;
    const ahead = Math.max(tolerance, alwaysAcceptedFutureSeconds);
    if (exp === undefined)
      throw fail('assertion_exp_missing', 'client_assertion must have an exp claim');
    if (!isNumericDate(exp))
      throw fail('assertion_malformed', 'client_assertion exp must be a NumericDate');
    if (nowSeconds >= exp + tolerance)
      throw fail('assertion_expired', 'client_assertion has expired');
    if (nbf !== undefined) {
      if (!isNumericDate(nbf))
        throw fail('assertion_malformed', 'client_assertion nbf must be a NumericDate');
      if (nbf > nowSeconds + ahead)
        throw fail('assertion_not_yet_valid', 'client_assertion nbf is in the future');
    }
    if (iat !== undefined) {
      if (!isNumericDate(iat))
        throw fail('assertion_malformed', 'client_assertion iat must be a NumericDate');
      if (iat > nowSeconds + ahead)
        throw fail('assertion_iat_future', 'client_assertion iat is in the future');
    }
    const maxLifetime =
      client.maxAssertionLifetimeSeconds ?? this.#options.maxAssertionLifetimeSeconds;
    // Without iat the lifetime is measured from now, allowing for the client's clock skew.
    const lifetime = iat === undefined ? exp - nowSeconds - tolerance : exp - (iat as number);
    if (lifetime > maxLifetime) {
      throw fail(
        'assertion_lifetime_too_long',
        `client_assertion lifetime (exp - iat) must be at most ${maxLifetime} seconds: shorten the assertion's exp, or register max_assertion_lifetime for this client`,
      );
    }
    if (jti === undefined)
      throw fail('assertion_jti_missing', 'client_assertion must have a jti claim');
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > maxJtiLength) {
      throw fail(
        'assertion_malformed',
        `client_assertion jti must be a string of 1 to ${maxJtiLength} characters`,
      );
    }
    // When it was issued: `iat`, or without it the earliest instant the lifetime check allows
    // (exp minus the longest lifetime this client may use, measured from now plus tolerance).
    const issuedAt = iat === undefined ? exp - maxLifetime - tolerance : (iat as number);
    return { jti, exp, issuedAt, legacyAudience };
  }

  /**
   * The issuer identifier as the sole audience (rfc7523bis §5: a string, or an array of exactly
   * that string). The token endpoint URL only through an unexpired `legacy_audience` opt-in.
   */
  #checkAudience(aud: unknown, client: RegisteredClient, nowSeconds: number): boolean {
    const value = Array.isArray(aud) && aud.length === 1 ? aud[0] : aud;
    if (value === this.#options.issuer) return false;
    const legacyOpen =
      client.legacyAudienceUntilMs !== undefined &&
      nowSeconds * 1000 < client.legacyAudienceUntilMs;
    const tokenEndpoint =
      typeof value === 'string' && this.#options.legacyAudiences.includes(value);
    if (legacyOpen && tokenEndpoint) return true;
    // The hint about legacy_audience only where it applies: a list or another server's URL is
    // not what a library sends by default, and the opt-in would not admit it.
    throw fail(
      'assertion_aud_invalid',
      tokenEndpoint
        ? `client_assertion aud must be the issuer identifier ${this.#options.issuer} as its only value, not the token endpoint URL (for a library that sends that, register the client with legacy_audience)`
        : `client_assertion aud must be the issuer identifier ${this.#options.issuer} as its only value`,
    );
  }

  /** Keys only from the client's registration: never `jwk`, `x5c`, `jku` or `x5u` headers. */
  async #verifySignature(
    jws: DecodedJws,
    alg: AsymmetricAlg,
    client: RegisteredClient,
  ): Promise<void> {
    const kid = jws.header.kid as string | undefined;
    let candidates = await this.#candidateKeys(client, alg, kid, false);
    if (candidates.length === 0 && kid !== undefined && client.keys.kind === 'remote') {
      candidates = await this.#candidateKeys(client, alg, kid, true);
    }
    if (candidates.length === 0) {
      throw fail(
        'assertion_key_not_found',
        kid === undefined
          ? `no registered key of this client fits ${alg}: sign with the registered key's algorithm (an EC P-256 key signs ES256, not RS256)`
          : 'no registered key of this client matches the kid',
      );
    }
    if (!candidates.some((key) => verifyJwsSignature(jws, alg, key.key))) {
      throw fail('assertion_signature_invalid', 'client_assertion signature is invalid');
    }
  }

  async #candidateKeys(
    client: RegisteredClient,
    alg: AsymmetricAlg,
    kid: string | undefined,
    refresh: boolean,
  ): Promise<readonly ClientKey[]> {
    let keys: readonly ClientKey[];
    const source = client.keys;
    if (source.kind === 'inline') {
      keys = source.keys;
    } else if (source.kind === 'remote') {
      try {
        keys = refresh
          ? ((await source.remote.refreshForUnknownKid()) ?? [])
          : await source.remote.get();
      } catch (error) {
        throw new OAuthError(
          'invalid_client',
          'jwks_fetch_failed',
          "the client's jwks_uri could not be fetched",
          {
            cause: error,
          },
        );
      }
    } else {
      keys = [];
    }
    return candidateKeys(keys, alg, kid);
  }
}
