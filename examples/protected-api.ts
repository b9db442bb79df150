/**
 * Example: an API that accepts only certificate-bound Tollgate access tokens.
 *
 * It serves mutual TLS itself (asks every client for a certificate, never rejects at the
 * handshake, so a missing or wrong certificate becomes a proper RFC 6750 answer) and lets the
 * `tollgateResource` plugin check, on every protected route: the token's signature against
 * Tollgate's JWKS, `iss`, `aud`, expiry, scopes, and that `cnf.x5t#S256` is the certificate this
 * very connection presented (RFC 8705 §3). A token copied out of a log is useless without the
 * client's private key.
 *
 * Run (see examples/README.md): `npx tsx examples/protected-api.ts`
 *
 * @see RFC 8705 §3, RFC 9068 §4, RFC 6750 §3
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { tollgateResource } from '../src/resource/index.js';

export interface ProtectedApiOptions {
  /** Tollgate's issuer identifier, e.g. `https://localhost:8443`. */
  readonly issuer: string;
  /** This API's identifier: the `aud` its tokens must carry. */
  readonly audience: string;
  /**
   * The origin clients call this API at (`https://localhost:9443`): a DPoP proof must name it
   * (RFC 9449 §4.3), never the `Host` a request claims.
   */
  readonly publicOrigin: string;
  /** Tollgate's JWKS; default `${issuer}/jwks`. */
  readonly jwksUri?: string;
  /** The dev CA root (PEM): trusted for fetching the JWKS. */
  readonly caPem: string;
  /** This API's TLS certificate chain and key (PEM). */
  readonly certPem: string;
  readonly keyPem: string;
  readonly logger?: boolean;
}

/** Builds the API (not listening yet). */
export async function buildProtectedApi(options: ProtectedApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    https: {
      cert: options.certPem,
      key: options.keyPem,
      // Request a client certificate but let the plugin judge it: no `ca`, no rejection here.
      // The TLS handshake still proves the client holds the certificate's private key.
      requestCert: true,
      rejectUnauthorized: false,
    },
  }) as unknown as FastifyInstance;

  await app.register(tollgateResource, {
    issuer: options.issuer,
    audience: options.audience,
    ...(options.jwksUri === undefined ? {} : { jwksUri: options.jwksUri }),
    ca: options.caPem,
    // Every route of this API wants proof of possession: plain bearer tokens are refused.
    requireBinding: true,
    realm: 'orders-api',
    // DPoP-bound tokens are sender-constrained too; their proofs must name this origin.
    dpop: { publicOrigin: options.publicOrigin },
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/orders', { config: { tollgate: { scopes: ['read'] } } }, async (request) => {
    const token = request.accessToken;
    return {
      orders: [{ id: 'o-1001', total: 42 }],
      client_id: token?.clientId,
      bound_to: token?.certificateThumbprint,
    };
  });

  app.post('/orders', { config: { tollgate: { scopes: ['write'] } } }, async (_request, reply) =>
    reply.code(201).send({ id: 'o-1002' }),
  );

  return app;
}

async function main(): Promise<void> {
  const env = process.env;
  const certs = env.TOLLGATE_CERTS ?? 'certs';
  const issuer = env.TOLLGATE_ISSUER ?? 'https://localhost:8443';
  const apiUrl = new URL(env.API_URL ?? 'https://localhost:9443');
  const app = await buildProtectedApi({
    issuer,
    audience: env.API_AUDIENCE ?? apiUrl.origin,
    publicOrigin: apiUrl.origin,
    caPem: readFileSync(`${certs}/ca/root.pem`, 'utf8'),
    // The dev server certificate names localhost, which is where this example listens too.
    certPem: readFileSync(`${certs}/server/server.pem`, 'utf8'),
    keyPem: readFileSync(`${certs}/server/server-key.pem`, 'utf8'),
    logger: true,
  });
  await app.listen({ host: apiUrl.hostname, port: Number(apiUrl.port || 443) });
  const stop = () => {
    app.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
