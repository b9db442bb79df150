/**
 * Example: a machine client that calls the protected API with a certificate-bound token.
 *
 * It uses the SDK's TokenClient with `tls_client_auth`: the token request and the API call go
 * over mutual TLS with the same certificate, so the token Tollgate binds to that certificate
 * (`cnf.x5t#S256`) verifies at the API. The token is cached and renewed before it expires;
 * calling `callOrders` in a loop makes one token request per token lifetime.
 *
 * Run (see examples/README.md): `npx tsx examples/client-service.ts [--print-token]`
 *
 * @see RFC 8705 §2.1 and §3, RFC 6749 §4.4
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { TokenClient } from '../src/client/index.js';

export interface ClientServiceOptions {
  /** Tollgate's issuer identifier: the token endpoint is discovered from its metadata. */
  readonly issuer?: string;
  /** Or an explicit token endpoint (no discovery). */
  readonly tokenEndpoint?: string;
  readonly clientId: string;
  /** The client certificate (leaf, then intermediate) and its key, PEM files. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The dev CA root, PEM file: trusted for Tollgate and for the API. */
  readonly caFile: string;
  readonly scope?: string;
}

/** A TokenClient for the example's mutual-TLS client. Close it when done. */
export function createClientService(options: ClientServiceOptions): TokenClient {
  return new TokenClient({
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.tokenEndpoint === undefined ? {} : { tokenEndpoint: options.tokenEndpoint }),
    auth: {
      method: 'tls_client_auth',
      clientId: options.clientId,
      certFile: options.certFile,
      keyFile: options.keyFile,
    },
    caFile: options.caFile,
    scope: options.scope ?? 'read',
  });
}

/** GET /orders on the API, with a token from the cache (or a fresh one). */
export async function callOrders(
  client: TokenClient,
  apiUrl: string,
): Promise<{ status: number; body: unknown }> {
  const response = await client.fetch(new URL('/orders', apiUrl));
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a 401 without token has no body): keep the text.
  }
  return { status: response.status, body };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'print-token': { type: 'boolean', default: false },
      'client-id': { type: 'string', default: 'demo-mtls' },
    },
  });
  const env = process.env;
  const certs = env.TOLLGATE_CERTS ?? 'certs';
  const clientId = values['client-id'] as string;
  const client = createClientService({
    issuer: env.TOLLGATE_ISSUER ?? 'https://localhost:8443',
    clientId,
    certFile: `${certs}/clients/${clientId}/chain.pem`,
    keyFile: `${certs}/clients/${clientId}/key.pem`,
    caFile: `${certs}/ca/root.pem`,
  });
  try {
    const apiUrl = env.API_URL ?? 'https://localhost:9443';
    const result = await callOrders(client, apiUrl);
    console.log(`GET ${apiUrl}/orders -> ${result.status}`);
    console.log(JSON.stringify(result.body, null, 2));
    if (values['print-token'] === true) {
      // For the README's "stolen token" demonstration only: never log tokens in real services.
      console.log((await client.getToken()).accessToken);
    }
  } finally {
    await client.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
