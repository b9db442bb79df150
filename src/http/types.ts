/** What the HTTP layer needs from the rest of Tollgate, prepared once at start-up. */
import type { FastifyRequest } from 'fastify';
import type { PresentedCertificate } from '../client-auth/index.js';
import type { OAuthError } from '../errors/index.js';
import type { TokenAudit, TokenEndpoint } from './token-endpoint.js';

export interface HttpRuntime {
  /** The issuer's path ('' for an issuer at the host root): every endpoint hangs below it. */
  readonly routePrefix: string;
  readonly tokenEndpoint: TokenEndpoint;
  /** RFC 8414 metadata, serialized once. */
  metadataJson(): string;
  /** The public JWKS, serialized once per key set. */
  jwksJson(): string;
  /** The client certificate of this request (TLS socket or trusted proxy header), if any. */
  certificateOf(request: FastifyRequest): PresentedCertificate | undefined;
  /** Named readiness checks for /readyz. */
  readiness(): Record<string, boolean>;
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
