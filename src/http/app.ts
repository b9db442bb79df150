/**
 * Builds the Fastify application: strict form parsing, the OAuth routes, error mapping and load
 * shedding. Listening (TLS options, ports) is the caller's business, so tests can `inject()`.
 */
import type { ServerOptions } from 'node:https';
import underPressure from '@fastify/under-pressure';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { asOAuthError, OAuthError } from '../errors/index.js';
import type { ListenerConnections } from './connections.js';
import { parseForm } from './form.js';
import { answerClientError, sendOAuthError } from './reply.js';
import { lazyChildLoggers } from './request-logger.js';
import { discoveryRoutes } from './routes/discovery.js';
import { healthRoutes } from './routes/health.js';
import { introspectionRoutes } from './routes/introspect.js';
import { tokenRoutes } from './routes/token.js';
import type { HttpRuntime } from './types.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Shed this route under overload (the OAuth endpoints that do crypto). */
    shed?: boolean;
  }
}

export interface BuildAppOptions {
  readonly runtime: HttpRuntime;
  /** The public URL of this listener's token endpoint (what DPoP proofs name as `htu`). */
  readonly tokenEndpointUrl: string;
  readonly bodyLimitBytes: number;
  readonly logger: FastifyBaseLogger | false;
  /** TLS options; absent for a plain listener (behind a proxy) or `inject()` tests. */
  readonly https?: ServerOptions;
  /** The listener's connections: creates its server (timeouts, caps) and drains it. */
  readonly connections: ListenerConnections;
  /** Load shedding; absent to disable (tests). */
  readonly underPressure?: {
    readonly maxEventLoopDelayMs: number;
    readonly maxEventLoopUtilization: number;
    readonly retryAfterSeconds: number;
    readonly sampleIntervalMs: number;
  };
  /** `admin`: /metrics, /healthz, /readyz only; `oauth`: the OAuth endpoints and health. */
  readonly role: 'oauth' | 'admin';
  /** RFC 8414 §3 metadata paths (derived from the issuer). */
  readonly wellKnownPaths: readonly string[];
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { runtime, connections } = options;
  const serverOptions: FastifyServerOptions = {
    bodyLimit: options.bodyLimitBytes,
    // Audit lines are written by the routes; per-request access logs would double them.
    logController: new LogController({ disableRequestLogging: true }),
    // A request that arrives on an open connection while shutting down is still answered (with
    // `Connection: close`); the listener's connections decide when each connection closes.
    return503OnClosing: false,
    forceCloseConnections: false,
    // Timeouts, connection caps and TLS live in the server the listener's connections create.
    serverFactory: (handler) => connections.createServer(handler, options.https),
    // Never take a request id from the client: it would be echoed into audit lines.
    requestIdHeader: false,
    // Every refusal in OAuth form, also those made before a route is found: bytes Node's parser
    // refuses, and a path with malformed percent-encoding (Fastify's own bodies echo the path).
    clientErrorHandler: answerClientError,
    frameworkErrors: (error, _request, reply) => {
      sendOAuthError(reply, fromFrameworkError(error));
    },
    // Each request's `request.log` is created only if something logs through it.
    ...(options.logger === false
      ? { logger: false }
      : { loggerInstance: lazyChildLoggers(options.logger) }),
  };
  const app = Fastify(serverOptions) as unknown as FastifyInstance;

  app.addHook('onRequest', (request, reply, done) => {
    connections.requestStarted(request.raw.socket);
    // RFC 9112 §3.2: a request with two Host fields, or an HTTP/1.1 request with none, is
    // refused with 400 (proxies in front may route by one and forward the other).
    const hosts = hostFields(request.raw.rawHeaders);
    if (hosts > 1 || (hosts === 0 && request.raw.httpVersion === '1.1')) {
      reply.header('connection', 'close');
      sendOAuthError(
        reply,
        new OAuthError(
          'invalid_request',
          'malformed_request',
          'the request must carry exactly one Host header',
        ),
      );
      return;
    }
    done();
  });
  app.addHook('preHandler', (request, reply, done) => {
    connections.handlerStarted(request.raw.socket, reply.raw);
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    // Draining: every response asks the client to open its next connection elsewhere, so
    // keep-alive clients leave without a request ever meeting a closing socket.
    if (runtime.draining()) reply.header('connection', 'close');
    done(null, payload);
  });

