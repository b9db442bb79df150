/**
 * One set of rules for every endpoint that authenticates a client (/token, /introspect, and any
 * later one): the per-address limits before any work, the (address, client) block as soon as the
 * claimed client is known, and failures counted against the source when authentication fails.
 * The client's own quota applies after it has authenticated (see {@link TokenRateLimits}).
 */
import type { FastifyRequest } from 'fastify';
import type { ClientAuthMethod } from '../registry/index.js';
import type { TokenAudit } from './token-endpoint.js';
import type { HttpRuntime } from './types.js';

/** What an authenticating endpoint hands to the dispatcher to learn the claimed client. */
export type OnIdentified = (clientId: string, method: ClientAuthMethod) => void;

/**
 * Runs `authenticate` (and whatever the endpoint does with the result) under the shared limits.
 * Throws what `authenticate` throws, after counting a failed authentication against the source:
 * `invalid_client`, or `invalid_token` (an access token offered as the credential at /introspect,
 * RFC 7662 §2.3), so that neither way of failing escapes the failure limits.
 */
export async function underAuthenticationLimits<T>(
  runtime: HttpRuntime,
  request: FastifyRequest,
  audit: TokenAudit,
  authenticate: (onIdentified: OnIdentified) => Promise<T>,
): Promise<T> {
  const limits = runtime.limits;
  const address = runtime.clientAddress(request);
  // Cheapest refusals first: a blocked or over-limit source costs no parsing or crypto.
  await limits?.beforeRequest(address);
  try {
    return await authenticate((clientId, method) => {
      audit.claimedClientId = clientId;
      audit.method = method;
      limits?.checkClient(address, clientId);
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (limits !== undefined && (code === 'invalid_client' || code === 'invalid_token')) {
      const claimed = audit.claimedClientId;
      // An unknown client_id creates no per-id state: its failures count against the address.
      await limits.authenticationFailed(
        address,
        claimed !== undefined && runtime.isRegistered(claimed) ? claimed : undefined,
      );
    }
    throw error;
  }
}
