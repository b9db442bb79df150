/**
 * Development workload identity: a SPIFFE trust domain's JWT-SVID signing key and JWT-SVIDs
 * minted with it, and a Kubernetes-shaped service-account token issuer (discovery document,
 * JWKS, projected tokens). Tests stand these up behind their own https servers; nothing here
 * talks to SPIRE or Kubernetes. X.509-SVIDs and the bundle's X.509 authorities come from the
 * dev CA itself (`issueClient` with a `spiffe://` URI SAN).
 *
 * @see SPIFFE JWT-SVID §2-§3, SPIFFE Trust Domain and Bundle §4,
 *   Kubernetes ServiceAccount token projection, OpenID Connect Discovery 1.0 §3
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import { createJwsSigner } from '../jws/index.js';
import { generateSigningJwk, type SigningJwk, type SigningJwkAlg } from './keys.js';
import { jwtSvidEntry } from './spiffe.js';

/** The JWK of a JWT-SVID signing key as a SPIFFE bundle carries it (`use: jwt-svid`, no `alg`). */
export function jwtSvidBundleKey(key: SigningJwk): JWK {
  return jwtSvidEntry(key.publicJwk);
}

export interface JwtSvidIssuer {
  readonly trustDomain: string;
  readonly key: SigningJwk;
  /**
   * A JWT-SVID for `spiffe://<trustDomain><path>` with `aud` (Tollgate's issuer), `iat` and
   * `exp` (default 300 s, SPIRE's default TTL). @see JWT-SVID §3
   */
  mint(options: {
    readonly path: string;
    readonly audience: string | readonly string[];
    readonly nowSeconds?: number;
    readonly ttlSeconds?: number;
  }): string;
}

/** A trust domain's JWT-SVID key (ES256 by default: JWT-SVID §2.1 allows RS/ES/PS only). */
export async function createJwtSvidIssuer(
  trustDomain: string,
  alg: Extract<SigningJwkAlg, `ES${string}` | `RS${string}` | `PS${string}`> = 'ES256',
): Promise<JwtSvidIssuer> {
  const key = await generateSigningJwk(alg);
  const signer = createJwsSigner(privateKeyOf(key), alg, { kid: key.kid, typ: 'JWT' });
  return {
    trustDomain,
    key,
    mint(options) {
      const now = Math.floor(options.nowSeconds ?? Date.now() / 1000);
      return signer.sign({
        sub: `spiffe://${trustDomain}${options.path}`,
        aud: options.audience,
        iat: now,
        exp: now + (options.ttlSeconds ?? 300),
      });
    },
  };
}

export interface ServiceAccountIssuer {
  /** The exact issuer URL (what `oidc-issuer` sources configure). */
  readonly issuer: string;
  readonly key: SigningJwk;
  /** `<issuer>/.well-known/openid-configuration`, naming `jwksUri`. */
  discovery(jwksUri: string): Record<string, unknown>;
  /** The public JWKS (`/openid/v1/jwks` on a real API server). */
  jwks(): { keys: JWK[] };
  /** A projected service-account token, shaped like the kubelet's. */
  mint(options: {
    readonly namespace: string;
    readonly serviceAccount: string;
    /** The projection's `audience`: Tollgate's issuer. */
    readonly audience: string | readonly string[];
    readonly serviceAccountUid?: string;
    readonly nowSeconds?: number;
    /** `expirationSeconds` of the projection; default 3600. */
    readonly lifetimeSeconds?: number;
  }): string;
}

/** A Kubernetes-shaped service-account token issuer with an RS256 key (the API server default). */
export async function createServiceAccountIssuer(issuer: string): Promise<ServiceAccountIssuer> {
  const key = await generateSigningJwk('RS256');
  const signer = createJwsSigner(privateKeyOf(key), 'RS256', { kid: key.kid, typ: 'JWT' });
  return {
    issuer,
    key,
    discovery: (jwksUri) => ({
      issuer,
      jwks_uri: jwksUri,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    }),
    jwks: () => ({ keys: [key.publicJwk] }),
    mint(options) {
      const now = Math.floor(options.nowSeconds ?? Date.now() / 1000);
      return signer.sign({
        iss: issuer,
        sub: `system:serviceaccount:${options.namespace}:${options.serviceAccount}`,
        aud: options.audience,
        iat: now,
        nbf: now,
        exp: now + (options.lifetimeSeconds ?? 3600),
        jti: randomUUID(),
        'kubernetes.io': {
          namespace: options.namespace,
          serviceaccount: {
            name: options.serviceAccount,
            uid: options.serviceAccountUid ?? randomUUID(),
          },
        },
      });
    },
  };
}

function privateKeyOf(key: SigningJwk) {
  return createPrivateKey({
    key: key.privateJwk as Record<string, unknown>,
    format: 'jwk',
  } as Parameters<typeof createPrivateKey>[0]);
}
