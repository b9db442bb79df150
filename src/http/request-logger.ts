/**
 * Request loggers made only when used. Fastify gives every request a child of its logger
 * (`request.log`, bound to the request id): a pino `child()`, which builds a new logger object
 * and serializes its bindings, on every token request, while nothing logs through it on a normal
 * request (request logging is off; the audit line is written by the routes, src/http/audit.ts).
 * The child logger here creates pino's child the first time it logs or is asked for its level,
 * so a line Fastify or a plugin writes through `request.log` (a hook that failed, a reply sent
 * twice) comes out as before, with the same bindings.
 */
import type { FastifyBaseLogger } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = Parameters<FastifyBaseLogger['child']>[1];
type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

class LazyLogger {
  readonly #parent: FastifyBaseLogger | undefined;
  readonly #bindings: Bindings;
  readonly #options: ChildOptions;
  #logger: FastifyBaseLogger | undefined;

  constructor(
    parent: FastifyBaseLogger | undefined,
    bindings: Bindings,
    options: ChildOptions,
    logger?: FastifyBaseLogger,
  ) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
    this.#logger = logger;
  }

  #real(): FastifyBaseLogger {
    if (this.#logger === undefined) {
      this.#logger = (this.#parent as FastifyBaseLogger).child(this.#bindings, this.#options);
    }
    return this.#logger;
  }

  #log(method: LogMethod, args: unknown[]): void {
    const logger = this.#real();
    Reflect.apply(logger[method], logger, args);
  }

  get level(): string {
    return this.#real().level;
  }

  set level(level: string) {
    this.#real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(...args: unknown[]): void {
    this.#log('silent', args);
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return new LazyLogger(this.#real(), bindings, options) as unknown as FastifyBaseLogger;
  }
}

/**
 * `logger` for Fastify's `loggerInstance`: logs through `logger`, and every child it (or a child
 * of it) hands out is created when it first logs.
 */
export function lazyChildLoggers(logger: FastifyBaseLogger): FastifyBaseLogger {
  return new LazyLogger(undefined, {}, undefined, logger) as unknown as FastifyBaseLogger;
}
