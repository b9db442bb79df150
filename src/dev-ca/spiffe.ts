/**
 * SPIFFE fixtures: SPIFFE IDs for X.509-SVIDs the dev CA issues (`client --spiffe-id`), and the
 * trust domain's bundle, a JWKS whose `x509-svid` entries carry the dev root (`ca/spiffe-bundle.json`).
 * The workload-identity code reads bundles like this one; the JWT-SVID fixtures add `jwt-svid`
 * entries to it.
 *
 * @see SPIFFE-ID §2 (format), X509-SVID §2-§4, SPIFFE Trust Domain and Bundle §4 (JWKS form)
 */
import { X509Certificate } from 'node:crypto';
import { exportJWK, type JWK } from 'jose';
import { parseSpiffeId as parseWorkloadSpiffeId } from '../workload/spiffe-id.js';
import { fromPem } from './x509.js';

/** A SPIFFE ID split into its parts. */
export interface SpiffeId {
  readonly id: string;
  readonly trustDomain: string;
  /** The path, starting with `/`. */
  readonly path: string;
}

/**
 * Parses a workload SPIFFE ID `spiffe://<trust-domain>/<path>` with the grammar the server
 * checks SVIDs with (src/workload), so the dev CA never issues an ID Tollgate would refuse; a
 * non-empty path, since X.509-SVID leaves identify workloads. Throws TypeError naming the fault.
 *
 * @see SPIFFE-ID §2
 */
export function parseSpiffeId(id: string): SpiffeId {
  const parsed = parseWorkloadSpiffeId(id);
  if (typeof parsed === 'string') {
    throw new TypeError(`not a SPIFFE ID (${parsed}): ${JSON.stringify(id.slice(0, 100))}`);
  }
  return { id, trustDomain: parsed.trustDomain, path: parsed.path };
}

/** Options for {@link spiffeBundle}. */
export interface SpiffeBundleOptions {
  /** `spiffe_sequence`, when the caller tracks one. */
  readonly sequence?: number;
  /** `jwt-svid` entries (with `kid`) to publish beside the X.509 authorities. */
  readonly jwtAuthorities?: readonly JWK[];
}

/** The SPIFFE bundle of a trust domain in its JWKS form. */
export interface SpiffeBundle {
  readonly keys: JWK[];
  readonly spiffe_refresh_hint: number;
  readonly spiffe_sequence?: number;
}

/**
 * A trust domain's bundle: one `use: "x509-svid"` JWK per CA certificate in `caPem` (each with
 * its certificate as the single `x5c` entry), then the given `jwt-svid` keys.
 *
 * @see SPIFFE Trust Domain and Bundle §4.1-§4.2
 */
export async function spiffeBundle(
  caPem: string,
  options: SpiffeBundleOptions = {},
): Promise<SpiffeBundle> {
  const x509Authorities = await Promise.all(
    fromPem('CERTIFICATE', caPem).map(async (der) => {
      const jwk = await exportJWK(new X509Certificate(der).publicKey);
      return { ...jwk, use: 'x509-svid', x5c: [der.toString('base64')] };
    }),
  );
  if (x509Authorities.length === 0) throw new TypeError('a SPIFFE bundle needs a CA certificate');
  return {
    keys: [...x509Authorities, ...(options.jwtAuthorities ?? []).map(jwtSvidEntry)],
    spiffe_refresh_hint: 300,
    ...(options.sequence === undefined ? {} : { spiffe_sequence: options.sequence }),
  };
}

/**
 * A `jwt-svid` bundle entry: the public JWK with `use: "jwt-svid"` and no `alg`.
 * @see SPIFFE Trust Domain and Bundle §4.2.2
 */
export function jwtSvidEntry(jwk: JWK): JWK {
  const { alg: _alg, use: _use, ...rest } = jwk;
  return { ...rest, use: 'jwt-svid' };
}
