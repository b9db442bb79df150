/**
 * One token request over HTTPS (optionally mutual TLS), with the server's answer parsed into a
 * success or an RFC 6749 §5.2 error. {@link sendTokenRequest} is what the TokenClient uses on its
 * long-lived dispatcher; {@link postTokenRequest} is the one-shot form for tests and scripts.
 *
 * @see RFC 6749 §4.4.2, §5.1, §5.2
 */
import { Agent, type Dispatcher } from 'undici';
import { exchange, parseRetryAfter } from './http.js';

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
  /** Extra request headers (a `DPoP` proof, RFC 9449 §5). */
  readonly headers?: Readonly<Record<string, string>>;
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
  /** The server's `DPoP-Nonce` header, for the next proof (RFC 9449 §8). */
  readonly dpopNonce: string | undefined;
}

export interface TokenFailure {
  readonly ok: false;
  readonly status: number;
  readonly error: string;
  readonly errorDescription: string | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly body: unknown;
  readonly serverDateMs: number | undefined;
  /** The server's `DPoP-Nonce` header: with `use_dpop_nonce`, the nonce to retry with. */
  readonly dpopNonce: string | undefined;
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

export interface SendTokenRequestOptions {
  readonly tokenEndpoint: string;
  readonly params: TokenRequestOptions['params'];
  /** Carries the TLS settings: trust anchors and, for mutual TLS, the client certificate. */
  readonly dispatcher: Dispatcher;
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
  readonly signal?: AbortSignal | undefined;
  /** Extra request headers (a `DPoP` proof, RFC 9449 §5). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Posts a token request on `dispatcher`. Network and TLS failures reject; HTTP answers resolve to
 * a {@link TokenResult}.
 */
export async function sendTokenRequest(options: SendTokenRequestOptions): Promise<TokenResult> {
  assertHttps(options.tokenEndpoint);
  const answer = await exchange({
    url: options.tokenEndpoint,
    method: 'POST',
    headers: {
      ...options.headers,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: encodeForm(options.params),
    dispatcher: options.dispatcher,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxResponseBytes: options.maxResponseBytes ?? 1024 * 1024,
    signal: options.signal,
  });
  return parseTokenResponse(answer.status, answer.headers, answer.text, answer.serverDateMs);
}

/**
 * Posts one token request on a connection of its own (closed afterwards). Network and TLS
 * failures reject; HTTP answers resolve to a {@link TokenResult}.
 */
export async function postTokenRequest(options: TokenRequestOptions): Promise<TokenResult> {
  assertHttps(options.tokenEndpoint);
  const agent = new Agent({
    connect: {
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    },
  });
  try {
    return await sendTokenRequest({
      tokenEndpoint: options.tokenEndpoint,
      params: options.params,
      dispatcher: agent,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.maxResponseBytes === undefined
        ? {}
        : { maxResponseBytes: options.maxResponseBytes }),
      ...(options.headers === undefined ? {} : { headers: options.headers }),
    });
  } finally {
    await agent.close();
  }
}

function assertHttps(url: string): void {
  if (new URL(url).protocol !== 'https:')
    throw new TypeError('the token endpoint must be an https URL');
}

/**
 * Reads a token endpoint answer. Anything but a 200 with a string `access_token` and
 * `token_type` is a failure; a body that is not an RFC 6749 §5.2 error gets a local code.
 */
export function parseTokenResponse(
  status: number,
  headers: Readonly<Record<string, string | undefined>>,
  text: string,
  serverDateMs: number | undefined,
): TokenResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const record = isRecord(body) ? body : {};
  if (
    status === 200 &&
    typeof record.access_token === 'string' &&
    record.access_token !== '' &&
    typeof record.token_type === 'string'
  ) {
    const expiresIn = record.expires_in;
    return {
      ok: true,
      status,
      accessToken: record.access_token,
      tokenType: record.token_type,
      expiresIn:
        typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn >= 0
          ? expiresIn
          : undefined,
      scope: typeof record.scope === 'string' ? record.scope : undefined,
      body: record,
      serverDateMs,
      dpopNonce: nonceOf(headers['dpop-nonce']),
    };
  }
  const { error, errorDescription } = errorOf(status, record);
  return {
    ok: false,
    status,
    error,
    errorDescription,
    retryAfterSeconds: parseRetryAfter(headers['retry-after'], serverDateMs),
    body,
    serverDateMs,
    dpopNonce: nonceOf(headers['dpop-nonce']),
  };
}

/** RFC 6749 §5.2: `error` is `1*( %x20-21 / %x23-5B / %x5D-7E )`; longer than this is no code. */
const errorCodePattern = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
/** Longest `error_description` kept; the rest is cut. */
const maxErrorDescriptionLength = 1024;

/**
 * The `error` and `error_description` of a refusal, as far as they can be shown. They end up in
 * TokenClientError messages, logs and `tollgate token`'s terminal output, so a server (or anything
 * answering in its place) must not be able to write control sequences there: an `error` outside
 * the §5.2 grammar is no OAuth error (`invalid_response`), and a description has its control and
 * format characters (C0, DEL, C1, bidirectional overrides) replaced and its length capped.
 */
function errorOf(
  status: number,
  record: Record<string, unknown>,
): { error: string; errorDescription: string | undefined } {
  const description =
    typeof record.error_description === 'string' ? printable(record.error_description) : undefined;
  if (typeof record.error !== 'string') {
    return {
      error: status === 200 ? 'invalid_response' : `http_${status}`,
      errorDescription: description,
    };
  }
  if (!errorCodePattern.test(record.error)) {
    return {
      error: 'invalid_response',
      errorDescription: `HTTP ${status} with an error code that is not RFC 6749 §5.2 ASCII`,
    };
  }
  return { error: record.error, errorDescription: description };
}

function printable(value: string): string {
  const cleaned = value.replace(/[\p{Cc}\p{Cf}]/gu, '\uFFFD');
  return cleaned.length > maxErrorDescriptionLength
    ? `${cleaned.slice(0, maxErrorDescriptionLength)}…`
    : cleaned;
}

/** RFC 9449 §8: `DPoP-Nonce = 1*NQCHAR`; anything else (or something huge) is ignored. */
export function nonceOf(value: string | null | undefined): string | undefined {
  return typeof value === 'string' &&
    value.length <= 512 &&
    /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(value)
    ? value
    : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
