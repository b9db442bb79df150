/**
 * Who may introspect what (RFC 7662 §4: the server restricts introspection to authorized
 * callers). By default a client may introspect the tokens issued to it and the tokens whose `aud`
 * names a resource it registered in `served_resources` (a resource server); any other token is
 * answered `{"active": false}`, as if unknown. `introspect_any_token: true` opts a client in to
 * every token (a gateway that fronts many resources).
 *
 * @see RFC 7662 §4
 */

/** A registered client's introspection permission. */
export interface IntrospectionPermission {
  /** Resource indicators (token audiences) this client serves as a resource server. */
  readonly servedResources: ReadonlySet<string>;
  /** May introspect every token (opt-in). */
  readonly introspectAnyToken: boolean;
}

/** The registry fields read here (for the unknown-field check). */
export const introspectionFields = ['served_resources', 'introspect_any_token'] as const;

/**
 * Validates the introspection fields of a registry entry; reports problems through `problem`.
 * `isResourceIndicator` is the registry's own RFC 8707 check (passed in: validate.ts imports us).
 */
export function validateIntrospectionPermission(
  entry: Record<string, unknown>,
  problem: (field: string, message: string) => void,
  isResourceIndicator: (value: string) => boolean,
): IntrospectionPermission {
  const served = new Set<string>();
  const resources = entry.served_resources;
  if (resources !== undefined) {
    if (!Array.isArray(resources) || resources.length === 0 || resources.length > 256) {
      problem('served_resources', 'must be an array of 1 to 256 absolute URIs');
    } else {
      for (const resource of resources) {
        if (typeof resource !== 'string' || !isResourceIndicator(resource)) {
          problem(
            'served_resources',
            `${JSON.stringify(resource)} is not an absolute URI without a fragment (RFC 8707 §2)`,
          );
        } else {
          served.add(resource);
        }
      }
    }
  }
  const any = entry.introspect_any_token;
  if (any !== undefined && typeof any !== 'boolean') {
    problem('introspect_any_token', 'must be true or false');
  }
  return { servedResources: served, introspectAnyToken: any === true };
}

/** Whether `caller` may learn about a token issued to `clientId` for `aud`. */
export function mayIntrospect(
  caller: { readonly clientId: string } & IntrospectionPermission,
  token: { readonly client_id: string; readonly aud: string | readonly string[] },
): boolean {
  if (caller.introspectAnyToken || token.client_id === caller.clientId) return true;
  const audiences = typeof token.aud === 'string' ? [token.aud] : token.aud;
  return audiences.some((audience) => caller.servedResources.has(audience));
}
