/**
 * Mints RFC 9068 JWT access tokens, bound to the client certificate or to a DPoP key when one
 * is given.
 *
 * @see RFC 9068 §2, RFC 8705 §3.1, RFC 9449 §6.1
 */
import { randomUUID } from 'node:crypto';
import type { JwsSigner } from '../jws/index.js';

export interface MintRequest {
  readonly clientId: string;
  /** `aud`: one resource indicator, or several (RFC 8707 allows repeated `resource`). */
  readonly audience: string | readonly string[];
  /** Granted scopes; omitted from the token when empty. */
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  /** `x5t#S256` of the client certificate to bind to, if any. */
  readonly certificateThumbprint: string | undefined;
  /** RFC 7638 thumbprint of the DPoP key to bind to (RFC 9449 §6.1); exclusive with the certificate. */
  readonly dpopJkt?: string | undefined;
  readonly nowMs: number;
}

export interface MintedToken {
  readonly accessToken: string;
  readonly jti: string;
  readonly expiresIn: number;
  readonly expiresAt: number;
}

export interface AccessTokenIssuerOptions {
  readonly issuer: string;
  /** Returns the signer in force (keys may rotate). */
  readonly signer: () => JwsSigner;
  /** Random token ids (injectable for tests). */
  readonly randomId?: () => string;
}

export class AccessTokenIssuer {
  readonly #issuer: string;
  readonly #signer: () => JwsSigner;
  readonly #randomId: () => string;

  constructor(options: AccessTokenIssuerOptions) {
    this.#issuer = options.issuer;
    this.#signer = options.signer;
    this.#randomId = options.randomId ?? randomUUID;
  }

  /** Signs an access token with the active key: header `typ: at+jwt` and `kid`. */
  mint(request: MintRequest): MintedToken {
    const iat = Math.floor(request.nowMs / 1000);
    const exp = iat + request.lifetimeSeconds;
    const jti = this.#randomId();
    const claims: Record<string, unknown> = {
      iss: this.#issuer,
      sub: request.clientId,
      aud: request.audience,
      exp,
      iat,
      jti,
      client_id: request.clientId,
    };
    if (request.scopes.length > 0) claims.scope = request.scopes.join(' ');
    if (request.certificateThumbprint !== undefined && request.dpopJkt !== undefined) {
      throw new TypeError('mint: one binding per token (certificate or DPoP key)');
    }
    if (request.certificateThumbprint !== undefined) {
      claims.cnf = { 'x5t#S256': request.certificateThumbprint };
    } else if (request.dpopJkt !== undefined) {
      claims.cnf = { jkt: request.dpopJkt };
    }
    return {
      accessToken: this.#signer().sign(claims),
      jti,
      expiresIn: request.lifetimeSeconds,
      expiresAt: exp,
    };
  }
}
