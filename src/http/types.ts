/** What the HTTP layer needs from the rest of Tollgate, prepared once at start-up. */
import type { FastifyRequest } from 'fastify';
import type { ClientAuthDispatcher, PresentedCertificate } from '../client-auth/index.js';
import type { OAuthError } from '../errors/index.js';
import type { TokenIntrospector } from '../tokens/index.js';
import type { TollgateMetrics } from './metrics.js';
import type { TokenRateLimits } from './rate-limits.js';
import type { TokenAudit, TokenEndpoint } from './token-endpoint.js';

export interface HttpRuntime {
  /** The issuer's path ('' for an issuer at the host root): every endpoint hangs below it. */
  readonly routePrefix: string;
  readonly tokenEndpoint: TokenEndpoint;
  /** RFC 7662: the callers' authentication (the token endpoint's dispatcher) and the answer. */
  readonly introspection: {
    readonly dispatcher: Pick<ClientAuthDispatcher, 'authenticate'>;
    readonly introspector: Pick<TokenIntrospector, 'introspect'>;
  };
  /** RFC 8414 metadata, serialized once. */
  metadataJson(): string;
  /** The public JWKS, serialized once per key set. */
  jwksJson(): string;
  /** The client certificate of this request (TLS socket or trusted proxy header), if any. */
  certificateOf(request: FastifyRequest): PresentedCertificate | undefined;
  /**
   * The address rate limits count: the socket peer on TLS listeners; on the plain listener, what
   * a trusted proxy says it forwarded for (src/http/client-address.ts).
   */
  clientAddress(request: FastifyRequest): string;
  /** Whether a client_id is registered (failures of unknown ids create no per-id state). */
  isRegistered(clientId: string): boolean;
  /** True from SIGTERM on: /readyz answers 503 and responses say `Connection: close`. */
  draining(): boolean;
  /** Rate limits of every endpoint that authenticates; absent when disabled. */
  readonly limits: TokenRateLimits | undefined;
  /** Prometheus metrics and who may scrape them; absent when disabled. */
  readonly metrics:
    | { readonly collector: TollgateMetrics; allowed(request: FastifyRequest): boolean }
    | undefined;
  /** Named readiness checks for /readyz. */
  readiness(): { checks: Record<string, boolean>; critical: readonly string[] };
  /** Wall clock, epoch ms. */
  now(): number;
  /** Writes the one audit line of a token or introspection request. */
  audit(
    request: FastifyRequest,
    endpoint: 'token' | 'introspect',
    outcome: 'issued' | 'rejected' | 'answered',
    error: OAuthError | undefined,
    audit: TokenAudit,
    startedNs: bigint,
  ): void;
}
