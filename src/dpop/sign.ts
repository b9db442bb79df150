/**
 * Creating DPoP proofs (the client side): one prepared signer per key, one proof per request.
 *
 * @see RFC 9449 §4.1, §4.2
 */
import { createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import {
  type AsymmetricAlg,
  createHeaderSigner,
  isAsymmetricAlg,
  keyMismatch,
} from '../jws/index.js';
import { normalizeHtu } from './htu.js';
import { jwkThumbprint } from './jkt.js';
import { accessTokenHash, dpopProofTyp } from './proof.js';

/** What one proof is for. */
export interface DpopProofRequest {
  /** The request method (`htm`). */
  readonly method: string;
  /** The request URI; query and fragment are dropped for `htu`. */
  readonly url: string | URL;
  /** `iat`, seconds; default now. */
  readonly nowSeconds?: number;
  /** The server's nonce, when it asked for one. */
  readonly nonce?: string | undefined;
  /** The access token sent with the request (at a resource): adds `ath`. */
  readonly accessToken?: string | undefined;
  /** `jti`; default a random UUID. */
  readonly jti?: string;
}

/** Signs DPoP proofs with one key. */
export class DpopSigner {
  /** RFC 7638 thumbprint of the public key: what tokens bound to it carry as `cnf.jkt`. */
  readonly jkt: string;
  readonly alg: AsymmetricAlg;
  readonly publicJwk: Readonly<Record<string, string>>;
  readonly #sign: (payload: Record<string, unknown>) => string;

  /**
   * @param privateKey the client's DPoP private key (never a key it uses for anything else)
   * @param alg default: ES256 for P-256, ES384/ES512 for the larger curves, EdDSA for OKP, PS256 for RSA
   */
  constructor(privateKey: KeyObject, alg?: string) {
    if (privateKey.type !== 'private') throw new TypeError('DpopSigner needs a private key');
    const chosen = alg ?? defaultAlgFor(privateKey);
    if (!isAsymmetricAlg(chosen))
      throw new TypeError(`DpopSigner: ${chosen} is not an asymmetric JWS algorithm`);
    const mismatch = keyMismatch(privateKey, chosen);
    if (mismatch !== undefined) throw new TypeError(`DpopSigner: ${mismatch}`);
    const exported = createPublicKey(privateKey).export({ format: 'jwk' }) as Record<
      string,
      string
    >;
    const members =
      exported.kty === 'RSA'
        ? ['kty', 'n', 'e']
        : exported.kty === 'EC'
          ? ['kty', 'crv', 'x', 'y']
          : ['kty', 'crv', 'x'];
    const publicJwk = Object.fromEntries(
      members.map((member) => [member, exported[member] as string]),
    );
    const jkt = jwkThumbprint(publicJwk);
    if (jkt === undefined) throw new TypeError('DpopSigner: unsupported key type');
    this.jkt = jkt;
    this.alg = chosen;
    this.publicJwk = Object.freeze(publicJwk);
    this.#sign = createHeaderSigner(privateKey, chosen, { typ: dpopProofTyp, jwk: publicJwk });
  }

  /** One proof for one request. @see RFC 9449 §4.2 */
  proof(request: DpopProofRequest): string {
    const htu = normalizeHtu(request.url.toString());
    if (htu === undefined)
      throw new TypeError('DpopSigner: the URL must be an absolute http(s) URL');
    const claims: Record<string, unknown> = {
      jti: request.jti ?? randomUUID(),
      htm: request.method,
      htu,
      iat: request.nowSeconds ?? Math.floor(Date.now() / 1000),
    };
    if (request.nonce !== undefined) claims.nonce = request.nonce;
    if (request.accessToken !== undefined) claims.ath = accessTokenHash(request.accessToken);
    return this.#sign(claims);
  }
}

function defaultAlgFor(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return (
        { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[
          key.asymmetricKeyDetails?.namedCurve ?? ''
        ] ?? 'ES256'
      );
    case 'ed25519':
    case 'ed448':
      return 'EdDSA';
    default:
      return 'PS256';
  }
}
