/**
 * DPoP proofs for tests, made with jose and node:crypto rather than src/dpop, so the suites check
 * Tollgate against an independent reading of RFC 9449 §4.2; plus a logger that captures the audit
 * lines of a test server, to read each refusal's internal reason.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomUUID,
  sign,
} from 'node:crypto';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { calculateJwkThumbprint, exportJWK, importJWK, type JWK, SignJWT } from 'jose';
import { pino } from 'pino';
import { inject } from 'vitest';
import type { AsymmetricAlg } from '../../src/jws/index.js';
import { generateKeyPairFor } from '../../src/jws/keygen.js';

let captures = 0;

export interface ProofKey {
  readonly alg: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
  /** RFC 7638 thumbprint, computed by jose. */
  readonly jkt: string;
}

export async function makeProofKey(alg = 'ES256'): Promise<ProofKey> {
  // Not jose's generateKeyPair: see src/jws/keygen.ts (a Node 20 deadlock on JWK export).
  const pair = generateKeyPairFor(alg as AsymmetricAlg);
  const { kty, crv, x, y, n, e } = await exportJWK(pair.publicKey);
  const publicJwk = Object.fromEntries(
    Object.entries({ kty, crv, x, y, n, e }).filter(([, value]) => value !== undefined),
  ) as JWK;
  return {
    alg,
    privateJwk: await exportJWK(pair.privateKey),
    publicJwk,
    jkt: await calculateJwkThumbprint(publicJwk, 'sha256'),
  };
}

export interface ProofSpec {
  readonly htm?: string;
  readonly htu: string;
  /** Header members to set or, with undefined, to drop. */
  readonly header?: Record<string, unknown>;
  /** Claims to set or, with undefined, to drop. */
  readonly claims?: Record<string, unknown>;
  /** The access token, for `ath`. */
  readonly accessToken?: string;
  readonly nonce?: string;
  /** Sign with this key instead of the proof key (the jwk header still names the proof key). */
  readonly signWith?: JWK;
}

/** A DPoP proof signed by jose: typ dpop+jwt, the public jwk, fresh jti, iat now. */
export async function makeProof(key: ProofKey, spec: ProofSpec): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    htm: spec.htm ?? 'POST',
    htu: spec.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(spec.accessToken === undefined ? {} : { ath: athOf(spec.accessToken) }),
    ...(spec.nonce === undefined ? {} : { nonce: spec.nonce }),
    ...spec.claims,
  };
  const header: Record<string, unknown> = {
    alg: key.alg,
    typ: 'dpop+jwt',
    jwk: key.publicJwk,
    ...spec.header,
  };
  return new SignJWT(dropUndefined(claims))
    .setProtectedHeader(dropUndefined(header) as { alg: string })
    .sign(await importJWK(spec.signWith ?? key.privateJwk, key.alg));
}

/**
 * A proof signed with node:crypto directly, for keys jose refuses to sign with (RSA below 2048
 * bits, secp256k1): the proofs a careless or hostile client can still send. `jwk` overrides the
 * public key the header names (a crafted key the signer does not hold).
 */
export function rawProof(
  privateKey: KeyObject,
  alg: 'PS256' | 'RS256' | 'ES256',
  spec: ProofSpec & { readonly jwk?: Record<string, unknown> },
): string {
  const jwk = spec.jwk ?? createPublicKey(privateKey).export({ format: 'jwk' });
  const header = { typ: 'dpop+jwt', alg, jwk };
  const claims = dropUndefined({
    jti: randomUUID(),
    htm: spec.htm ?? 'POST',
    htu: spec.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(spec.accessToken === undefined ? {} : { ath: athOf(spec.accessToken) }),
    ...spec.claims,
  });
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key: privateKey,
    ...(alg === 'ES256' ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    ...(alg === 'PS256'
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : {}),
  });
  return `${input}.${signature.toString('base64url')}`;
}

/** A compact JWS over exactly the given header and claims, ES256-signed with a raw key (alg none, HS256 tests use their own). */
export function rawEs256(header: unknown, claims: unknown, key: KeyObject): string {
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export const b64 = (value: unknown): string =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

export const keyObject = (jwk: JWK): KeyObject =>
  createPrivateKey({ key: jwk as never, format: 'jwk' });

/** RFC 9449 §4.2 `ath`, computed here with node:crypto. */
export function athOf(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

function dropUndefined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

/**
 * A logger whose lines are kept in memory, to read the audit line (and reason) of a refusal, and
 * also written to the suite's log folder, where every line is searched for secrets.
 */
export function capturingLogger(): { logger: FastifyBaseLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dir = inject('tollgateLogDir');
  const file =
    dir === undefined
      ? undefined
      : pino.destination({ dest: join(dir, `${process.pid}-dpop-${++captures}.log`), sync: true });
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
        file?.write(line);
      },
    },
  );
  return { logger: logger as unknown as FastifyBaseLogger, lines };
}

/** The reason of the last token audit line. */
export function lastReason(lines: readonly Record<string, unknown>[]): unknown {
  return lines.filter((line) => line.audit === 'token').at(-1)?.reason;
}
