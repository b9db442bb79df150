/**
 * The scope values the metadata advertises (`scopes_supported`), and the scope-to-resource map
 * that gives a token its default audience.
 *
 * Bounds: the advertised list holds at most {@link maxAdvertisedScopes} values; the registry and
 * the config are operator input, so the bound only keeps the metadata document small.
 */
import type { ClientRegistry } from './registry.js';

/** Most values `scopes_supported` lists (the first ones in sort order). */
export const maxAdvertisedScopes = 1024;

/**
 * `scopes_supported`: the configured list when there is one (`[]` advertises none), otherwise
 * every scope some registered client may get. Sorted, without duplicates, bounded. An empty
 * result means the member is omitted (RFC 8414 §3.2: claims with zero elements MUST be omitted).
 *
 * @see RFC 8414 §2 (`scopes_supported` RECOMMENDED; "Servers MAY choose not to advertise some
 *   supported scope values even when this parameter is used")
 */
export function advertisedScopes(
  configured: readonly string[] | null,
  registry: ClientRegistry,
): string[] {
  const scopes = new Set<string>(configured ?? []);
  if (configured === null) {
    for (const client of registry.clients()) for (const scope of client.scopes) scopes.add(scope);
  }
  // Code-unit order, not locale order: the same document on every machine.
  return [...scopes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, maxAdvertisedScopes);
}

/** One resource server and the scopes that mean something only there. */
export interface ResourceScopes {
  readonly resource: string;
  readonly scopes: readonly string[];
}

/**
 * Scope -> the resource indicator it belongs to. The config check
 * (`resourceScopesAreDisjoint`) guarantees each scope names at most one resource.
 *
 * @see RFC 9068 §3 ("The mechanism through which scopes are associated with default resource
 *   indicator values is outside the scope of this specification")
 */
export function scopeResourceMap(entries: readonly ResourceScopes[]): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const { resource, scopes } of entries) {
    for (const scope of scopes) if (!map.has(scope)) map.set(scope, resource);
  }
  return map;
}
