/**
 * A scripted HTTPS server on 127.0.0.1 (dev CA certificate) for the SDK's failure paths: each
 * request gets the next scripted answer and is recorded, form body decoded.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DevCa } from '../../src/dev-ca/index.js';

export interface StubAnswer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export interface StubRequest {
  readonly method: string;
  readonly url: string;
  readonly form: URLSearchParams;
  /** The request headers as Node parsed them (names in lower case). */
  readonly headers: IncomingHttpHeaders;
}

export interface Stub {
  readonly origin: string;
  readonly requests: StubRequest[];
  close(): Promise<void>;
}

/** Answers with `script(request, index)`; `index` counts from 0 over all requests. */
export async function startStub(
  ca: DevCa,
  script: (request: StubRequest, index: number) => StubAnswer,
): Promise<Stub> {
  const identity = await ca.issueServer();
  const requests: StubRequest[] = [];
  const server: Server = createServer(
    { cert: identity.chainPem, key: identity.keyPem },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request: StubRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          form: new URLSearchParams(Buffer.concat(chunks).toString()),
          headers: req.headers,
        };
        requests.push(request);
        const answer = script(request, requests.length - 1);
        const body = answer.body === undefined ? '' : JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          ...answer.headers,
        });
        res.end(body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 200 token response. */
export function tokenAnswer(accessToken = 'at-1', expiresIn = 300): StubAnswer {
  return {
    status: 200,
    body: { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn },
  };
}
