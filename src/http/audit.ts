/**
 * The one audit line per token (and introspection) request: who, how, what was decided and why,
 * with the certificate thumbprint and assertion jti, never the assertion or the token.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { OAuthError } from '../errors/index.js';
import type { TollgateMetrics } from './metrics.js';
import { proxiedAddressOf } from './proxy-protocol.js';
import { isRepeatedRefusal } from './rate-limits.js';
import type { TokenAudit } from './token-endpoint.js';
import type { HttpRuntime } from './types.js';

export function createAuditor(
  logger: FastifyBaseLogger | false,
  metrics?: TollgateMetrics,
): HttpRuntime['audit'] {
  return (
    request: FastifyRequest,
    endpoint,
    outcome,
    error: OAuthError | undefined,
    audit: TokenAudit,
    startedNs: bigint,
  ) => {
    if (metrics !== undefined) {
      const method = audit.method ?? 'unknown';
      metrics.countAuthentication(
        endpoint,
        method,
        audit.clientId === undefined ? 'failure' : 'success',
        audit.clientId === undefined ? (error?.reason ?? 'unknown') : 'ok',
      );
      if (outcome === 'issued') {
        metrics.observeIssuance(method, Number(process.hrtime.bigint() - startedNs) / 1e9);
      }
      if (audit.workloadSource !== undefined && audit.clientId !== undefined) {
        metrics.workloadAuthentications.inc({
          source: audit.workloadSource,
          client_id: audit.clientId,
        });
      }
      if (audit.legacyAudience === true && audit.clientId !== undefined) {
        metrics.legacyAudience.inc({ client_id: audit.clientId });
      }
    }
    // A refused flood writes one line per source and limit and window, not one per request.
    if (logger === false || isRepeatedRefusal(error)) return;
    const level = error?.status === 500 ? 'error' : audit.legacyAudience === true ? 'warn' : 'info';
    // Build the line only when it will be written: at a quieter level this request costs nothing.
    if (!levelEnabled(logger, level)) return;
    const line = {
      audit: endpoint,
      outcome,
      reqId: request.id,
      // The client's address as a trusted balancer's PROXY header named it, else the socket's.
      peer: proxiedAddressOf(request.socket) ?? request.socket.remoteAddress,
      client_id: audit.clientId ?? loggedClaim(audit.claimedClientId),
      authenticated: audit.clientId !== undefined,
      method: audit.method,
      error: error?.code,
      reason: error?.reason,
      jti: audit.jti,
      token_jti: audit.tokenJti,
      scope: audit.scope,
      aud: audit.aud,
      x5t: audit.x5tS256,
      jkt: audit.jkt,
      legacy_audience: audit.legacyAudience,
      workload_source: audit.workloadSource,
      workload_identity: audit.workloadIdentity,
      ms: Number(process.hrtime.bigint() - startedNs) / 1e6,
    };
    const message = endpoint === 'token' ? 'token request' : 'introspection request';
    if (level === 'error') logger.error({ ...line, err: error?.cause }, `${message} failed`);
    else if (level === 'warn') logger.warn(line, `${message} (legacy audience accepted)`);
    else logger.info(line, message);
  };
}

/**
 * Longest claimed client_id written as is. A registered client_id has at most 255 characters; a
 * claim is whatever an unauthenticated caller sent (up to the 16 KiB body), so a longer one is
 * cut to its start and its length: a failed request writes a bounded line.
 */
const maxLoggedClaim = 255;

function loggedClaim(claim: string | undefined): string | undefined {
  if (claim === undefined || claim.length <= maxLoggedClaim) return claim;
  return `${claim.slice(0, 64)}... (${claim.length} characters)`;
}

const levelValues = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** pino's isLevelEnabled when available, otherwise a comparison with the logger's level. */
function levelEnabled(logger: FastifyBaseLogger, level: 'info' | 'warn' | 'error'): boolean {
  const pinoLogger = logger as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (typeof pinoLogger.isLevelEnabled === 'function') return pinoLogger.isLevelEnabled(level);
  const current = levelValues[logger.level as keyof typeof levelValues] ?? 0;
  return logger.level !== 'silent' && levelValues[level] >= current;
}
