/**
 * The one audit line per token (and introspection) request: who, how, what was decided and why,
 * with the certificate thumbprint and assertion jti, never the assertion or the token.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { OAuthError } from '../errors/index.js';
import type { TollgateMetrics } from './metrics.js';
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
      metrics.clientAuth.inc({
        endpoint,
        method,
        outcome: audit.clientId === undefined ? 'failure' : 'success',
        reason: audit.clientId === undefined ? (error?.reason ?? 'unknown') : 'ok',
      });
      if (outcome === 'issued') {
        metrics.tokenIssuance.observe(
          { method },
          Number(process.hrtime.bigint() - startedNs) / 1e9,
        );
      }
      if (audit.legacyAudience === true && audit.clientId !== undefined) {
        metrics.legacyAudience.inc({ client_id: audit.clientId });
      }
    }
    if (logger === false) return;
    const line = {
      audit: endpoint,
      outcome,
      reqId: request.id,
      peer: request.socket.remoteAddress,
      client_id: audit.clientId ?? audit.claimedClientId,
      authenticated: audit.clientId !== undefined,
      method: audit.method,
      error: error?.code,
      reason: error?.reason,
      jti: audit.jti,
      token_jti: audit.tokenJti,
      scope: audit.scope,
      aud: audit.aud,
      x5t: audit.x5tS256,
      legacy_audience: audit.legacyAudience,
      ms: Number(process.hrtime.bigint() - startedNs) / 1e6,
    };
    if (error?.status === 500) logger.error({ ...line, err: error.cause }, 'token request failed');
    else if (audit.legacyAudience === true)
      logger.warn(line, 'token request (legacy audience accepted)');
    else logger.info(line, 'token request');
  };
}
