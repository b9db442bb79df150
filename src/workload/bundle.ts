/**
 * SPIFFE bundles: a trust domain's keys as a JWK Set with `use: "x509-svid"` (X.509 authorities,
 * one CA certificate in `x5c`) and `use: "jwt-svid"` (JWT-SVID signing keys, `kid` required),
 * plus `spiffe_sequence` and `spiffe_refresh_hint`.
 *
 * Each use is kept apart: X.509 authorities become a TrustStore of their own (never merged with
 * another domain's or with the tls_client_auth anchors), JWT keys a list that only JWT-SVIDs of
 * this domain are checked against. A key of one use never verifies the other kind of SVID, and a
 * key without a SPIFFE `use` is ignored, so a generic `use: "sig"` key can never stand in.
 * Keys go through the registry's key policy (importClientJwks) and the TrustStore's CA checks.
 *
 * @see SPIFFE Trust Domain and Bundle §4, SPIFFE Federation §4, JWT-SVID §3, X509-SVID §4
 */

import { createPublicKey, X509Certificate } from 'node:crypto';
import { TrustStore, type TrustStoreOptions } from '../pki/index.js';
import { type ClientKey, importClientJwks, KeySetError } from '../registry/index.js';

/** A bundle as Tollgate uses it. */
export interface SpiffeBundle {
  readonly trustDomain: string;
  readonly sequence: number | undefined;
  readonly refreshHintSeconds: number | undefined;
  /** JWT-SVID keys, each with its `kid`. */
  readonly jwtKeys: readonly ClientKey[];
  /** The X.509 authorities, or undefined when the bundle has none. */
  readonly x509Authorities: TrustStore | undefined;
  /** The bundle has no key at all: every SVID of the domain is refused. */
  readonly empty: boolean;
  /** Entries skipped (unknown `use`, or a key that fails the key policy). */
  readonly ignoredKeys: number;
}

/** Most keys in one bundle (both uses together). */
export const maxBundleKeys = 64;

/** The bundle document is unusable as a whole (the previous bundle stays in force). */
export class BundleError extends Error {
  override readonly name = 'BundleError';
}

/**
 * Parses a SPIFFE bundle document for `trustDomain`.
 *
 * @throws BundleError for a malformed document, a bad sequence or refresh hint, duplicate `kid`s,
 *   or too many keys.
 */
export function parseSpiffeBundle(
  document: unknown,
  trustDomain: string,
  trustStoreOptions: TrustStoreOptions = {},
): SpiffeBundle {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new BundleError('a SPIFFE bundle is a JSON object');
  }
  const {
    keys,
    spiffe_sequence: sequence,
    spiffe_refresh_hint: refreshHint,
  } = document as Record<string, unknown>;
  if (!Array.isArray(keys)) throw new BundleError('a SPIFFE bundle has a "keys" array');
  if (keys.length > maxBundleKeys) throw new BundleError(`at most ${maxBundleKeys} keys`);
  if (sequence !== undefined && !isNonNegativeInteger(sequence)) {
    throw new BundleError('spiffe_sequence must be a non-negative integer');
  }
  if (refreshHint !== undefined && !isNonNegativeInteger(refreshHint)) {
    throw new BundleError('spiffe_refresh_hint must be a non-negative integer (seconds)');
  }

  const jwtKeys: ClientKey[] = [];
  const authorities: Buffer[] = [];
  let ignoredKeys = 0;
  const kids = new Set<string>();
  for (const entry of keys) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      ignoredKeys++;
      continue;
    }
    const jwk = entry as Record<string, unknown>;
    if (jwk.use === 'jwt-svid') {
      const key = importJwtSvidKey(jwk);
      if (key === undefined) {
        ignoredKeys++;
        continue;
      }
      if (kids.has(key.kid as string)) {
        throw new BundleError(`duplicate jwt-svid kid ${JSON.stringify(key.kid)}`);
      }
      kids.add(key.kid as string);
      jwtKeys.push(key);
    } else if (jwk.use === 'x509-svid') {
      const der = x509Authority(jwk, trustStoreOptions);
      if (der === undefined) ignoredKeys++;
      else authorities.push(der);
    } else {
      // Trust Domain and Bundle §4.2.2: elements of unknown use are ignored, never guessed at.
      ignoredKeys++;
    }
  }
  return {
    trustDomain,
    sequence: sequence as number | undefined,
    refreshHintSeconds: refreshHint as number | undefined,
    jwtKeys,
    x509Authorities:
      authorities.length === 0
        ? undefined
        : TrustStore.fromPem({ anchors: authorities }, trustStoreOptions),
    empty: jwtKeys.length === 0 && authorities.length === 0,
    ignoredKeys,
  };
}

/** JWT-SVID §3: `kid` required; the key passes the registry's key policy. */
function importJwtSvidKey(jwk: Record<string, unknown>): ClientKey | undefined {
  if (typeof jwk.kid !== 'string' || jwk.kid === '') return undefined;
  // `use` is SPIFFE's, which the generic importer does not know; x5c has no meaning here.
  const { use: _use, x5c: _x5c, ...rest } = jwk;
  try {
    const [key] = importClientJwks({ keys: [rest] });
    return key?.canVerify === true ? key : undefined;
  } catch (error) {
    if (error instanceof KeySetError) return undefined;
    throw error;
  }
}

/**
 * X509-SVID §4: one CA certificate in `x5c`; it must pass the TrustStore's CA checks alone. The
 * entry is a JWK of a known `kty` (Trust Domain and Bundle §4.2.1) whose key members are the
 * certificate's key (RFC 7517 §4.7: they MUST match); an entry that says two things is ignored.
 */
function x509Authority(
  jwk: Record<string, unknown>,
  trustStoreOptions: TrustStoreOptions,
): Buffer | undefined {
  const { use: _use, x5c, ...members } = jwk;
  if (!Array.isArray(x5c) || x5c.length !== 1 || typeof x5c[0] !== 'string') return undefined;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(x5c[0])) return undefined;
  if (!knownKeyTypes.has(members.kty as string)) return undefined;
  const der = Buffer.from(x5c[0], 'base64');
  try {
    TrustStore.fromPem({ anchors: [der] }, trustStoreOptions);
    const stated = createPublicKey({ key: members as never, format: 'jwk' });
    if (!stated.equals(new X509Certificate(der).publicKey)) return undefined;
  } catch {
    return undefined;
  }
  return der;
}

/** RFC 7518 §6.1 and RFC 8037 §2: the key types a certificate's key can be written as. */
const knownKeyTypes: ReadonlySet<string> = new Set(['EC', 'RSA', 'OKP']);

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
