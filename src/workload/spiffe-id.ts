/**
 * SPIFFE IDs: strict parsing (the SPIFFE-ID specification's grammar, nothing looser) and the
 * registry's `spiffe_id` patterns, exact or `/*` path-segment prefix.
 *
 * @see SPIFFE-ID §2 (trust domain, path), draft-ietf-oauth-spiffe-client-auth §4.1 / §5.1
 *   (`spiffe_id` metadata and its wildcard)
 */

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  /** The whole ID, as sent (already canonical: the grammar admits one spelling). */
  readonly value: string;
  /** Lower-case trust domain name, e.g. `example.org`. */
  readonly trustDomain: string;
  /** `''` for the trust domain itself, otherwise `/seg/seg`. */
  readonly path: string;
}

/** Longest SPIFFE ID accepted, bytes (SPIFFE-ID §2.3). */
export const maxSpiffeIdLength = 2048;
/** Longest trust domain name accepted (SPIFFE-ID §2.1, as a DNS name). */
export const maxTrustDomainLength = 255;

const trustDomainPattern = /^[a-z0-9._-]+$/;
const segmentPattern = /^[A-Za-z0-9._-]+$/;

/**
 * Parses a SPIFFE ID, or returns why it is not one. Only `spiffe://<trust-domain>/<path>` with
 * the spec's character sets: no upper-case scheme or trust domain, no port, user info, query,
 * fragment, percent-encoding, empty, `.` or `..` segments, and no trailing `/`.
 *
 * @see SPIFFE-ID §2
 */
export function parseSpiffeId(
  input: unknown,
  options: { readonly allowTrustDomainOnly?: boolean } = {},
): SpiffeId | string {
  if (typeof input !== 'string') return 'must be a string';
  if (input.length > maxSpiffeIdLength) return `must be at most ${maxSpiffeIdLength} bytes`;
  if (!input.startsWith('spiffe://')) return 'must start with spiffe://';
  const rest = input.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  const domainProblem = trustDomainProblem(trustDomain);
  if (domainProblem !== undefined) return domainProblem;
  if (path === '') {
    return options.allowTrustDomainOnly === true
      ? { value: input, trustDomain, path }
      : 'has no path';
  }
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') return 'has an empty path segment (or a trailing /)';
    if (segment === '.' || segment === '..') return 'has a . or .. path segment';
    if (!segmentPattern.test(segment)) {
      return 'path segments may only contain letters, digits, dots, hyphens and underscores';
    }
  }
  return { value: input, trustDomain, path };
}

/** Why a trust domain name is not valid, or undefined. @see SPIFFE-ID §2.1 */
export function trustDomainProblem(name: string): string | undefined {
  if (name === '') return 'has an empty trust domain';
  if (name.length > maxTrustDomainLength) return 'trust domain is too long';
  if (!trustDomainPattern.test(name)) {
    return 'trust domain may only contain lower-case letters, digits, dots, hyphens and underscores';
  }
  return undefined;
}

/** A registered `spiffe_id`: exact, or a `/*` prefix of whole path segments. */
export interface SpiffeIdPattern {
  readonly value: string;
  readonly trustDomain: string;
  /** For `spiffe://td/a/*`: `spiffe://td/a/`; for an exact pattern: undefined. */
  readonly prefix: string | undefined;
}

/**
 * Compiles a registered `spiffe_id`. `spiffe://td/a/b/*` matches IDs under `/a/b/` (one or more
 * further segments) and never `/a/b` itself or `/a/bc`; anything else must be a valid SPIFFE ID
 * and matches exactly.
 *
 * @see draft-ietf-oauth-spiffe-client-auth §4.1 (path-segment prefix match)
 */
export function compileSpiffeIdPattern(input: unknown): SpiffeIdPattern | string {
  if (typeof input === 'string' && input.endsWith('/*')) {
    const base = input.slice(0, -2);
    const parsed = parseSpiffeId(base, { allowTrustDomainOnly: true });
    if (typeof parsed === 'string') return `${parsed} (before the /*)`;
    return { value: input, trustDomain: parsed.trustDomain, prefix: `${base}/` };
  }
  const parsed = parseSpiffeId(input);
  if (typeof parsed === 'string') return parsed;
  return { value: parsed.value, trustDomain: parsed.trustDomain, prefix: undefined };
}

/** True when a (valid, parsed) SPIFFE ID is covered by the pattern. Exact byte comparison. */
export function spiffeIdMatches(pattern: SpiffeIdPattern, id: SpiffeId): boolean {
  if (pattern.prefix === undefined) return id.value === pattern.value;
  // The prefix ends with "/", and a valid ID has no empty segment: what follows is whole segments.
  return id.value.length > pattern.prefix.length && id.value.startsWith(pattern.prefix);
}

/** True when some SPIFFE ID would match both patterns (registry uniqueness). */
export function spiffeIdPatternsOverlap(a: SpiffeIdPattern, b: SpiffeIdPattern): boolean {
  if (a.prefix === undefined && b.prefix === undefined) return a.value === b.value;
  if (a.prefix !== undefined && b.prefix !== undefined) {
    return a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
  }
  const wildcard = (a.prefix === undefined ? b : a) as SpiffeIdPattern & { prefix: string };
  const exact = a.prefix === undefined ? a : b;
  return exact.value.length > wildcard.prefix.length && exact.value.startsWith(wildcard.prefix);
}
