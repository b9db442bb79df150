/**
 * The `htu` comparison: the proof's URI and the URI the request was actually sent to, both
 * without query and fragment, compared after RFC 3986 §6.2.2 syntax-based and §6.2.3
 * scheme-based normalisation (case of scheme and host, default port, dot segments, percent
 * encoding of unreserved characters and the case of its hex digits).
 *
 * @see RFC 9449 §4.2 (htu), §4.3 check 9; RFC 3986 §6.2.2, §6.2.3
 */

const unreserved = /^[A-Za-z0-9\-._~]$/;

/**
 * The normalised form of an http(s) URI without query and fragment, or undefined when the value
 * is not an absolute http(s) URI or carries user information (never part of a request target).
 */
export function normalizeHtu(value: string): string | undefined {
  if (value.length > 4096) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  // WHATWG URL already lowercases scheme and host, drops the default port and resolves dot
  // segments; percent-encoding is left as written, so normalise it here (RFC 3986 §6.2.2.1-2).
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return unreserved.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * Whether a proof's `htu` names the same resource as the request's URI, or as one of them (an API
 * served under several public names): never a URI the request itself names, which its sender
 * chooses. An empty list matches nothing.
 *
 * @see RFC 9449 §4.3 check 9
 */
export function htuMatches(htu: string, requestUri: string | readonly string[]): boolean {
  const presented = normalizeHtu(htu);
  if (presented === undefined) return false;
  const uris = typeof requestUri === 'string' ? [requestUri] : requestUri;
  return uris.some((uri) => presented === normalizeHtu(uri));
}
