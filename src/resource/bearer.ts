/**
 * Reads the access token of a request: the `Authorization: Bearer` header and nothing else.
 *
 * RFC 6750 also allows a form body or an `access_token` query parameter; Tollgate's resource side
 * accepts neither. Query strings end up in access logs, proxy logs and browser history, and a
 * form-body token would need the body parsed before the caller is known. A token sent in the
 * query is refused outright (rather than ignored) so the client learns why.
 *
 * @see RFC 6750 §2.1 and §5.3, RFC 9700 §2.1 (bearer tokens not in query strings)
 */
import { ResourceError } from './errors.js';

/** RFC 6750 §2.1 / RFC 9449 §7.1: `credentials = scheme 1*SP token68`. */
const credentialsPattern = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i;
const schemePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** The slice of a request this module reads (Node's `IncomingMessage` fits). */
export interface BearerRequest {
  /** Node's `rawHeaders` (name, value, ...), to see a header sent twice. */
  readonly rawHeaders: readonly string[];
  /** The request target (path and query). */
  readonly url?: string | undefined;
}

/**
 * The bearer token of a request.
 *
 * @throws ResourceError `invalid_request` (400) for a malformed or repeated `Authorization`
 *   header or a token in the query; `invalid_token` with reason `token_missing` (401, challenge
 *   without an error code) when no bearer token was sent at all.
 */
export function bearerTokenOf(request: BearerRequest): string {
  return credentialsOf(request, false).token;
}

/** The access token of a request and how it came: `Bearer` or (RFC 9449 §7.1) `DPoP`. */
export interface PresentedAccessToken {
  readonly scheme: 'Bearer' | 'DPoP';
  readonly token: string;
}

/**
 * The access token of a request sent with either `Authorization: Bearer` or
 * `Authorization: DPoP` (RFC 9449 §7.1), with the same refusals as {@link bearerTokenOf}.
 */
export function accessTokenOf(request: BearerRequest): PresentedAccessToken {
  return credentialsOf(request, true);
}

function credentialsOf(request: BearerRequest, acceptDpop: boolean): PresentedAccessToken {
  if (hasQueryToken(request.url)) {
    throw new ResourceError(
      'invalid_request',
      'token_in_query',
      'send the access token in the Authorization header, not in the URL',
    );
  }
  const values: string[] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if ((request.rawHeaders[i] as string).toLowerCase() === 'authorization') {
      values.push(request.rawHeaders[i + 1] as string);
    }
  }
  // Node keeps only the first Authorization header; two of them are ambiguous, never guessed.
  if (values.length > 1) {
    throw new ResourceError(
      'invalid_request',
      'authorization_duplicate',
      'the Authorization header was sent more than once',
    );
  }
  const [value] = values;
  const scheme = value === undefined ? undefined : schemePattern.exec(value.trim())?.[0];
  const lower = scheme?.toLowerCase();
  if (
    value === undefined ||
    lower === undefined ||
    (lower !== 'bearer' && !(acceptDpop && lower === 'dpop'))
  ) {
    // Another scheme (Basic, ...) is "no bearer credentials": RFC 6750 §3.1.
    throw new ResourceError('invalid_token', 'token_missing', 'no access token was presented');
  }
  const presentedScheme = lower === 'dpop' ? 'DPoP' : 'Bearer';
  const token = credentialsPattern.exec(value.trim())?.[2];
  if (token === undefined) {
    throw new ResourceError(
      'invalid_request',
      'authorization_malformed',
      `the Authorization header must be "${presentedScheme}" followed by one access token`,
      { scheme: presentedScheme },
    );
  }
  return { scheme: presentedScheme, token };
}

function hasQueryToken(url: string | undefined): boolean {
  if (url === undefined) return false;
  const start = url.indexOf('?');
  if (start === -1) return false;
  try {
    return new URLSearchParams(url.slice(start + 1)).has('access_token');
  } catch {
    return false;
  }
}
