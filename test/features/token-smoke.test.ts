import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import {
  form,
  formHeaders,
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

describe('token endpoint smoke', () => {
  let tg: TestTollgate;
  let client: JwtClient;
  beforeAll(async () => {
    client = await makeJwtClient('svc-a');
    tg = await makeTollgate({ clients: [client.metadata] });
  });
  afterAll(() => tg.dispose());

  it('issues an RFC 9068 token for a private_key_jwt assertion', async () => {
    const assertion = await createClientAssertion({
      clientId: 'svc-a',
      audience: testIssuer,
      key: client.key.privateJwk,
    });
    const res = await tg.app.inject({
      method: 'POST',
      url: '/token',
      headers: formHeaders,
      payload: form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
      }),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body.token_type).toBe('Bearer');
    const jwks = await tg.app.inject({ method: 'GET', url: '/jwks' });
    const { payload, protectedHeader } = await jwtVerify(
      body.access_token,
      createLocalJWKSet(jwks.json()),
      {
        issuer: testIssuer,
        audience: testIssuer,
        typ: 'at+jwt',
      },
    );
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.sub).toBe('svc-a');
    expect(payload.client_id).toBe('svc-a');
    expect(payload.scope).toBe('read write');
  });
});
