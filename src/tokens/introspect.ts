/**
 * Token introspection logic: is this a token we issued, with a valid signature by one of our
 * published keys, and still unexpired? Free of HTTP; the route authenticates the caller.
 *
 * Only our own access tokens can be active: a JWT signed by anyone else, for any issuer, is
 * `{"active": false}`, as is anything expired, malformed or not `typ: at+jwt`. No reason is given
 * to the caller (RFC 7662 §2.2: "SHOULD NOT include any additional information").
 *
 * @see RFC 7662 §2.2, RFC 9068 §2, RFC 9449 §6.2
 */
import type { KeyObject } from 'node:crypto';
import {
  type AsymmetricAlg,
  type DecodedJws,
  decodeCompactJws,
  JwsFormatError,
  verifyJwsSignature,
} from '../jws/index.js';

/** An active token's introspection response. @see RFC 7662 §2.2 */
export interface ActiveIntrospection {
  readonly active: true;
  readonly scope?: string;
  readonly client_id: string;
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly iss: string;
  readonly exp: number;
  readonly iat: number;
  readonly jti: string;
  /** `DPoP` for a DPoP-bound token (RFC 9449 §6.2), `Bearer` otherwise. */
  readonly token_type: 'Bearer' | 'DPoP';
  /**
   * The binding, so a resource server can check it: `x5t#S256` (RFC 8705 §3.2) or `jkt`
   * (RFC 9449 §6.2).
   */
  readonly cnf?: { readonly 'x5t#S256': string } | { readonly jkt: string };
}

export type IntrospectionResponse = ActiveIntrospection | { readonly active: false };

export interface TokenIntrospectorOptions {
  readonly issuer: string;
  /** Our published verification keys by kid (the signing key set's `publicKeys`; may rotate). */
  readonly publicKeys: () => ReadonlyMap<
    string,
    { readonly alg: AsymmetricAlg; readonly key: KeyObject }
  >;
  /** Longest token looked at; default 8192 characters. */
  readonly maxTokenBytes?: number;
}

const inactive: IntrospectionResponse = Object.freeze({ active: false as const });

/** Answers introspection requests for the access tokens this server mints. */
export class TokenIntrospector {
  readonly #options: TokenIntrospectorOptions;

  constructor(options: TokenIntrospectorOptions) {
    this.#options = options;
  }

  /**
   * Introspects `token` at `nowMs` (epoch ms). Never throws for a bad token.
   *
   * No clock tolerance: this server's clock is the one that set `exp`.
   */
  introspect(token: unknown, nowMs: number): IntrospectionResponse {
    if (typeof token !== 'string' || token.length > (this.#options.maxTokenBytes ?? 8192)) {
      return inactive;
    }
    let jws: DecodedJws;
    try {
      jws = decodeCompactJws(token);
    } catch (error) {
      if (error instanceof JwsFormatError) return inactive;
      throw error;
    }
    // Structural checks before the signature; the signature before believing any claim.
    const { header, payload } = jws;
    if (header.typ !== 'at+jwt' || header.crit !== undefined || typeof header.kid !== 'string') {
      return inactive;
    }
    const key = this.#options.publicKeys().get(header.kid);
    if (key === undefined || header.alg !== key.alg) return inactive;
    if (!verifyJwsSignature(jws, key.alg, key.key)) return inactive;
    return activeClaims(payload, this.#options.issuer, nowMs / 1000) ?? inactive;
  }
}

/** The claims of a token we signed, or undefined when one is off (never for tokens we mint). */
function activeClaims(
  payload: Record<string, unknown>,
  issuer: string,
  nowSeconds: number,
): ActiveIntrospection | undefined {
  const { iss, sub, client_id: clientId, aud, exp, iat, nbf, jti, scope, cnf } = payload;
  if (iss !== issuer) return undefined;
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= nowSeconds) return undefined;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSeconds)) return undefined;
  if (typeof iat !== 'number' || typeof jti !== 'string') return undefined;
  if (typeof sub !== 'string' || typeof clientId !== 'string') return undefined;
  const audience = isAudience(aud) ? aud : undefined;
  if (audience === undefined) return undefined;
  if (scope !== undefined && typeof scope !== 'string') return undefined;
  let binding: { 'x5t#S256': string } | { jkt: string } | undefined;
  if (cnf !== undefined) {
    const record = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>) : {};
    const thumbprint = record['x5t#S256'];
    const jkt = record.jkt;
    if (typeof thumbprint === 'string' && jkt === undefined) binding = { 'x5t#S256': thumbprint };
    else if (typeof jkt === 'string' && thumbprint === undefined) binding = { jkt };
    else return undefined;
  }
  return {
    active: true,
    ...(scope === undefined ? {} : { scope }),
    client_id: clientId,
    sub,
    aud: audience,
    iss: issuer,
    exp,
    iat,
    jti,
    token_type: binding !== undefined && 'jkt' in binding ? 'DPoP' : 'Bearer',
    ...(binding === undefined ? {} : { cnf: binding }),
  };
}

function isAudience(value: unknown): value is string | readonly string[] {
  return (
    typeof value === 'string' ||
    (Array.isArray(value) &&
      value.length > 0 &&
      value.every((member) => typeof member === 'string'))
  );
}
