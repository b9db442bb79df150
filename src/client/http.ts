/**
 * One HTTP exchange over an undici dispatcher, with the limits a client of an untrusted network
 * needs: a timeout, a response size cap, and headers normalised to single strings.
 */
import { type Dispatcher, request } from 'undici';

export interface HttpExchange {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly dispatcher: Dispatcher;
  /**
   * The whole exchange, from connecting to the last byte of the answer (and, as undici's
   * headers and body timeouts, the longest silence).
   */
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpAnswer {
  readonly status: number;
  /** Lower-case names; a repeated header keeps its first value. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly text: string;
  /** The server's `Date` header in epoch ms (RFC 9110 §6.6.1), to learn the clock offset. */
  readonly serverDateMs: number | undefined;
}

/** No complete answer within the exchange's deadline (a server that trickles its answer). */
export class ExchangeTimeoutError extends Error {
  override readonly name = 'ExchangeTimeoutError';
  /** As Node's socket timeouts, so callers treat it as one (a network failure, retryable). */
  readonly code = 'ETIMEDOUT';
}

/** An answer larger than the exchange accepts: an unusable answer, not a network failure. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
  /** The status of the answer that was too large. */
  readonly status: number;

  constructor(url: string, maxBytes: number, status: number) {
    super(`the response from ${url} is larger than ${maxBytes} bytes`);
    this.status = status;
  }
}

/**
 * Sends one request and reads the whole (capped) answer. Network and TLS failures reject.
 * Redirects are not followed (undici's `request` does not without an interceptor): a token
 * endpoint or metadata document that moves is a configuration change, not something to chase
 * with a client assertion in hand.
 *
 * The deadline covers the whole exchange: undici's `bodyTimeout` only limits the silence between
 * two chunks, so a server sending a byte every few seconds would otherwise hold the caller (and,
 * in the TokenClient, every caller waiting on the same token request) for days.
 */
export async function exchange(options: HttpExchange): Promise<HttpAnswer> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const signal =
    options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]);
  const chunks: Buffer[] = [];
  let response: Dispatcher.ResponseData;
  try {
    response = await request(options.url, {
      method: options.method,
      headers: options.headers,
      ...(options.body === undefined ? {} : { body: options.body }),
      dispatcher: options.dispatcher,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal,
    });
    let size = 0;
    for await (const chunk of response.body) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += buffer.length;
      if (size > options.maxResponseBytes) {
        response.body.destroy();
        throw new ResponseTooLargeError(options.url, options.maxResponseBytes, response.statusCode);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (deadline.aborted && options.signal?.aborted !== true) {
      throw new ExchangeTimeoutError(
        `no complete answer from ${options.url} within ${options.timeoutMs} ms`,
        { cause: error },
      );
    }
    throw error;
  }
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    headers[name.toLowerCase()] = Array.isArray(value) ? value[0] : value;
  }
  return {
    status: response.statusCode,
    headers,
    text: Buffer.concat(chunks).toString('utf8'),
    serverDateMs: parseHttpDate(headers.date),
  };
}

/** An RFC 9110 §5.6.7 HTTP-date in epoch ms, or undefined. */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * `Retry-After` in seconds (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date measured against the
 * server's own `Date` header (both readings from the same clock, so local skew does not matter).
 */
export function parseRetryAfter(
  value: string | undefined,
  serverDateMs: number | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = parseHttpDate(trimmed);
  if (at === undefined || serverDateMs === undefined) return undefined;
  return Math.max(0, Math.ceil((at - serverDateMs) / 1000));
}
