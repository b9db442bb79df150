/** Builds client assertions for tests, including deliberately malformed or hostile ones. */
import { randomUUID } from 'node:crypto';
import { importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';

export interface AssertionSpec {
  /** Header members to set (or, with undefined, to drop: `{ typ: undefined }`). */
  header?: Record<string, unknown>;
  /** Claims to set or, with undefined, to drop. */
  claims?: Record<string, unknown>;
  alg?: string;
  nowSeconds?: number;
}

/** Signs an assertion with `privateJwk`: iss = sub = clientId, aud = audience, exp 60 s, fresh jti. */
export async function signAssertion(
  privateJwk: JWK,
  clientId: string,
  audience: string,
  spec: AssertionSpec = {},
): Promise<string> {
  const alg = spec.alg ?? (privateJwk.alg as string);
  const now = spec.nowSeconds ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: clientId,
    sub: clientId,
    aud: audience,
    iat: now,
    exp: now + 60,
    jti: randomUUID(),
    ...spec.claims,
  };
  const header: Record<string, unknown> = {
    alg,
    kid: privateJwk.kid,
    typ: 'client-authentication+jwt',
    ...spec.header,
  };
  return new SignJWT(dropUndefined(claims) as JWTPayload)
    .setProtectedHeader(dropUndefined(header) as { alg: string })
    .sign(await importJWK(privateJwk, alg));
}

/** A JWS with arbitrary header and payload and a caller-made signature (alg none, HS256, ...). */
export function rawJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signature: Buffer | string,
): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const sig = typeof signature === 'string' ? signature : signature.toString('base64url');
  return `${encode(header)}.${encode(payload)}.${sig}`;
}

export function standardClaims(
  clientId: string,
  audience: string,
  nowSeconds = Math.floor(Date.now() / 1000),
) {
  return {
    iss: clientId,
    sub: clientId,
    aud: audience,
    iat: nowSeconds,
    exp: nowSeconds + 60,
    jti: randomUUID(),
  };
}

function dropUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}
