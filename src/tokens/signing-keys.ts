/**
 * The server's signing keys: a private JWKS file with one active key. Every key in the file is
 * published at `jwks_uri`; only the active one signs. Rotation is add (published, not active),
 * activate, retire (still published so its tokens verify), remove.
 *
 * File shape: `{"active_kid": "<kid>", "keys": [<private JWK with kid and alg>]}`, mode 0600.
 *
 * @see RFC 7517, RFC 7638, RFC 9068 §4
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { AccessTokenAlg } from '../config/index.js';
import {
  type AsymmetricAlg,
  createJwsSigner,
  isAsymmetricAlg,
  type JwsSigner,
  keyMismatch,
} from '../jws/index.js';
import { generateKeyPairFor } from '../jws/keygen.js';

/** A signing key file could not be used; the message says which key and why. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

export interface SigningKeySet {
  /** Signs access tokens (`typ: at+jwt`) with the active key. */
  readonly signer: JwsSigner;
  /** The public JWK Set, every key in the file. */
  readonly publicJwks: { readonly keys: readonly JWK[] };
  /** Public keys by kid (verification of our own tokens, for introspection). */
  readonly publicKeys: ReadonlyMap<
    string,
    { readonly alg: AsymmetricAlg; readonly key: KeyObject }
  >;
  /** The rotation bookkeeping a reload is checked with (see `key-reload.ts`). */
  readonly rotation: KeyFileRotation;
}

/** What the key file records about rotation, as far as a reload needs it. */
export interface KeyFileRotation {
  /** When each retired key was retired, epoch ms (`retired_at`; unreadable times left out). */
  readonly retiredAtMs: ReadonlyMap<string, number>;
  /** Kids the operator forced a change of (`forced_kids`, written by `keys remove --force`). */
  readonly forcedKids: ReadonlySet<string>;
}

/** The on-disk private JWKS. */
export interface SigningKeyFile {
  active_kid: string;
  keys: JWK[];
}

/**
 * Reads and checks a signing key file; the active key's `alg` must be `expectedAlg`.
 *
 * @throws SigningKeyError
 */
export function loadSigningKeys(file: string, expectedAlg: AccessTokenAlg): SigningKeySet {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new SigningKeyError(`${file}: cannot read a JSON key file (${(error as Error).message})`);
  }
  return prepareSigningKeys(document, expectedAlg, file);
}

/** Validates a private JWKS document and prepares the signer and the public JWKS. */
export function prepareSigningKeys(
  document: unknown,
  expectedAlg: AccessTokenAlg,
  where = 'signing keys',
): SigningKeySet {
  const fail = (message: string) => new SigningKeyError(`${where}: ${message}`);
  if (typeof document !== 'object' || document === null)
    throw fail('must be {"active_kid": ..., "keys": [...]}');
  const { active_kid: activeKid, keys } = document as { active_kid?: unknown; keys?: unknown };
  if (typeof activeKid !== 'string') throw fail('active_kid must name the signing key');
  if (!Array.isArray(keys) || keys.length === 0) throw fail('keys must be a non-empty array');

  const publicKeys = new Map<string, { alg: AsymmetricAlg; key: KeyObject }>();
  const publicJwks: JWK[] = [];
  let signer: JwsSigner | undefined;
  keys.forEach((jwk: unknown, index) => {
    const at = `keys[${index}]`;
    if (typeof jwk !== 'object' || jwk === null) throw fail(`${at} must be a JWK`);
    const { kid, alg, d } = jwk as JWK;
    if (typeof kid !== 'string' || kid === '') throw fail(`${at} needs a kid`);
    if (publicKeys.has(kid)) throw fail(`${at}: duplicate kid ${kid}`);
    if (!isAsymmetricAlg(alg))
      throw fail(`${at} (${kid}): alg ${JSON.stringify(alg)} is not supported`);
    if (typeof d !== 'string') throw fail(`${at} (${kid}): private key material (d) is missing`);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: jwk as JWK & { kty: string }, format: 'jwk' });
    } catch {
      throw fail(`${at} (${kid}): not a valid private JWK`);
    }
    const mismatch = keyMismatch(privateKey, alg);
    if (mismatch !== undefined) throw fail(`${at} (${kid}): ${mismatch}`);
    const publicKey = createPublicKey(privateKey);
    publicKeys.set(kid, { alg, key: publicKey });
    publicJwks.push({ ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' });
    if (kid === activeKid) {
      if (alg !== expectedAlg) {
        throw fail(`the active key ${kid} is ${alg}, but accessToken.signingAlg is ${expectedAlg}`);
      }
      signer = createJwsSigner(privateKey, alg, { kid, typ: 'at+jwt' });
    }
  });
  if (signer === undefined) throw fail(`active_kid ${activeKid} is not among the keys`);
  return {
    signer,
    publicJwks: { keys: publicJwks },
    publicKeys,
    rotation: rotationOf(document as Record<string, unknown>, fail),
  };
}

/**
 * Reads `retired_at` (informational: an unreadable time is left out, never read as "long ago")
 * and `forced_kids` (an override, so it must be exactly a record of kid to ISO time).
 */
function rotationOf(
  document: Record<string, unknown>,
  fail: (message: string) => SigningKeyError,
): KeyFileRotation {
  const retiredAtMs = new Map<string, number>();
  const retired = document.retired_at;
  if (typeof retired === 'object' && retired !== null && !Array.isArray(retired)) {
    for (const [kid, at] of Object.entries(retired)) {
      const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
      if (!Number.isNaN(ms)) retiredAtMs.set(kid, ms);
    }
  }
  const forcedKids = new Set<string>();
  const forced = document.forced_kids;
  if (forced !== undefined) {
    if (typeof forced !== 'object' || forced === null || Array.isArray(forced)) {
      throw fail('forced_kids must be {"<kid>": "<ISO 8601 time>"}');
    }
    for (const [kid, at] of Object.entries(forced)) {
      if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) {
        throw fail(`forced_kids.${kid} must be an ISO 8601 time`);
      }
      forcedKids.add(kid);
    }
  }
  return { retiredAtMs, forcedKids };
}

/** Generates a private signing JWK for `alg`, with `kid` = RFC 7638 thumbprint. */
export async function generateSigningJwk(alg: AccessTokenAlg): Promise<JWK> {
  const { privateKey } = generateKeyPairFor(alg);
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg, use: 'sig' };
}

/** Writes a private JWKS atomically with mode 0600 (the folder 0700 if created). */
export function writeSigningKeyFile(file: string, content: SigningKeyFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}

/**
 * Creates a signing key file with one fresh active key when none exists (dev defaults only).
 * Returns true when it created one.
 */
export async function ensureSigningKeyFile(file: string, alg: AccessTokenAlg): Promise<boolean> {
  if (existsSync(file)) return false;
  const jwk = await generateSigningJwk(alg);
  writeSigningKeyFile(file, { active_kid: jwk.kid as string, keys: [jwk] });
  return true;
}
