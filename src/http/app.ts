/**
 * Builds the Fastify application: strict form parsing, the OAuth routes, error mapping and load
 * shedding. Listening (TLS options, ports) is the caller's business, so tests can `inject()`.
 */
import type { SecureContextOptions } from 'node:tls';
import underPressure from '@fastify/under-pressure';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { asOAuthError, OAuthError } from '../errors/index.js';
import { parseForm } from './form.js';
import { sendOAuthError } from './reply.js';
import { discoveryRoutes } from './routes/discovery.js';
import { healthRoutes } from './routes/health.js';
import { introspectionRoutes } from './routes/introspect.js';
import { tokenRoutes } from './routes/token.js';
import type { HttpRuntime } from './types.js';

export interface BuildAppOptions {
  readonly runtime: HttpRuntime;
  readonly bodyLimitBytes: number;
  readonly logger: FastifyBaseLogger | false;
  /** TLS options; absent for a plain listener (behind a proxy) or `inject()` tests. */
  readonly https?: SecureContextOptions & { requestCert?: boolean; rejectUnauthorized?: boolean };
  /** Load shedding; absent to disable (tests). */
  readonly underPressure?: {
    readonly maxEventLoopDelayMs: number;
    readonly maxEventLoopUtilization: number;
    readonly retryAfterSeconds: number;
  };
  /** RFC 8414 §3 metadata paths (derived from the issuer). */
  readonly wellKnownPaths: readonly string[];
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { runtime } = options;
  const serverOptions: FastifyServerOptions & { https?: BuildAppOptions['https'] } = {
    bodyLimit: options.bodyLimitBytes,
    // Audit lines are written by the routes; per-request access logs would double them.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    // A token request is small and quick: a client that takes longer than this to send one is
    // holding a connection hostage (slowloris), not working.
    requestTimeout: 15_000,
    forceCloseConnections: 'idle',
    // Never take a request id from the client: it would be echoed into audit lines.
    requestIdHeader: false,
    ...(options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    ...(options.https === undefined ? {} : { https: options.https }),
  };
  const app = Fastify(serverOptions as FastifyServerOptions) as unknown as FastifyInstance;

  // Only urlencoded bodies are understood; every other type reaches the route as "no form" and
  // becomes invalid_request there, in OAuth form.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: options.bodyLimitBytes },
    (request, body, done) => {
      try {
        const charset = /;\s*charset=("?)([^";\s]+)\1/i.exec(
          request.headers['content-type'] ?? '',
        )?.[2];
        if (charset !== undefined && charset.toLowerCase() !== 'utf-8') {
          throw new OAuthError(
            'invalid_request',
            'unsupported_media_type',
            'the request body must be UTF-8',
          );
        }
        done(null, parseForm(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: options.bodyLimitBytes },
    (_request, _body, done) => {
      done(null, undefined);
    },
  );

  app.setErrorHandler((error: FastifyError, _request, reply) =>
    sendOAuthError(reply, fromFrameworkError(error)),
  );
  app.setNotFoundHandler((_request, reply) =>
    sendOAuthError(
      reply,
      new OAuthError('invalid_request', 'method_not_allowed', 'no such endpoint', { status: 404 }),
    ),
  );

  if (options.underPressure !== undefined) {
    const limits = options.underPressure;
    await app.register(underPressure, {
      maxEventLoopDelay: limits.maxEventLoopDelayMs,
      maxEventLoopUtilization: limits.maxEventLoopUtilization,
      retryAfter: limits.retryAfterSeconds,
      pressureHandler: (_request, reply) => {
        runtime.metrics?.collector.overloaded.inc();
        sendOAuthError(
          reply,
          new OAuthError(
            'temporarily_unavailable',
            'overloaded',
            'the server is overloaded; retry later',
            {
              retryAfterSeconds: limits.retryAfterSeconds,
            },
          ),
        );
      },
    });
  }

  const metrics = runtime.metrics;
  if (metrics !== undefined) {
    app.addHook('onResponse', (request, reply, done) => {
      metrics.collector.countRequest(
        request.routeOptions.url ?? 'unmatched',
        request.method,
        reply.statusCode,
      );
      done();
    });
    app.get('/metrics', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      // Client ids and failure reasons are operational data: only configured scrapers see them.
      if (!metrics.allowed(request)) {
        return sendOAuthError(
          reply,
          new OAuthError('invalid_request', 'method_not_allowed', 'no such endpoint', {
            status: 404,
          }),
        );
      }
      return reply
        .type(metrics.collector.registry.contentType)
        .send(await metrics.collector.exposition());
    });
  }

  tokenRoutes(app, runtime);
  introspectionRoutes(app, runtime);
  discoveryRoutes(app, runtime, options.wellKnownPaths);
  healthRoutes(app, runtime);
  return app;
}

/** Maps Fastify's own errors (body too large, bad content length, ...) to OAuth errors. */
function fromFrameworkError(error: FastifyError): OAuthError {
  if (error instanceof OAuthError) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OAuthError('invalid_request', 'body_too_large', 'the request body is too large', {
        status: 413,
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new OAuthError('invalid_request', 'malformed_body', 'the request body cannot be read');
    default:
      if (
        typeof error.statusCode === 'number' &&
        error.statusCode >= 400 &&
        error.statusCode < 500
      ) {
        return new OAuthError('invalid_request', 'malformed_body', 'the request cannot be read', {
          status: error.statusCode,
        });
      }
      return asOAuthError(error);
  }
}
