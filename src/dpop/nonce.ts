/**
 * Server-provided DPoP nonces without shared state: a nonce is an HMAC of the current time window
 * under a secret, so every instance configured with the same secret issues and accepts the same
 * nonces (no Redis round trip, nothing to store, nothing for a stranger to fill). A nonce is
 * accepted during its own window and the next one, so a client always has at least one full
 * window to use it; it rotates by itself.
 *
 * Nonces limit how long a proof made in advance stays usable (RFC 9449 §11.2: a client that
 * leaks pre-generated proofs); they do not replace `jti` replay checks.
 *
 * @see RFC 9449 §8 (authorization server), §9 (resource server), §11.2
 */
import { createHmac, randomBytes } from 'node:crypto';
import { type NonceVerdict, sameString } from './proof.js';

/** The smallest secret accepted: 32 bytes, as for an HMAC-SHA256 key. */
export const minNonceSecretBytes = 32;

export interface DpopNonceOptions {
  /** Shared secret of every instance that must accept each other's nonces; random when absent (one instance). */
  readonly secret?: Buffer | undefined;
  /** Length of one window, seconds: a nonce lives one to two windows. */
  readonly windowSeconds: number;
  /** Separates the nonces of different services sharing a secret (e.g. `token`, an API's name). */
  readonly purpose: string;
}

/** Issues and checks rotating DPoP nonces. @see RFC 9449 §8 */
export class DpopNonces {
  readonly #secret: Buffer;
  readonly #windowMs: number;
  readonly #purpose: string;
  #cached: { window: number; value: string } | undefined;
  #previous: { window: number; value: string } | undefined;

  constructor(options: DpopNonceOptions) {
    const secret = options.secret ?? randomBytes(32);
    if (secret.length < minNonceSecretBytes) {
      throw new TypeError(`DpopNonces: the secret must have at least ${minNonceSecretBytes} bytes`);
    }
    if (!Number.isInteger(options.windowSeconds) || options.windowSeconds < 1) {
      throw new TypeError('DpopNonces: windowSeconds must be a positive integer');
    }
    this.#secret = secret;
    this.#windowMs = options.windowSeconds * 1000;
    this.#purpose = options.purpose;
  }

  /** The nonce to hand out now (the `DPoP-Nonce` header). */
  current(nowMs: number): string {
    return this.#forWindow(Math.floor(nowMs / this.#windowMs));
  }

  /** Whether a proof's `nonce` is current (this window or the one before). */
  check(nonce: string | undefined, nowMs: number): NonceVerdict {
    if (nonce === undefined) return 'missing';
    const window = Math.floor(nowMs / this.#windowMs);
    return sameString(nonce, this.#forWindow(window)) ||
      sameString(nonce, this.#forWindow(window - 1))
      ? 'ok'
      : 'invalid';
  }

  #forWindow(window: number): string {
    // Two windows are asked for again and again (current and previous): keep both computed.
    if (this.#cached?.window === window) return this.#cached.value;
    if (this.#previous?.window === window) return this.#previous.value;
    const value = createHmac('sha256', this.#secret)
      .update(`tollgate-dpop-nonce\0${this.#purpose}\0${window}`)
      .digest('base64url');
    if (this.#cached === undefined || window > this.#cached.window) {
      this.#previous = this.#cached;
      this.#cached = { window, value };
    } else {
      this.#previous = { window, value };
    }
    return value;
  }
}
