import { type AsymmetricAlg, isAsymmetricAlg } from '../jws/index.js';
import type { RegisteredClient } from '../registry/index.js';
import type { ReplayStore } from '../replay/index.js';
import {
  jwtSvidAlgs,
  parseSpiffeId,
  spiffeIdMatches,
  type WorkloadTrust,
} from '../workload/index.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';
import {
  candidateKeys,
  checkJtiPolicy,
  checkReplayRecordCovers,
  checkSoleAudience,
  checkTokenTimes,
  decodeAssertion,
  fail,
  spendJti,
  usableBundle,
  verifyWith,
} from './workload-claims.js';

/** @see draft-ietf-oauth-spiffe-client-auth §3.1 */
export const jwtSpiffeAssertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';

/** JWT-SVID §2: the only header parameters a JWT-SVID may carry. */
const allowedHeaderParameters = new Set(['alg', 'kid', 'typ']);
/** JWT-SVID §2.3: `typ`, when present, is `JWT` or `JOSE`. */
const allowedTyps = new Set(['JWT', 'JOSE']);
const what = 'the JWT-SVID';

export interface JwtSvidOptions {
  /** The issuer identifier: the JWT-SVID's only accepted `aud`. */
  readonly issuer: string;
  readonly trust: () => WorkloadTrust;
  readonly maxAssertionBytes: number;
  readonly replayStore: ReplayStore;
}

export class JwtSvidAuthenticator implements ClientAuthenticator {
  readonly method = 'spiffe_jwt' as const;
  readonly #options: JwtSvidOptions;

  constructor(options: JwtSvidOptions) {
    this.#options = options;
  }

  async authenticate(
    request: ClientAuthRequest,
    client: RegisteredClient,
  ): Promise<AuthenticatedClient> {
    const jws = decodeAssertion(
      request.params.get('client_assertion'),
      this.#options.maxAssertionBytes,
    );
    const alg = checkJwtSvidHeader(jws.header);
    const sub = parseSpiffeId(jws.payload.sub);
    if (typeof sub === 'string') {
      throw fail('spiffe_id_invalid', `the JWT-SVID sub is not a SPIFFE ID: ${sub}`);
    }
    const source = this.#options.trust().spiffe(sub.trustDomain);
    if (source === undefined) {
      throw fail(
        'spiffe_trust_domain_unknown',
        `trust domain ${sub.trustDomain} is not configured on this server`,
      );
    }
    if (!source.policy.algorithms.includes(alg)) {
      throw fail(
        'assertion_alg_not_allowed',
        `the JWT-SVID alg must be one of ${source.policy.algorithms.join(', ')} for ${sub.trustDomain}`,
      );
    }
    const identity = client.workloadIdentity;
    if (identity?.kind !== 'spiffe' || !spiffeIdMatches(identity.pattern, sub)) {
      throw fail(
        'workload_identity_mismatch',
        "the JWT-SVID's SPIFFE ID is not registered for this client_id",
      );
    }
    checkSoleAudience(jws.payload.aud, this.#options.issuer, what);
    const nowSeconds = request.nowMs / 1000;
    const times = checkTokenTimes(jws.payload, source.policy, nowSeconds, what);

    const bundle = await usableBundle(source);
    const kid = jws.header.kid as string | undefined;
    let candidates = candidateKeys(bundle.jwtKeys, alg, kid);
    if (candidates.length === 0 && kid !== undefined) {
      // A kid the bundle lacks may be a key added since the last poll: one rate-limited refetch.
      const fresh = await source.refreshForUnknownKid();
      if (fresh !== undefined && !fresh.empty) candidates = candidateKeys(fresh.jwtKeys, alg, kid);
    }
    verifyWith(jws, alg, candidates, kid, what);

    const decision = checkJtiPolicy(jws.payload, source.policy, what);
    checkReplayRecordCovers(decision, times, this.#options.replayStore, what);
    // The token is verified: the caller's checks that need an authenticated client (a DPoP proof)
    // run before its jti is spent, so a request refused for them can be sent again with the same
    // token (RFC 9449 §5).
    await request.beforeSideEffects?.(client);
    await spendJti(decision, times, this.#options.replayStore, client.clientId, what);
    return {
      client,
      method: this.method,
      ...(decision.jti === undefined ? {} : { jti: decision.jti }),
      workload: { source: source.name, identity: sub.value },
    };
  }
}

/**
 * JWT-SVID header rules: `alg` one of RS/ES/PS 256-512, `typ` absent, `JWT` or `JOSE`, `kid` a
 * string, and no other parameter (so no `jku`, `x5u`, `jwk`, `x5c` or `crit`).
 *
 * @see SPIFFE JWT-SVID §2
 */
export function checkJwtSvidHeader(header: Record<string, unknown>): AsymmetricAlg {
  const extra = Object.keys(header).filter((name) => !allowedHeaderParameters.has(name));
  if (extra.length > 0) {
    throw fail(
      'assertion_header_forbidden',
      `a JWT-SVID header carries only alg, kid and typ (found ${extra.slice(0, 3).join(', ')})`,
    );
  }
  const { alg, typ, kid } = header;
  if (!isAsymmetricAlg(alg) || !(jwtSvidAlgs as readonly string[]).includes(alg)) {
    throw fail('assertion_alg_not_allowed', `a JWT-SVID alg is one of ${jwtSvidAlgs.join(', ')}`);
  }
  if (typ !== undefined && (typeof typ !== 'string' || !allowedTyps.has(typ))) {
    throw fail('assertion_typ_invalid', 'a JWT-SVID typ is JWT or JOSE');
  }
  if (kid !== undefined && typeof kid !== 'string') {
    throw fail('assertion_malformed', 'the JWT-SVID kid must be a string');
  }
  return alg;
}
