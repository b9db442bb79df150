/**
 * openid-client v6 against a real Tollgate: `clientCredentialsGrant` with `PrivateKeyJwt` and with
 * `TlsClientAuth` (RFC 8705 §2.1, through `mtls_endpoint_aliases`), over real TLS with the dev
 * CA, using its `customFetch` hook with undici Agents (CA only, or CA plus client certificate).
 *
 * Audience: openid-client signs assertions through oauth4webapi, whose `aud` is the issuer
 * identifier from the metadata (rfc7523bis), so no `legacy_audience` registration is needed.
 * Discovery needs `algorithm: 'oauth2'`: the default looks for /.well-known/openid-configuration,
 * which Tollgate (not an OpenID Provider) does not serve.
 */
import { type CryptoKey, decodeJwt, importJWK } from 'jose';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  type DevCa,
  type IssuedClientCertificate,
  tlsClientAuthEntry,
} from '../../src/dev-ca/index.js';
import {
  type RunningTollgate,
  startTollgate,
  thumbprintOf,
  verifyAccessToken,
} from '../client/harness.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

/** Form bodies the library sent, to check its assertions independently of the server's verdict. */
const sentForms: URLSearchParams[] = [];

/** openid-client's custom fetch on an undici Agent (undici's Response satisfies its checks). */
function fetchOn(agent: Agent): client.CustomFetch {
  return (url, options) => {
    if (options.body instanceof URLSearchParams) sentForms.push(new URLSearchParams(options.body));
    return undiciFetch(url, { ...options, dispatcher: agent } as Parameters<
      typeof undiciFetch
    >[1]) as unknown as Promise<Response>;
  };
}

describe('interop: openid-client v6', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let jwt: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  const agents: Agent[] = [];

  beforeAll(async () => {
    ca = await createDevCa();
    jwt = await makeJwtClient('svc-openid-client');
    mtlsCert = await ca.issueClient({ clientId: 'svc-openid-client-mtls' });
    server = await startTollgate({
      ca,
      mtls: true,
      clients: [jwt.metadata, tlsClientAuthEntry('svc-openid-client-mtls', mtlsCert)],
    });
  });
  afterAll(async () => {
    await Promise.all(agents.map((agent) => agent.close()));
    await server?.dispose();
  });

  it('clientCredentialsGrant with PrivateKeyJwt (aud = issuer, out of the box)', async () => {
    const agent = new Agent({ connect: { ca: ca.root.certPem } });
    agents.push(agent);
    const key = (await importJWK(jwt.key.privateJwk, 'ES256')) as CryptoKey;
    const config = await client.discovery(
      new URL(server.issuer),
      jwt.clientId,
      {},
      client.PrivateKeyJwt({ key, kid: jwt.key.kid }),
      { algorithm: 'oauth2', [client.customFetch]: fetchOn(agent) },
    );
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    const claims = await verifyAccessToken(server, tokens.access_token);
    expect(claims).toMatchObject({ sub: jwt.clientId, client_id: jwt.clientId, scope: 'read' });
    expect(claims.cnf).toBeUndefined();
    expect(server.counts.tls).toBe(1);
    const assertion = sentForms.at(-1)?.get('client_assertion') ?? '';
    expect(decodeJwt(assertion)).toMatchObject({
      aud: server.issuer,
      iss: jwt.clientId,
      sub: jwt.clientId,
    });
  });

  it('clientCredentialsGrant with TlsClientAuth through the mTLS alias gets a bound token', async () => {
    const agent = new Agent({
      connect: { ca: ca.root.certPem, cert: mtlsCert.chainPem, key: mtlsCert.keyPem },
    });
    agents.push(agent);
    const config = await client.discovery(
      new URL(server.issuer),
      'svc-openid-client-mtls',
      { use_mtls_endpoint_aliases: true },
      client.TlsClientAuth(),
      { algorithm: 'oauth2', [client.customFetch]: fetchOn(agent) },
    );
    const tokens = await client.clientCredentialsGrant(config);
    const claims = await verifyAccessToken(server, tokens.access_token);
    expect(claims.sub).toBe('svc-openid-client-mtls');
    expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(mtlsCert.certPem) });
    expect(server.counts.mtls).toBe(1);
  });
});
