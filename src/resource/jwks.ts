/**
 * The issuer's keys for a resource server: jose's remote JWKS (cached, with a cooldown between
 * refetches, so an unknown `kid` triggers at most one fetch per cooldown), fetched with undici so
 * a private CA (the dev CA) can be trusted without touching the process-wide trust store.
 *
 * @see RFC 8414 §2 (`jwks_uri`), RFC 7517 §5, RFC 9068 §4
 */
import { createRemoteJWKSet, customFetch, type FetchImplementation } from 'jose';
import { Agent, fetch as undiciFetch } from 'undici';
import type { AccessTokenKeyResolver } from './verify.js';

export interface RemoteJwksOptions {
  /** Extra trust anchors (PEM) for the JWKS server's certificate, e.g. the dev CA root. */
  readonly ca?: string | Buffer;
  /** Fetch timeout; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Least time between two fetches (an unknown `kid` refetches after it); default 30 s. */
  readonly cooldownSeconds?: number;
  /** Refetch anyway after this long; default 600 s (Tollgate serves its JWKS with max-age 300). */
  readonly cacheMaxAgeSeconds?: number;
  /** Largest JWKS accepted; default 64 KiB (a hostile or broken endpoint cannot fill memory). */
  readonly maxBytes?: number;
}

/**
 * A cached key resolver over an https `jwks_uri`.
 *
 * @throws TypeError when the URI is not https (keys fetched in clear text could be swapped).
 */
export function remoteJwks(
  jwksUri: string | URL,
  options: RemoteJwksOptions = {},
): AccessTokenKeyResolver {
  const url = new URL(jwksUri);
  if (url.protocol !== 'https:') throw new TypeError(`jwks_uri must be an https URL: ${url.href}`);
  const agent = options.ca === undefined ? undefined : new Agent({ connect: { ca: options.ca } });
  const maxBytes = options.maxBytes ?? 65_536;
  const fetchWithCa: FetchImplementation = async (target, init) => {
    const response = await undiciFetch(target, {
      ...(init as object),
      ...(agent === undefined ? {} : { dispatcher: agent }),
    });
    const body = await readCapped(response.body, maxBytes);
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return createRemoteJWKSet(url, {
    timeoutDuration: options.timeoutMs ?? 5000,
    cooldownDuration: (options.cooldownSeconds ?? 30) * 1000,
    cacheMaxAge: (options.cacheMaxAgeSeconds ?? 600) * 1000,
    [customFetch]: fetchWithCa,
  });
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
