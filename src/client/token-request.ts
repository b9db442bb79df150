/**
 * One token request over HTTPS (optionally mutual TLS), with the server's answer parsed into a
 * success or an RFC 6749 §5.2 error.
 *
 * @see RFC 6749 §4.4.2, §5.1, §5.2
 */
import { request as httpsRequest } from 'node:https';

export interface TokenRequestOptions {
  readonly tokenEndpoint: string;
  /** Form parameters; an array value repeats the parameter (RFC 8707 `resource`). */
  readonly params: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Extra trust anchors (PEM) for the server certificate. */
  readonly ca?: string | Buffer;
  /** Client certificate chain and key (PEM), for mutual TLS. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly timeoutMs?: number;
  /** Largest response accepted. */
  readonly maxResponseBytes?: number;
}

export interface TokenSuccess {
  readonly ok: true;
  readonly status: number;
  readonly accessToken: string;
  readonly tokenType: string;
  readonly expiresIn: number | undefined;
  readonly scope: string | undefined;
  readonly body: Record<string, unknown>;
  /** The server's `Date` header, epoch ms, to learn the clock offset. */
  readonly serverDateMs: number | undefined;
}

export interface TokenFailure {
  readonly ok: false;
  readonly status: number;
  readonly error: string;
  readonly errorDescription: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly body: unknown;
  readonly serverDateMs: number | undefined;
}

export type TokenResult = TokenSuccess | TokenFailure;

/** Encodes form parameters as `application/x-www-form-urlencoded`. */
export function encodeForm(params: TokenRequestOptions['params']): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    const values: readonly string[] = typeof value === 'string' ? [value] : value;
    for (const one of values) parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(one)}`);
  }
  return parts.join('&');
}

/**
 * Posts a token request. Network and TLS failures reject; HTTP answers resolve to a
 * {@link TokenResult}.
 */
export function postTokenRequest(options: TokenRequestOptions): Promise<TokenResult> {
  const url = new URL(options.tokenEndpoint);
  if (url.protocol !== 'https:') throw new TypeError('the token endpoint must be an https URL');
  const body = encodeForm(options.params);
  const maxBytes = options.maxResponseBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          accept: 'application/json',
        },
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy(new Error(`the token response is larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          try {
            resolve(
              parseTokenResponse(
                res.statusCode ?? 0,
                res.headers,
                Buffer.concat(chunks).toString('utf8'),
              ),
            );
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('the token request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

function parseTokenResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string,
): TokenResult {
  const date = typeof headers.date === 'string' ? Date.parse(headers.date) : Number.NaN;
  const serverDateMs = Number.isNaN(date) ? undefined : date;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  if (
    status === 200 &&
    typeof record.access_token === 'string' &&
    typeof record.token_type === 'string'
  ) {
    return {
      ok: true,
      status,
      accessToken: record.access_token,
      tokenType: record.token_type,
      expiresIn: typeof record.expires_in === 'number' ? record.expires_in : undefined,
      scope: typeof record.scope === 'string' ? record.scope : undefined,
      body: record,
      serverDateMs,
    };
  }
  const retryAfter =
    typeof headers['retry-after'] === 'string' ? Number(headers['retry-after']) : Number.NaN;
  return {
    ok: false,
    status,
    error:
      typeof record.error === 'string'
        ? record.error
        : status === 200
          ? 'invalid_response'
          : `http_${status}`,
    errorDescription:
      typeof record.error_description === 'string' ? record.error_description : undefined,
    retryAfterSeconds: Number.isFinite(retryAfter) ? retryAfter : undefined,
    body,
    serverDateMs,
  };
}