  // Only urlencoded bodies are understood; every other type reaches the route as "no form" and
  // becomes invalid_request there, in OAuth form.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: options.bodyLimitBytes },
    (request, body, done) => {
      try {
        // RFC 9110 §8.4: the body is what Content-Encoding says it is. No coding is decoded here,
        // and reading coded bytes as a form (or a form labelled as coded) would misread the
        // request, so anything but identity is refused: 415, RFC 9110 §15.5.16.
        if (!isIdentityCoding(request.headers['content-encoding'])) {
          throw new OAuthError(
            'invalid_request',
            'unsupported_media_type',
            'the request body must not be content-encoded (Content-Encoding)',
            { status: 415 },
          );
        }
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

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const refusal = fromFrameworkError(error);
    // RFC 9110 §15.5.16: a 415 caused by a content coding names the codings that would do.
    if (refusal.status === 415) reply.header('accept-encoding', 'identity');
    return sendOAuthError(reply, refusal);
  });
  app.setNotFoundHandler((_request, reply) =>
    sendOAuthError(
      reply,
      new OAuthError('invalid_request', 'method_not_allowed', 'no such endpoint', { status: 404 }),
    ),
  );

  if (options.underPressure !== undefined && options.role === 'oauth') {
    const limits = options.underPressure;
    await app.register(underPressure, {
      maxEventLoopDelay: limits.maxEventLoopDelayMs,
      maxEventLoopUtilization: limits.maxEventLoopUtilization,
      // Both triggers over the interval just past: the default utilization mode averages since
      // start-up, which never notices an overload that starts after a quiet hour.
      eventLoopUtilizationMode: 'interval',
      sampleInterval: limits.sampleIntervalMs,
      retryAfter: limits.retryAfterSeconds,
      pressureHandler: (request) => {
        // Health checks are never shed: a liveness probe failing under load would restart an
        // instance that is working, and readiness has its own answer.
        if (request.routeOptions.config.shed !== true) return undefined;
        runtime.metrics?.collector.overloaded.inc();
        // Thrown, so the error handler answers it in OAuth form.
        throw new OAuthError(
          'temporarily_unavailable',
          'overloaded',
          'the server is overloaded; retry later',
          { retryAfterSeconds: limits.retryAfterSeconds },
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
  }
  if (metrics !== undefined && options.role === 'admin') {
    app.get('/metrics', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      // Client ids and certificate expiries are operational data: only configured scrapers.
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

  if (options.role === 'oauth') {
    tokenRoutes(app, runtime, options.tokenEndpointUrl);
    introspectionRoutes(app, runtime);
    discoveryRoutes(app, runtime, options.wellKnownPaths);
  }
  healthRoutes(app, runtime);
  return app;
}

/** Whether a `Content-Encoding` field value names no coding but identity (RFC 9110 §8.4.1). */
function isIdentityCoding(value: string | string[] | undefined): boolean {
  if (value === undefined) return true;
  const codings = (Array.isArray(value) ? value.join(',') : value).split(',');
  return codings.every((coding) => {
    const name = coding.trim().toLowerCase();
    return name === '' || name === 'identity';
  });
}

/** How many Host fields a request carries (Node keeps only the first in `headers`). */
function hostFields(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (
      (rawHeaders[i] as string).length === 4 &&
      (rawHeaders[i] as string).toLowerCase() === 'host'
    )
      count++;
  }
  return count;
}

/** Maps Fastify's own errors (body too large, bad content length, ...) to OAuth errors. */
function fromFrameworkError(error: FastifyError): OAuthError {
  if (error instanceof OAuthError) return error;
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new OAuthError(
        'invalid_request',
        'malformed_request',
        'the request path has malformed percent-encoding',
      );
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
