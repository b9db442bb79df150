/**
 * The issuer's keys for a resource server: jose's remote JWKS (cached, with a cooldown between
 * refetches, so an unknown `kid` triggers at most one fetch per cooldown), fetched with undici so
 * a private CA (the dev CA) can be trusted without touching the process-wide trust store.
 *
 * Bound on fetches: jose's cooldown only counts from a fetch that succeeded, so while the issuer
 * fails (down, 5xx, garbage) every request of the API would start a new fetch: an API under load
 * would hammer an issuer that is trying to recover, and anyone sending tokens with made-up `kid`s
 * could drive that. After a failed fetch, none starts again for `failureCooldownSeconds` (default
 * 5 s): requests in between get the same failure (503) at once. So an API sends its issuer at most
 * one JWKS fetch per `failureCooldownSeconds` while it fails, and one per `cooldownSeconds` for
 * unknown `kid`s while it works. A 200 that is not a JWK Set counts as a failure too.
 *
 * Trust material has the same names as everywhere in the SDK (`TokenClient` too): `ca` for PEM
 * text, `caFile` for a PEM file. A failed fetch is a {@link JwksFetchError} whose message names the
 * cause and the fix (an untrusted certificate, a refused connection, a status), because that
 * message is all an operator sees when every request of an API answers 503.
 *
 * Conditional GET: the verifier remembers the `ETag` of the set it holds and refreshes with
 * `If-None-Match`, so an unchanged set costs a header exchange. A 304 keeps the held set and
 * counts as a fresh fetch; a 304 when nothing is held (no condition was sent), with content, or
 * naming another tag is a failed fetch like any other; a 200 replaces the set and its tag.
 * Sizes, timeout and cooldowns are unchanged (a 304 is read under the same cap).
 *
 * @see RFC 8414 §2 (`jwks_uri`), RFC 7517 §5, RFC 9068 §4, RFC 9110 §13.1.2 and §15.4.5
 */
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, customFetch, type FetchImplementation } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import { entityTagOf, notModifiedRefusal } from '../client/entity-tag.js';
import type { AccessTokenKeyResolver } from './verify.js';

/** Trust anchors for the issuer's TLS certificate, beside Node's defaults. */
export interface TrustMaterial {
  /** Extra trust anchors as PEM text (the dev CA root, say). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** A PEM file of extra trust anchors, read once at start-up. */
  readonly caFile?: string;
}

export interface RemoteJwksOptions extends TrustMaterial {
  /** Fetch timeout; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Least time between two fetches (an unknown `kid` refetches after it); default 30 s. */
  readonly cooldownSeconds?: number;
  /**
   * Refetch anyway after this long, with `If-None-Match` (a 304 keeps the held set); default
   * 600 s (Tollgate serves its JWKS with max-age 300).
   */
  readonly cacheMaxAgeSeconds?: number;
  /** Largest JWKS accepted; default 64 KiB (a hostile or broken endpoint cannot fill memory). */
  readonly maxBytes?: number;
  /** After a failed fetch, no new one for this long (requests get the failure); default 5 s. */
  readonly failureCooldownSeconds?: number;
  /** Wall clock, epoch ms, for the failure cooldown (tests); default `Date.now`. */
  readonly now?: () => number;
}

/** A remote key set: a key resolver, and `reload()` to fetch now (a start-up check). */
export type RemoteJwks = AccessTokenKeyResolver & { readonly reload: () => Promise<void> };

/** The issuer's keys could not be fetched; the message says why and what usually fixes it. */
export class JwksFetchError extends Error {
  override readonly name = 'JwksFetchError';
  /** The `jwks_uri` that failed. */
  readonly url: string;

  constructor(url: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot fetch the issuer's keys from ${url}: ${reason}`, options);
    this.url = url;
  }
}

/**
 * The PEM trust anchors of `material` (inline and file), or undefined for Node's defaults only.
 *
 * @throws TypeError naming the file when `caFile` cannot be read.
 */
export function trustAnchorsOf(material: TrustMaterial): (string | Buffer)[] | undefined {
  const anchors: (string | Buffer)[] = [];
  if (material.ca !== undefined) {
    if (Array.isArray(material.ca)) anchors.push(...(material.ca as (string | Buffer)[]));
    else anchors.push(material.ca as string | Buffer);
  }
  if (material.caFile !== undefined) {
    try {
      anchors.push(readFileSync(material.caFile));
    } catch (error) {
      throw new TypeError(
        `caFile ${material.caFile} cannot be read: ${(error as NodeJS.ErrnoException).code ?? error}`,
        { cause: error },
      );
    }
  }
  return anchors.length === 0 ? undefined : anchors;
}

/** TLS verification failures (OpenSSL codes, as Node reports them) that a `ca` fixes. */
const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/** A short cause, with the fix when there is a usual one. */
export function describeFetchFailure(error: unknown, timeoutMs: number): string {
  let current: unknown = error;
  // undici wraps the socket's error: "fetch failed" { cause: Error { code } }.
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (current.name === 'TimeoutError' || current.name === 'AbortError') {
      return `no answer within ${timeoutMs} ms`;
    }
    if (code !== undefined && untrustedCodes.has(code)) {
      return `its TLS certificate is not trusted (${code}); pass the issuer's CA as \`ca\` (PEM) or \`caFile\` (path)`;
    }
    if (code === 'CERT_HAS_EXPIRED') return 'its TLS certificate has expired (CERT_HAS_EXPIRED)';
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return `its TLS certificate does not name the host (${code}): check the issuer URL`;
    }
    if (code === 'ECONNREFUSED')
      return 'connection refused: is the issuer running at that address?';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return `the host name does not resolve (${code})`;
    if (code !== undefined) return `${code}: ${current.message}`;
    if (current.cause === undefined) return current.message;
    current = current.cause;
  }
  return String(error);
}

