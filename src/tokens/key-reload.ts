/**
 * The server's own guard on a reloaded signing-key file. `tollgate keys` refuses unsafe rotation
 * steps, but the file can also be edited by hand or written by a secret manager, and a reload
 * used to apply it as written. Two edits break verifiers that find keys by `kid` (RFC 9068 §4,
 * RFC 7517 §4.5) and are refused here, keeping the old key set:
 *
 * - dropping a key whose tokens may still be valid: the key that is active now (it signed up to
 *   this moment, on every instance sharing the file); a key this process signed a token with
 *   whose `exp` is still ahead; a key retired (`retired_at`) less than the longest access-token
 *   lifetime ago;
 * - keeping a `kid` with other key material (or another `alg`): tokens signed under the old
 *   material stop verifying, and verifiers that cached the old key refuse the new tokens.
 *
 * A refusal that only waits for tokens to expire is tried again by itself once they have (the
 * caller reloads at `retryAtMs`); the others wait for the next change of the file.
 *
 * The operator overrides both for a kid by naming it in the file's `forced_kids`
 * (`tollgate keys remove --force` writes it): a compromised key must be withdrawable at once.
 *
 * Memory: one entry per kid this process signed with, pruned to the kids of the key set in force
 * on every key reload; kids come from the operator's file, never from a caller.
 *
 * @see RFC 9068 §4, RFC 7517 §4.5
 */
import type { JwsSigner } from '../jws/index.js';
import { SigningKeyError, type SigningKeySet } from './signing-keys.js';

/** A key file change refused by {@link checkKeyReload}. */
export class KeyReloadRefusedError extends SigningKeyError {
  /**
   * When every reason for the refusal will have passed (tokens expired), epoch ms; undefined when
   * waiting cannot make the change safe (the active key dropped, a kid reused).
   */
  readonly retryAtMs: number | undefined;

  constructor(message: string, retryAtMs: number | undefined) {
    super(message);
    this.retryAtMs = retryAtMs;
  }
}

/** Remembers, per kid, the latest `exp` of a token this process signed with it. */
export class KeyUse {
  readonly #validUntilMs = new Map<string, number>();

  /** Wraps `signer` so that every signature records its token's `exp`. */
  track(signer: JwsSigner): JwsSigner {
    return {
      alg: signer.alg,
      kid: signer.kid,
      sign: (payload) => {
        const exp = payload.exp;
        if (typeof exp === 'number' && Number.isFinite(exp)) {
          const until = exp * 1000;
          if (until > (this.#validUntilMs.get(signer.kid) ?? 0))
            this.#validUntilMs.set(signer.kid, until);
        }
        return signer.sign(payload);
      },
    };
  }

  /** The latest `exp` (epoch ms) of a token signed with `kid` here, if any. */
  validUntilMs(kid: string): number | undefined {
    return this.#validUntilMs.get(kid);
  }

  /** Forgets kids that are no longer in the key set. */
  retain(kids: ReadonlySet<string>): void {
    for (const kid of this.#validUntilMs.keys()) if (!kids.has(kid)) this.#validUntilMs.delete(kid);
  }
}

export interface KeyReloadCheckOptions {
  readonly nowMs: number;
  /** The longest access-token lifetime this server issues now, seconds. */
  readonly longestLifetimeSeconds: number;
  readonly use: KeyUse;
}

/**
 * Throws {@link KeyReloadRefusedError} naming every refused kid, why, and until when, when replacing
 * `previous` by `next` would drop a key whose tokens may be valid or reuse a kid with other key
 * material, unless the kid is in `next`'s `forced_kids`.
 */
export function checkKeyReload(
  previous: SigningKeySet,
  next: SigningKeySet,
  options: KeyReloadCheckOptions,
): void {
  const problems: string[] = [];
  /** The latest expiry among refusals that time heals; NaN once one cannot heal. */
  let retryAtMs = 0;
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const [kid, old] of previous.publicKeys) {
    if (next.rotation.forcedKids.has(kid)) continue;
    const replacement = next.publicKeys.get(kid);
    if (replacement !== undefined) {
      if (replacement.alg !== old.alg || !replacement.key.equals(old.key)) {
        problems.push(
          `kid ${kid} now names other key material; tokens it signed would stop verifying (use a new kid)`,
        );
        retryAtMs = Number.NaN;
      }
      continue;
    }
    if (kid === previous.signer.kid) {
      problems.push(
        `${kid} is the active signing key; tokens it signed may be valid for ${options.longestLifetimeSeconds} s: activate another key, retire ${kid} and remove it once they expired`,
      );
      retryAtMs = Number.NaN;
      continue;
    }
    const signedUntil = options.use.validUntilMs(kid);
    const retiredAt = previous.rotation.retiredAtMs.get(kid);
    const retiredUntil =
      retiredAt === undefined ? undefined : retiredAt + options.longestLifetimeSeconds * 1000;
    const until = Math.max(signedUntil ?? 0, retiredUntil ?? 0);
    if (until > options.nowMs) {
      problems.push(`${kid} signed tokens that may be valid until ${iso(until)}`);
      retryAtMs = Math.max(retryAtMs, until);
    }
  }
  if (problems.length > 0) {
    const heals = !Number.isNaN(retryAtMs);
    throw new KeyReloadRefusedError(
      `key file change refused, the previous keys stay in service: ${problems.join('; ')}. ` +
        (heals ? `It is applied by itself at ${iso(retryAtMs)}. ` : '') +
        'To force it (a compromised key), name the kid in "forced_kids" (tollgate keys remove --force does)',
      heals ? retryAtMs : undefined,
    );
  }
}
