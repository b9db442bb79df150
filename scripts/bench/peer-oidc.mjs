/**
 * P1, the peer: node-oidc-provider 9 on node:https, configured for the same clients and methods
 * as Tollgate's benchmark (client_credentials with private_key_jwt ES256, and tls_client_auth by
 * subject DN with certificate-bound tokens), issuing ES256 JWT access tokens for a resource.
 *
 * It gets the idiomatic oidc-provider mTLS setup, which is the cheap one: the TLS layer verifies
 * the chain (`ca` set, `ctx.socket.authorized`), the certificate comes from
 * `getPeerX509Certificate()` and the subject is compared as a string.
 *
 * Usage: node peer-oidc.mjs SPEC.json
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Provider from 'oidc-provider';
import { serverTlsOptions } from './lib.mjs';

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const resource = 'https://api.bench.example';

/** RFC 4514 order (most specific first) from node's one-attribute-per-line subject. */
const rfc4514 = (subject) => subject.split('\n').reverse().join(',');

const provider = new Provider(spec.issuer, {
  clients: [
    {
      client_id: spec.jwtClient.clientId,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // The only signing key is ES256; the RS256 default would be refused.
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: { keys: [spec.jwtClient.publicJwk] },
      scope: 'read write',
    },
    {
      client_id: spec.mtlsClient.clientId,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // The only signing key is ES256; the RS256 default would be refused.
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: spec.mtlsClient.subjectDn,
      tls_client_certificate_bound_access_tokens: true,
      scope: 'read write',
    },
  ],
  jwks: { keys: [spec.signingJwk] },
  scopes: ['read', 'write'],
  clientAuthMethods: ['private_key_jwt', 'tls_client_auth'],
  cookies: { keys: ['tollgate-bench-not-a-secret'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      tlsClientAuth: true,
      getCertificate: (ctx) => ctx.socket.getPeerX509Certificate(),
      certificateAuthorized: (ctx) => ctx.socket.authorized,
      certificateSubjectMatches: (ctx, property, expected) =>
        property === 'tls_client_auth_subject_dn' &&
        rfc4514(ctx.socket.getPeerX509Certificate().subject) === expected,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read write',
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
let reported = 0;
provider.on('server_error', (_ctx, error) => {
  if (reported++ < 5) process.stderr.write(`oidc-provider server_error: ${error.stack}\n`);
});
const server = createServer(
  {
    ...serverTlsOptions(readFileSync(spec.certFile), readFileSync(spec.keyFile)),
    ca: spec.caFiles.map((file) => readFileSync(file)),
  },
  provider.callback(),
);
server.listen(spec.port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
