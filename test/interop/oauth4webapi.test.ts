/**
 * oauth4webapi v3 against a real Tollgate: RFC 8414 discovery and the client credentials grant
 * with private_key_jwt, over real TLS with the dev CA (its `customFetch` on an undici Agent).
 *
 * Audience: oauth4webapi puts the metadata's `issuer` in `aud` (rfc7523bis) and omits `typ`,
 * which Tollgate accepts as the draft advises; no `legacy_audience` registration is needed.
 */
import { type CryptoKey, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { type RunningTollgate, startTollgate, verifyAccessToken } from '../client/harness.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

describe('interop: oauth4webapi', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let jwt: JwtClient;
  let agent: Agent;

  beforeAll(async () => {
    ca = await createDevCa();
    jwt = await makeJwtClient('svc-oauth4webapi', 'ES256', {
      allowed_resources: ['https://api.example/'],
    });
    server = await startTollgate({ ca, clients: [jwt.metadata] });
    agent = new Agent({ connect: { ca: ca.root.certPem } });
  });
  afterAll(async () => {
    await agent?.close();
    await server?.dispose();
  });

  it('gets a token with PrivateKeyJwt and a resource indicator', async () => {
    const sentForms: URLSearchParams[] = [];
    type Fetch = (
      url: string,
      options: oauth.CustomFetchOptions<string, unknown>,
    ) => Promise<Response>;
    const fetchOn: Fetch = (url, options) => {
      if (options.body instanceof URLSearchParams)
        sentForms.push(new URLSearchParams(options.body));
      return undiciFetch(url, {
        ...options,
        dispatcher: agent,
      } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>;
    };
    const issuer = new URL(server.issuer);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.customFetch]: fetchOn }),
    );
    const clientMetadata: oauth.Client = { client_id: jwt.clientId };
    const key = (await importJWK(jwt.key.privateJwk, 'ES256')) as CryptoKey;
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      clientMetadata,
      oauth.PrivateKeyJwt({ key, kid: jwt.key.kid }),
      new URLSearchParams({ scope: 'write', resource: 'https://api.example/' }),
      { [oauth.customFetch]: fetchOn },
    );
    const result = await oauth.processClientCredentialsResponse(as, clientMetadata, response);
    const claims = await verifyAccessToken(server, result.access_token);
    expect(claims).toMatchObject({
      sub: jwt.clientId,
      aud: 'https://api.example/',
      scope: 'write',
    });
    expect(server.counts.tls).toBe(1);
    const assertion = sentForms.at(-1)?.get('client_assertion') ?? '';
    expect(decodeJwt(assertion)).toMatchObject({ aud: server.issuer, iss: jwt.clientId });
    expect(decodeProtectedHeader(assertion).typ).toBeUndefined();
  });
});
