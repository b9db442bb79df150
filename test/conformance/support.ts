/**
 * Shared tooling for the conformance suite: raw HTTPS requests (any method, header, body bytes,
 * query string, client certificate) against a real Tollgate listener, and hand-made JWS.
 *
 * The suite is written from the RFC text, as an outsider would: it talks to Tollgate only over
 * HTTP and reads only what goes over the wire.
 */
import { constants, createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { JWK } from 'jose';
import { expect } from 'vitest';
import { signAssertion } from '../helpers/assertions.js';
import type { JwtClient } from '../helpers/tollgate.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

export interface RawRequest {
  readonly method?: string;
  /** Path and query string, e.g. `/token?x=1`. */
  readonly path: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
  /** Client certificate chain and key (PEM). */
  readonly cert?: string;
  readonly key?: string;
}

/**
 * One request on a fresh connection (no keep-alive: every request gets its own TLS handshake, so
 * no per-connection cache carries over between tests). Bounded to 10 s.
 */
export function rawRequest(base: string, ca: string, options: RawRequest): Promise<RawResponse> {
  const url = new URL(options.path, base);
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? Buffer.from(options.body, 'utf8')
        : options.body;
  const headers: Record<string, string | string[] | number> = { ...options.headers };
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
    headers['content-length'] = body.length;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: options.method ?? 'POST',
        headers,
        agent: false,
        timeout: 10_000,
        ...(url.protocol === 'https:'
          ? {
              ca,
              servername: 'localhost',
              ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
            }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            const parsed: unknown = JSON.parse(text);
            if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
              json = parsed as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'POST'} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export const formType = 'application/x-www-form-urlencoded';

/** RFC 7523 §2.2: the `client_assertion_type` of private_key_jwt. */
export const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What a conformance file sends to: read when a request is made (servers start in beforeAll). */
export interface ConformanceServer {
  /** https://127.0.0.1:<port> of the listener requests go to by default. */
  readonly base: string;
  /** The audience of client assertions by default. */
  readonly issuer: string;
}

/**
 * The request setup the token-endpoint conformance files share: raw requests over TLS to the
 * server (any listener), form POSTs, and private_key_jwt client authentication parameters.
 */
export function tokenRequests(server: () => ConformanceServer, ca: () => string) {
  const send = (options: RawRequest, base = server().base): Promise<RawResponse> =>
    rawRequest(base, ca(), options);
  return {
    send,
    /** POSTs `body`; `contentType: null` sends no Content-Type header at all. */
    post: (body: string, contentType: string | null = formType, path = '/token') =>
      send({ path, body, headers: contentType === null ? {} : { 'content-type': contentType } }),
    /** A fresh assertion by `client` for `audience` (the issuer), as the two form parameters. */
    clientAuth: async (
      client: JwtClient,
      audience = server().issuer,
      claims: Record<string, unknown> = {},
    ) => ({
      client_assertion_type: assertionType,
      client_assertion: await signAssertion(client.key.privateJwk, client.clientId, audience, {
        claims,
      }),
    }),
  };
}

/** Encodes form parameters; an array repeats the name; `[name, value]` pairs keep order. */
export function encode(params: Record<string, string | string[] | undefined>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(one)}`);
    }
  }
  return parts.join('&');
}

/** RFC 6749 §5.2: the `error_description` character set. */
export const descriptionCharset = /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/;

/** RFC 6749 §5.2 / Appendix A.7: `error` is 1*NQSCHAR. */
export const errorCodeCharset = /^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * Checks an RFC 6749 §5.2 error response: status, JSON body with `error` (and `error_description`
 * in its character set), `Cache-Control: no-store`, `Pragma: no-cache`, JSON content type, and
 * nothing that looks like an internal detail (stack frames, file paths).
 */
export function expectOAuthError(res: RawResponse, status: number, error: string | RegExp): void {
  const context = `${res.status} ${res.text}`;
  expect(res.status, context).toBe(status);
  expect(res.json, context).toBeDefined();
  const body = res.json as Record<string, unknown>;
  if (typeof error === 'string') expect(body.error, context).toBe(error);
  else expect(String(body.error), context).toMatch(error);
  expect(String(body.error)).toMatch(errorCodeCharset);
  if (body.error_description !== undefined) {
    expect(typeof body.error_description).toBe('string');
    expect(body.error_description as string, context).toMatch(descriptionCharset);
  }
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/i);
  expect(String(res.headers['cache-control'])).toMatch(/no-store/i);
  expect(String(res.headers.pragma)).toMatch(/no-cache/i);
  expectNoInternals(res.text);
}

/** No stack frames, source paths or Node error names in a response. */
export function expectNoInternals(text: string): void {
  expect(text).not.toMatch(
    /\bat [\w.<>]+ \(|node:internal|\/src\/|\.ts:\d+|\/work\/|TypeError|ReferenceError|Cannot read prop|FST_/,
  );
}

/** base64url of UTF-8 text. */
export const b64u = (text: string | Buffer): string =>
  (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('base64url');

/** A private KeyObject from a private JWK (node:crypto import, no jose). */
export function keyObjectOf(privateJwk: JWK): KeyObject {
  return createPrivateKey({ key: privateJwk as never, format: 'jwk' });
}

/**
 * Signs `encodedHeader.encodedPayload` exactly as given (so headers with duplicate members or
 * odd spacing survive), returning the compact JWS.
 */
export function signRaw(
  encodedHeader: string,
  encodedPayload: string,
  key: KeyObject,
  how:
    | { kind: 'ecdsa'; digest: string; encoding: 'ieee-p1363' | 'der' }
    | { kind: 'pss'; digest: string; saltLength: number }
    | { kind: 'pkcs1'; digest: string },
): string {
  const input = Buffer.from(`${encodedHeader}.${encodedPayload}`);
  let signature: Buffer;
  if (how.kind === 'ecdsa') {
    signature = sign(how.digest, input, { key, dsaEncoding: how.encoding });
  } else if (how.kind === 'pss') {
    signature = sign(how.digest, input, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: how.saltLength,
    });
  } else {
    signature = sign(how.digest, input, { key, padding: constants.RSA_PKCS1_PADDING });
  }
  return `${encodedHeader}.${encodedPayload}.${signature.toString('base64url')}`;
}

/** P-256 group order n. */
export const p256Order = BigInt(
  '0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
);

/** Turns a raw (r || s) P-256 signature into its malleated twin (r || n - s). */
export function malleateP256(signature: Buffer): Buffer {
  const r = signature.subarray(0, 32);
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  const flipped = (p256Order - s).toString(16).padStart(64, '0');
  return Buffer.concat([r, Buffer.from(flipped, 'hex')]);
}
