/**
 * The DPoP part of the token endpoint: checks the proof of a token request for an authenticated
 * client and spends its `jti`, or says why not in RFC 9449 terms (`invalid_dpop_proof`, or
 * `use_dpop_nonce` with a fresh `DPoP-Nonce`).
 *
 * Proof `jti`s go to the same replay store as assertion `jti`s, keyed by the client (so they count
 * against that client's share of the store), under a `dpop:` prefix that keeps the two apart.
 *
 * @see RFC 9449 §4.3, §5, §8, §11.1
 */
import { claimOnce } from '../client-auth/index.js';
import {
  type DpopNonces,
  DpopProofError,
  type VerifiedDpopProof,
  verifyDpopProof,
} from '../dpop/index.js';
import { OAuthError } from '../errors/index.js';
import type { KeyPolicy } from '../pki/index.js';
import type { RegisteredClient } from '../registry/index.js';
import type { ReplayStore } from '../replay/index.js';

export interface TokenDpopOptions {
  /** Accepted proof algorithms (`dpop_signing_alg_values_supported`). */
  readonly allowedAlgs: readonly string[];
  readonly maxAgeSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly maxProofBytes: number;
  /** The server's key policy (`keyPolicy`): proof keys pass the same one as client keys. */
  readonly keyPolicy: KeyPolicy;
  /** Server nonces, when required. */
  readonly nonces: DpopNonces | undefined;
  readonly replayStore: ReplayStore;
}

/** What the token endpoint knows of the proof of one request. */
export interface DpopRequestContext {
  /** Every `DPoP` header value of the request. */
  readonly proofs: readonly string[];
  /** The token endpoint URL this request was sent to (the listener's public URL). */
  readonly uri: string;
  readonly nowMs: number;
}

export class TokenDpop {
  readonly #options: TokenDpopOptions;

  constructor(options: TokenDpopOptions) {
    this.#options = options;
  }

  get allowedAlgs(): readonly string[] {
    return this.#options.allowedAlgs;
  }

  /** The nonce to announce in `DPoP-Nonce`, when nonces are required. */
  currentNonce(nowMs: number): string | undefined {
    return this.#options.nonces?.current(nowMs);
  }

  /**
   * The verified proof of a request from an authenticated client, its `jti` spent; undefined when
   * the request has none and the client does not require DPoP.
   *
   * @throws OAuthError `invalid_dpop_proof`, `use_dpop_nonce`, or `temporarily_unavailable` when
   *   the replay store cannot decide
   */
  async proofFor(
    request: DpopRequestContext,
    client: RegisteredClient,
  ): Promise<VerifiedDpopProof | undefined> {
    if (request.proofs.length === 0) {
      if (!client.dpopBound) return undefined;
      throw new OAuthError(
        'invalid_dpop_proof',
        'dpop_proof_missing',
        'this client is registered with dpop_bound_access_tokens: send a DPoP proof',
      );
    }
    const { nonces } = this.#options;
    let proof: VerifiedDpopProof;
    try {
      proof = verifyDpopProof(request.proofs, {
        method: 'POST',
        uri: request.uri,
        nowMs: request.nowMs,
        allowedAlgs: this.#options.allowedAlgs,
        maxAgeSeconds: this.#options.maxAgeSeconds,
        clockToleranceSeconds: this.#options.clockToleranceSeconds,
        maxProofBytes: this.#options.maxProofBytes,
        keyPolicy: this.#options.keyPolicy,
        nonce: nonces === undefined ? undefined : (nonce, nowMs) => nonces.check(nonce, nowMs),
      });
    } catch (error) {
      if (!(error instanceof DpopProofError)) throw error;
      throw this.#refusal(error, request.nowMs);
    }
    // Side effect last: every stateless check passed, so this jti is spent exactly once.
    const claimed = await claimOnce(
      this.#options.replayStore,
      client.clientId,
      `dpop:${proof.jti}`,
      proof.replayUntilMs,
    );
    if (!claimed) {
      throw this.#refusal(
        new DpopProofError(
          'dpop_replayed',
          'the DPoP proof was replayed: its jti has already been used',
        ),
        request.nowMs,
      );
    }
    return proof;
  }

  #refusal(error: DpopProofError, nowMs: number): OAuthError {
    const nonce = this.currentNonce(nowMs);
    return new OAuthError(
      error.wantsNonce ? 'use_dpop_nonce' : 'invalid_dpop_proof',
      error.reason,
      error.description,
      nonce === undefined ? { cause: error } : { cause: error, dpopNonce: nonce },
    );
  }
}
