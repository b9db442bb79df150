/** Prometheus metrics: what operators see after real requests, and who may scrape them. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createSelfSignedClient } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  form,
  formHeaders,
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

describe('metrics', () => {
  let tg: TestTollgate;
  let client: JwtClient;

  beforeAll(async () => {
    client = await makeJwtClient('svc-metrics');
    const selfSigned = await createSelfSignedClient({ clientId: 'svc-self-metrics' });
    tg = await makeTollgate({
      clients: [
        client.metadata,
        {
          client_id: 'svc-self-metrics',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: [selfSigned.jwk] },
        },
      ],
    });
    const post = async (assertion: string) =>
      tg.app.inject({
        method: 'POST',
        url: '/token',
        headers: formHeaders,
        payload: form({
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: assertion,
        }),
      });
    const good = await signAssertion(client.key.privateJwk, client.clientId, testIssuer);
    expect((await post(good)).statusCode).toBe(200);
    expect((await post(good)).statusCode).toBe(401); // replayed
    const other = await makeJwtClient('someone-else');
    expect(
      (await post(await signAssertion(other.key.privateJwk, client.clientId, testIssuer)))
        .statusCode,
    ).toBe(401);
  });
  afterAll(() => tg.dispose());

  const scrape = async (remoteAddress = '127.0.0.1') =>
    (tg.adminApp as NonNullable<typeof tg.adminApp>).inject({
      method: 'GET',
      url: '/metrics',
      remoteAddress,
    });

  it('counts requests, authentication outcomes by reason, issuance latency and replay claims', async () => {
    const response = await scrape();
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    expect(text).toMatch(
      /tollgate_http_requests_total\{route="\/token",method="POST",status="200"\} 1/,
    );
    expect(text).toMatch(
      /tollgate_http_requests_total\{route="\/token",method="POST",status="401"\} 2/,
    );
    expect(text).toMatch(
      /tollgate_client_authentications_total\{endpoint="token",method="private_key_jwt",outcome="success",reason="ok"\} 1/,
    );
    expect(text).toMatch(
      /tollgate_client_authentications_total\{endpoint="token",method="private_key_jwt",outcome="failure",reason="assertion_replayed"\} 1/,
    );
    expect(text).toMatch(
      /tollgate_client_authentications_total\{endpoint="token",method="private_key_jwt",outcome="failure",reason="assertion_key_not_found"\} 1/,
    );
    expect(text).toMatch(/tollgate_token_issuance_seconds_count\{method="private_key_jwt"\} 1/);
    expect(text).toMatch(/tollgate_replay_store_claim_seconds_count\{outcome="claimed"\} 1/);
    expect(text).toMatch(/tollgate_replay_store_claim_seconds_count\{outcome="replayed"\} 1/);
  });

  it('reports seconds until a registered client certificate expires', async () => {
    const text = (await scrape()).body;
    const match =
      /tollgate_client_certificate_expiry_seconds\{client_id="svc-self-metrics",source="registered"\} (\d+)/.exec(
        text,
      );
    expect(match).not.toBeNull();
    expect(Number(match?.[1])).toBeGreaterThan(0);
  });

  it('is not served to peers outside metrics.allowedCidrs', async () => {
    const response = await scrape('203.0.113.9');
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toMatch(/tollgate_/);
  });

  // Issue 12, attack 5: /metrics (client_ids, certificate expiries) was served on the token
  // listener, where a TLS-terminating proxy on the same host makes every caller look local.
  it('is not served on the token listener at all, even to a loopback peer', async () => {
    const response = await tg.app.inject({
      method: 'GET',
      url: '/metrics',
      remoteAddress: '127.0.0.1',
    });
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toMatch(/tollgate_/);
  });
});
