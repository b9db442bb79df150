import { type AsymmetricAlg, isAsymmetricAlg } from '../jws/index.js';
import type { ClientKey, RegisteredClient } from '../registry/index.js';
import type { ReplayStore } from '../replay/index.js';
import type { WorkloadTrust } from '../workload/index.js';
import type { AuthenticatedClient, ClientAuthenticator, ClientAuthRequest } from './types.js';
import {
  candidateKeys,
  checkJtiPolicy,
  checkReplayRecordCovers,
  checkSoleAudience,
  checkTokenTimes,
  decodeAssertion,
  fail,
  sourceUnavailable,
  spendJti,
  verifyWith,
} from './workload-claims.js';

/** Header parameters that would name a key: never honoured, so refused outright. */
const keyHeaders = ['jku', 'jwk', 'x5u', 'x5c'];
const what = 'the workload token';

export interface FederatedJwtOptions {
  /** The issuer identifier: the only accepted `aud` (the projection's `audience`). */
  readonly issuer: string;
  readonly trust: () => WorkloadTrust;
  readonly maxAssertionBytes: number;
  readonly replayStore: ReplayStore;
}

export class FederatedJwtAuthenticator implements ClientAuthenticator {
  readonly method = 'federated_jwt' as const;
  readonly #options: FederatedJwtOptions;

  constructor(options: FederatedJwtOptions) {
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
    const { header, payload } = jws;
    if (header.crit !== undefined)
      throw fail('assertion_crit', 'the workload token must not carry crit');
    const named = keyHeaders.filter((name) => header[name] !== undefined);
    if (named.length > 0) {
      throw fail(
        'assertion_header_forbidden',
        `the workload token must not name keys (${named.join(', ')})`,
      );
    }
    const alg = header.alg;
    if (!isAsymmetricAlg(alg))
      throw fail('assertion_alg_not_allowed', 'the workload token alg is not accepted');
    const kid = header.kid;
    if (kid !== undefined && typeof kid !== 'string') {
      throw fail('assertion_malformed', 'the workload token kid must be a string');
    }

    // A token whose sub is a SPIFFE ID is a JWT-SVID (JWT-SVID §3.1), whoever signed it (SPIRE's
    // OIDC discovery provider publishes the same keys as an issuer): it authenticates only as
    // jwt-spiffe, under its trust domain's bundle and policy, never as a workload token.
    if (typeof payload.sub === 'string' && /^spiffe:\/\//i.test(payload.sub)) {
      throw fail(
        'assertion_profile_mismatch',
        'a JWT-SVID (its sub is a SPIFFE ID) authenticates only with client_assertion_type jwt-spiffe, for a spiffe_jwt client',
      );
    }
    // The token's iss only selects among configured issuers: nothing is fetched for an unknown one.
    const source =
      typeof payload.iss === 'string' ? this.#options.trust().issuer(payload.iss) : undefined;
    if (source === undefined) {
      throw fail(
        'workload_issuer_unknown',
        'the workload token issuer is not configured on this server',
      );
    }
    const identity = client.workloadIdentity;
    if (identity?.kind !== 'federated' || identity.source !== source.name) {
      throw fail(
        'workload_identity_mismatch',
        'this client is not registered for workloads of that issuer',
      );
    }
    if (!source.policy.algorithms.includes(alg)) {
      throw fail(
        'assertion_alg_not_allowed',
        `the workload token alg must be one of ${source.policy.algorithms.join(', ')}`,
      );
    }
    if (payload.sub !== identity.subject) {
      throw fail(
        'workload_identity_mismatch',
        'the workload token sub is not registered for this client_id',
      );
    }
    checkKubernetesClaims(payload, identity.namespace, identity.serviceAccountUid);
    checkSoleAudience(payload.aud, this.#options.issuer, what);
    const times = checkTokenTimes(payload, source.policy, request.nowMs / 1000, what);

    let keys: readonly ClientKey[];
    try {
      keys = await source.keys();
    } catch (error) {
      // keys() only throws WorkloadSourceUnavailable: fail closed, temporarily.
      throw sourceUnavailable(error);
    }
    let candidates = candidateKeys(keys, alg as AsymmetricAlg, kid);
    if (candidates.length === 0 && kid !== undefined) {
      const fresh = await source.refreshForUnknownKid();
      if (fresh !== undefined) candidates = candidateKeys(fresh, alg, kid);
    }
    verifyWith(jws, alg, candidates, kid, what);

    const decision = checkJtiPolicy(payload, source.policy, what);
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
      workload: { source: source.name, identity: identity.subject },
    };
  }
}

/**
 * Kubernetes narrowing: `kubernetes.io.namespace` and `kubernetes.io.serviceaccount.uid` must
 * equal the registered values when registered (a deleted and recreated account has a new uid).
 */
function checkKubernetesClaims(
  payload: Record<string, unknown>,
  namespace: string | undefined,
  uid: string | undefined,
): void {
  if (namespace === undefined && uid === undefined) return;
  const k8s = payload['kubernetes.io'];
  const claims = typeof k8s === 'object' && k8s !== null ? (k8s as Record<string, unknown>) : {};
  const account = claims.serviceaccount;
  const accountUid =
    typeof account === 'object' && account !== null
      ? (account as Record<string, unknown>).uid
      : undefined;
  if (namespace !== undefined && claims.namespace !== namespace) {
    throw fail(
      'workload_claim_mismatch',
      'the workload token is not from the registered namespace',
    );
  }
  if (uid !== undefined && accountUid !== uid) {
    throw fail(
      'workload_claim_mismatch',
      'the workload token is not from the registered service account (uid)',
    );
  }
}
