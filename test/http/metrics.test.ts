/** Prometheus metrics: what operators see after real requests, and who may scrape them. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createSelfSignedClient } from '../../src/dev-ca/index.js';
import { TollgateMetrics } from '../../src/http/metrics.js';
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

describe('hot-path recorders', () => {
  // The four per-token recorders count in plain numbers and add them to prom-client's metrics
  // when read; what a scrape shows must be what prom-client's own inc/observe would have made.
  it('expose exactly what prom-client records for the same increments and observations', async () => {
    const metrics = new TollgateMetrics({
      source: () => ({ certificateExpiries: () => [], remoteJwksStatus: () => [] }),
    });
    const reference = new TollgateMetrics({
      source: () => ({ certificateExpiries: () => [], remoteJwksStatus: () => [] }),
    });
    const names = [
      'tollgate_http_requests_total',
      'tollgate_client_authentications_total',
      'tollgate_token_issuance_seconds',
      'tollgate_replay_store_claim_seconds',
    ];
    const text = async (of: TollgateMetrics) =>
      (await of.registry.metrics())
        .split('\n')
        .filter((line) => names.some((name) => line.startsWith(name)))
        // A sum added up in another order may differ in its last bits.
        .map((line) =>
          line.replace(/(_sum\{[^}]*\}) (\S+)$/, (_all, name: string, value: string) => {
            return `${name} ${Number(value).toPrecision(12)}`;
          }),
        )
        .join('\n');
    // Every bucket boundary, a value on each side of it, past the last bound, and zero.
    const seconds = [0, 0.00004, 0.00005, 0.00006, 0.0005, 0.0007, 0.002, 0.3, 0.5, 1, 2.5, 40];
    const record = () => {
      seconds.forEach((value, i) => {
        const status = i % 3 === 0 ? 401 : 200;
        metrics.countRequest('/token', 'POST', status);
        reference.httpRequests.labels('/token', 'POST', String(status)).inc();
        const method = i % 2 === 0 ? 'private_key_jwt' : 'tls_client_auth';
        metrics.countAuthentication('token', method, 'success', 'ok');
        reference.clientAuth.labels('token', method, 'success', 'ok').inc();
        metrics.observeIssuance(method, value);
        reference.tokenIssuance.labels(method).observe(value);
        const outcome = i % 4 === 0 ? 'replayed' : 'claimed';
        metrics.observeClaim(outcome, value);
        reference.replayClaims.labels(outcome).observe(value);
      });
    };
    record();
    const first = await text(metrics);
    expect(first).toBe(await text(reference));
    expect(first).toMatch(
      /tollgate_token_issuance_seconds_bucket\{le="\+Inf",method="tls_client_auth"\} 6/,
    );
    // Read again with nothing new, then more after a read: nothing counted twice or lost.
    expect(await text(metrics)).toBe(first);
    record();
    expect(await text(metrics)).toBe(await text(reference));
    // Reset (prom-client's own) forgets what was read; what comes after counts from zero.
    metrics.registry.resetMetrics();
    reference.registry.resetMetrics();
    record();
    expect(await text(metrics)).toBe(await text(reference));
    // What the primary of `serve --workers` collects from each worker: the same records.
    const json = async (of: TollgateMetrics) =>
      JSON.stringify(
        (await of.registry.getMetricsAsJSON()).filter((metric) => names.includes(metric.name)),
        (key, value) => (key === 'value' ? Number(Number(value).toPrecision(12)) : value),
      );
    expect(await json(metrics)).toBe(await json(reference));
  });
});
