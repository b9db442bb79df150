/**
 * Authorization server metadata discovery: the well-known URL for an issuer, and the checks that
 * make the document usable (same issuer, https endpoints).
 *
 * @see RFC 8414 §3, §3.3; RFC 8705 §5 (mtls_endpoint_aliases)
 */
import type { Dispatcher } from 'undici';
import { entityTagOf, notModifiedRefusal } from './entity-tag.js';
import { TokenClientError } from './errors.js';
import { exchange } from './http.js';

/** The metadata members the SDK relies on, validated. */
export interface AuthorizationServerMetadata {
  readonly issuer: string;
  readonly tokenEndpoint: string;
  /** RFC 8705 §5 `mtls_endpoint_aliases.token_endpoint`, when advertised. */
  readonly mtlsTokenEndpoint: string | undefined;
  readonly tokenEndpointAuthMethods: readonly string[] | undefined;
  /** The whole document as received, for callers that want other members. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * RFC 8414 §3: the well-known segment goes between the host and the issuer's path, after any
 * terminating `/` of the path is removed (`https://as/tenant` ->
 * `https://as/.well-known/oauth-authorization-server/tenant`).
 */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/** A TypeError unless `value` is an absolute https URL without a fragment. */
export function assertHttpsUrl(value: string, what: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${what} is not an absolute URL: ${value}`);
  }
  if (url.protocol !== 'https:') throw new TypeError(`${what} must be an https URL: ${value}`);
  if (url.hash !== '') throw new TypeError(`${what} must not have a fragment: ${value}`);
}

export interface DiscoverOptions {
  readonly issuer: string;
  readonly dispatcher: Dispatcher;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly signal?: AbortSignal | undefined;
  /** The document held from an earlier discovery, revalidated with its tag when it has one. */
  readonly held?: HeldMetadata | undefined;
}

/** Validated metadata and the `ETag` it came with (RFC 9110 §8.8.3). */
export interface HeldMetadata {
  readonly metadata: AuthorizationServerMetadata;
  readonly etag: string | undefined;
}

export interface DiscoveryAnswer extends HeldMetadata {
  readonly serverDateMs: number | undefined;
  /** True when the server answered 304 and `metadata` is the held document. */
  readonly notModified: boolean;
}

/**
 * Fetches and validates the issuer's metadata. Network failures reject as they are (the caller
 * decides about retries); a wrong document is a {@link TokenClientError} `invalid_metadata`.
 *
 * With a held document that has a tag, the request carries `If-None-Match`; a 304 then keeps the
 * held document (a fresh fetch), and a 304 the request did not ask for, with content, or naming
 * another tag is `invalid_metadata`: it can never bring a document that was not validated.
 *
 * @see RFC 8414 §3; RFC 9110 §13.1.2, §15.4.5
 */
export async function discover(options: DiscoverOptions): Promise<DiscoveryAnswer> {
  const url = metadataUrl(options.issuer);
  const sentTag = options.held?.etag;
  const answer = await exchange({
    url,
    method: 'GET',
    headers: {
      accept: 'application/json',
      ...(sentTag === undefined ? {} : { 'if-none-match': sentTag }),
    },
    dispatcher: options.dispatcher,
    timeoutMs: options.timeoutMs,
    maxResponseBytes: options.maxResponseBytes,
    signal: options.signal,
  });
  if (answer.status === 304) {
    const refusal = notModifiedRefusal(
      sentTag,
      answer.headers.etag,
      Buffer.byteLength(answer.text),
    );
    // A tag is only sent with a held document, so no refusal means there is one.
    if (refusal !== undefined || options.held === undefined) throw invalid(`${url}: ${refusal}`);
    return { ...options.held, serverDateMs: answer.serverDateMs, notModified: true };
  }
  if (answer.status !== 200) {
    throw new TokenClientError({
      error: answer.status >= 500 ? `http_${answer.status}` : 'invalid_metadata',
      errorDescription: `GET ${url} answered HTTP ${answer.status}`,
      status: answer.status,
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(answer.text);
  } catch (cause) {
    throw invalid(`${url} is not JSON`, cause);
  }
  return {
    metadata: validateMetadata(document, options.issuer),
    etag: entityTagOf(answer.headers.etag),
    serverDateMs: answer.serverDateMs,
    notModified: false,
  };
}

/**
 * Checks a metadata document. RFC 8414 §3.3: `issuer` must be identical to the issuer the
 * client started from, or an attacker-controlled document could redirect its assertions.
 */
export function validateMetadata(document: unknown, issuer: string): AuthorizationServerMetadata {
  if (typeof document !== 'object' || document === null || Array.isArray(document))
    throw invalid('the metadata is not a JSON object');
  const raw = document as Record<string, unknown>;
  if (raw.issuer !== issuer) {
    throw invalid(
      `the metadata issuer ${JSON.stringify(raw.issuer)} is not the configured issuer ${JSON.stringify(issuer)}`,
    );
  }
  const tokenEndpoint = httpsMember(raw.token_endpoint, 'token_endpoint');
  if (tokenEndpoint === undefined) throw invalid('the metadata has no token_endpoint');
  const aliases = raw.mtls_endpoint_aliases;
  let mtlsTokenEndpoint: string | undefined;
  if (aliases !== undefined) {
    if (typeof aliases !== 'object' || aliases === null || Array.isArray(aliases))
      throw invalid('mtls_endpoint_aliases is not a JSON object');
    mtlsTokenEndpoint = httpsMember(
      (aliases as Record<string, unknown>).token_endpoint,
      'mtls_endpoint_aliases.token_endpoint',
    );
  }
  const methods = raw.token_endpoint_auth_methods_supported;
  return {
    issuer,
    tokenEndpoint,
    mtlsTokenEndpoint,
    tokenEndpointAuthMethods:
      Array.isArray(methods) && methods.every((one) => typeof one === 'string')
        ? (methods as string[])
        : undefined,
    raw,
  };
}

function httpsMember(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${name} is not a string`);
  try {
    assertHttpsUrl(value, name);
  } catch (error) {
    throw invalid((error as Error).message);
  }
  return value;
}

function invalid(description: string, cause?: unknown): TokenClientError {
  return new TokenClientError({ error: 'invalid_metadata', errorDescription: description, cause });
}
