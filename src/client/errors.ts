/**
 * The one error type of the client SDK: what the authorization server answered (an RFC 6749 §5.2
 * code with its description and status), or why no answer could be had.
 *
 * @see RFC 6749 §5.2, RFC 8414 §3.3
 */

/**
 * Codes the SDK raises itself, beside the server's RFC 6749 §5.2 codes:
 * - `network_error`: no HTTP answer (connection refused, TLS handshake failure, timeout);
 * - `invalid_response`: an answer that is not a usable token response or error response;
 * - `invalid_metadata`: RFC 8414 metadata that is missing, malformed or for another issuer.
 *
 * When the server asks to wait (`Retry-After`) longer than the retry budget allows, the error is
 * the server's own (`temporarily_unavailable`, `http_429`, ...) with its status, at once.
 */
export type TokenClientErrorLocalCode = 'network_error' | 'invalid_response' | 'invalid_metadata';

export interface TokenClientErrorOptions {
  /** RFC 6749 §5.2 code from the server, or a {@link TokenClientErrorLocalCode}. */
  readonly error: string;
  readonly errorDescription?: string | undefined;
  /** HTTP status of the last answer, if there was one. */
  readonly status?: number | undefined;
  /** How many token requests were made before giving up. */
  readonly attempts?: number;
  readonly cause?: unknown;
}

/** A token could not be obtained. `error` is the OAuth code (or a local one), safe to log. */
export class TokenClientError extends Error {
  override readonly name = 'TokenClientError';
  /** RFC 6749 §5.2 `error` from the server, or a {@link TokenClientErrorLocalCode}. */
  readonly error: string;
  /** RFC 6749 §5.2 `error_description` from the server, or the SDK's own explanation. */
  readonly errorDescription: string | undefined;
  readonly status: number | undefined;
  readonly attempts: number;

  constructor(options: TokenClientErrorOptions) {
    super(
      options.errorDescription === undefined
        ? options.error
        : `${options.error}: ${options.errorDescription}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.error = options.error;
    this.errorDescription = options.errorDescription;
    this.status = options.status;
    this.attempts = options.attempts ?? 0;
  }

  /** True when no HTTP answer was received (the server is unreachable, or TLS failed). */
  get isNetworkError(): boolean {
    return this.error === 'network_error';
  }
}
