/**
 * Builds private_key_jwt client assertions the way rfc7523bis and FAPI 2.0 want them.
 *
 * @see RFC 7523 §3, draft-ietf-oauth-rfc7523bis, OIDC Core §9
 */
import { randomUUID } from 'node:crypto';
import { type CryptoKey, importJWK, type JWK, type KeyObject, SignJWT } from 'jose';

/** The `client_assertion_type` value for JWT client assertions. @see RFC 7523 §2.2 */
export const jwtBearerAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientAssertionOptions {
  /** The client's `client_id`: both `iss` and `sub`. */
  readonly clientId: string;
  /** The authorization server's issuer identifier: the sole `aud` value (rfc7523bis). */
  readonly audience: string;
  /** Private JWK (with `d`), or a key already imported. */
  readonly key: JWK | CryptoKey | KeyObject;
  /** JWS algorithm; defaults to the JWK's `alg`. */
  readonly alg?: string;
  /** `kid` header; defaults to the JWK's `kid`. */
  readonly kid?: string;
  /** Seconds until `exp`; at most 60 by default policy. */
  readonly lifetimeSeconds?: number;
  /** Current time in epoch seconds (inject a server-corrected clock here). */
  readonly nowSeconds?: number;
  /** `jti`; a random UUID by default. */
  readonly jti?: string;
}

/** Signs a client assertion: `iss` = `sub` = client_id, `aud` = issuer, `typ: client-authentication+jwt`. */
export async function createClientAssertion(options: ClientAssertionOptions): Promise<string> {
  const jwk = isJwk(options.key) ? options.key : undefined;
  const alg = options.alg ?? jwk?.alg;
  if (alg === undefined)
    throw new TypeError('createClientAssertion: no alg given and the JWK has none');
  const kid = options.kid ?? jwk?.kid;
  const lifetimeSeconds = options.lifetimeSeconds ?? 60;
  if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
    throw new TypeError('createClientAssertion: lifetimeSeconds must be a positive integer');
  }
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const key = jwk === undefined ? options.key : await importJWK(jwk, alg);
  const header =
    kid === undefined
      ? { alg, typ: 'client-authentication+jwt' }
      : { alg, kid, typ: 'client-authentication+jwt' };
  return new SignJWT({})
    .setProtectedHeader(header)
    .setIssuer(options.clientId)
    .setSubject(options.clientId)
    .setAudience(options.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .setJti(options.jti ?? randomUUID())
    .sign(key as CryptoKey | KeyObject | Uint8Array);
}

function isJwk(key: ClientAssertionOptions['key']): key is JWK {
  return typeof key === 'object' && key !== null && 'kty' in key && typeof key.kty === 'string';
}
