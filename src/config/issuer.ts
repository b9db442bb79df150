/**
 * The RFC 8414 §2 issuer rule, alone in a module without imports, so that `tollgate dev-ca
 * --issuer` applies exactly the rule `tollgate serve` does without loading the config schema
 * (src/config/load.ts compiles ajv when imported).
 *
 * @see RFC 8414 §2
 */

/**
 * Why `issuer` cannot be an authorization server's issuer identifier, or undefined when it can:
 * an absolute https URL without query, fragment or user information, not ending with "/" (the
 * metadata URL and every endpoint are built from it, and a client compares it byte for byte).
 *
 * @see RFC 8414 §2, §3.3
 */
export function issuerProblem(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:') return 'must use the https scheme (RFC 8414 §2)';
  // The raw text too: the URL parser drops a bare "?" or "#", which a client would still send.
  if (url.search !== '' || issuer.includes('?')) return 'must not have a query';
  if (url.hash !== '' || issuer.includes('#')) return 'must not have a fragment';
  if (url.username !== '' || url.password !== '') return 'must not have user information';
  if (issuer.endsWith('/')) return 'must not end with "/"';
  return undefined;
}
