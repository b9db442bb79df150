/**
 * A minimal HTTP(S) client for resource-server tests: one fresh connection per request (so the
 * certificate presented is the one given), an optional client certificate, an optional local
 * address (127.0.0.2 to look like another peer on loopback).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface CallOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  /** Trust anchor (PEM) for an https URL. */
  readonly ca?: string;
  /** Client certificate chain and key (PEM). */
  readonly cert?: string;
  readonly key?: string;
  readonly localAddress?: string;
  /**
   * The request target as sent, instead of the URL's path: an absolute-form target
   * (`https://api-a.test/orders`, RFC 9112 §3.2.2) to a server that is not the one it names.
   */
  readonly target?: string;
}

export interface CallResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

export function call(url: string, options: CallOptions = {}): Promise<CallResult> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        ...(options.target === undefined ? {} : { path: options.target }),
        ...(options.ca === undefined ? {} : { ca: options.ca, servername: 'localhost' }),
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The RFC 9440 `Client-Cert` value for a DER certificate (an RFC 8941 Byte Sequence). */
export const clientCertHeader = (der: Uint8Array): string =>
  `:${Buffer.from(der).toString('base64')}:`;

/** `Authorization: Bearer <token>`. */
export const bearer = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
});