/**
 * A cached key resolver over an https `jwks_uri`.
 *
 * @throws TypeError when the URI is not https (keys fetched in clear text could be swapped).
 */
export function remoteJwks(jwksUri: string | URL, options: RemoteJwksOptions = {}): RemoteJwks {
  const url = new URL(jwksUri);
  if (url.protocol !== 'https:') throw new TypeError(`jwks_uri must be an https URL: ${url.href}`);
  const ca = trustAnchorsOf(options);
  const agent = ca === undefined ? undefined : new Agent({ connect: { ca } });
  const maxBytes = options.maxBytes ?? 65_536;
  const timeoutMs = options.timeoutMs ?? 5000;
  const failureCooldownMs = (options.failureCooldownSeconds ?? 5) * 1000;
  if (!(failureCooldownMs >= 0 && failureCooldownMs <= 300_000)) {
    throw new TypeError('failureCooldownSeconds must be between 0 and 300');
  }
  const now = options.now ?? Date.now;
  // The bytes of the JWK Set jose holds and its ETag: a refresh sends If-None-Match, and a 304
  // hands jose the held bytes again (so it counts as a fresh fetch). Set only from a 200 that
  // passed isJwkSet, i.e. exactly the document jose adopted.
  let held: { readonly body: Uint8Array; readonly etag: string | undefined } | undefined;
  const fetchOnce: FetchImplementation = async (target, init) => {
    const sentTag = held?.etag;
    const headers = new Headers(init.headers);
    if (sentTag !== undefined) headers.set('if-none-match', sentTag);
    const sent: Record<string, string> = Object.fromEntries(headers);
    let response: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      response = await undiciFetch(target, {
        ...(init as object),
        headers: sent,
        ...(agent === undefined ? {} : { dispatcher: agent }),
      });
    } catch (error) {
      throw new JwksFetchError(url.href, describeFetchFailure(error, timeoutMs), { cause: error });
    }
    if (response.status === 304) {
      // Fail closed: a 304 never brings keys, it only keeps the set validated before.
      let content: Uint8Array;
      try {
        content = await readCapped(response.body, maxBytes);
      } catch (error) {
        throw new JwksFetchError(url.href, describeFetchFailure(error, timeoutMs), {
          cause: error,
        });
      }
      const refusal = notModifiedRefusal(sentTag, response.headers.get('etag'), content.length);
      if (refusal !== undefined || held === undefined) {
        throw new JwksFetchError(url.href, refusal ?? 'it answered 304 Not Modified');
      }
      return new Response(held.body, { status: 200 });
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new JwksFetchError(url.href, `it answered HTTP ${response.status}, not 200`);
    }
    let body: Uint8Array;
    try {
      body = await readCapped(response.body, maxBytes);
    } catch (error) {
      throw new JwksFetchError(url.href, describeFetchFailure(error, timeoutMs), { cause: error });
    }
    // Checked here rather than left to jose, so that a broken document is a failure like any other.
    if (!isJwkSet(body)) {
      throw new JwksFetchError(url.href, 'it answered something else than a JSON JWK Set');
    }
    held = { body, etag: entityTagOf(response.headers.get('etag')) };
    return new Response(body, { status: response.status, headers: response.headers });
  };
  let lastFailure: { readonly atMs: number; readonly error: JwksFetchError } | undefined;
  const fetchWithCa: FetchImplementation = async (target, init) => {
    if (lastFailure !== undefined && now() - lastFailure.atMs < failureCooldownMs) {
      throw lastFailure.error;
    }
    try {
      const response = await fetchOnce(target, init);
      lastFailure = undefined;
      return response;
    } catch (error) {
      const failure =
        error instanceof JwksFetchError
          ? error
          : new JwksFetchError(url.href, describeFetchFailure(error, timeoutMs), { cause: error });
      lastFailure = { atMs: now(), error: failure };
      throw failure;
    }
  };
  return createRemoteJWKSet(url, {
    timeoutDuration: timeoutMs,
    cooldownDuration: (options.cooldownSeconds ?? 30) * 1000,
    cacheMaxAge: (options.cacheMaxAgeSeconds ?? 600) * 1000,
    [customFetch]: fetchWithCa,
  });
}

/** RFC 7517 §5: a JSON object whose `keys` is an array of objects (what jose would accept). */
function isJwkSet(body: Uint8Array): boolean {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return false;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return false;
  const keys = (document as { keys?: unknown }).keys;
  return (
    Array.isArray(keys) &&
    keys.every((key) => typeof key === 'object' && key !== null && !Array.isArray(key))
  );
}

/** Reads a response body, giving up past `maxBytes`. */
async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Uint8Array> {
  if (body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    // Leaving the loop by throwing cancels the stream (the iterator's return()).
    if (size > maxBytes) throw new RangeError(`the JWKS is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
