/**
 * Issue 12, attacks 1 to 5, each performed for real against a running Tollgate (TLS and a plain
 * listener on 127.0.0.1, requests from many loopback sources 127.0.x.y over real sockets). After
 * every flood, a legitimate private_key_jwt client and a legitimate tls_client_auth client that
 * did nothing wrong get their token on the first try.
 *
 * Before the fix: attack 1 locked the victim out (429) because failures were counted and blocked
 * by the claimed client_id; attack 2 answered 429 to every new key once the limiter map was full;
 * attack 3 had /introspect outside every limit and let one client fill the replay store (503 for
 * everyone); attack 4 let a trusted peer choose its rate-limit address with X-Forwarded-For on
 * the TLS listener; attack 5 served /metrics on the token listener and introspected any token
 * for any client.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import type { ConfigInput } from '../../src/config/index.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { inBatches, loopbackSource, type Sources, sources } from '../helpers/sources.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

/** Where the legitimate clients connect from: a source no attack uses. */
const victimSource = '127.0.0.1';

describe('availability under attack (issue 12)', () => {
  let ca: DevCa;
  let jwtClient: JwtClient;
  let flooder: JwtClient;
  let stranger: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  let server: MtlsTollgate | undefined;
  let net: Sources;

  beforeAll(async () => {
    ca = await createDevCa();
    jwtClient = await makeJwtClient('svc-victim-jwt');
    flooder = await makeJwtClient('svc-flooder');
    stranger = await makeJwtClient('svc-stranger');
    mtlsCert = await ca.issueClient({ clientId: 'svc-victim-mtls' });
    net = sources(ca.root.certPem);
  });
  afterEach(async () => {
    net.close();
    await server?.dispose();
    server = undefined;
  });
  afterAll(() => net?.close());

  const clients = () => [
    jwtClient.metadata,
    flooder.metadata,
    stranger.metadata,
    {
      client_id: 'svc-victim-mtls',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: mtlsCert.subject,
      scope: 'read',
    },
  ];

  const start = async (config: ConfigInput, plain = false) => {
    server = await startMtlsTollgate({ ca, clients: clients(), config, plain });
    return server;
  };

  const limits = (overrides: Partial<NonNullable<ConfigInput['rateLimits']>>): ConfigInput => ({
    rateLimits: {
      enabled: true,
      store: 'memory',
      // Windows are fixed and aligned to wall-clock multiples of their length: a 60 s window let a
      // test's requests straddle a minute boundary (counted in two windows, so 8 requests passed a
      // limit of 5). A day-long window makes a straddle during one test all but impossible.
      windowSeconds: 86_400,
      perClient: 10_000,
      perAddress: 10_000,
      failedAuthPerAddress: 20,
      failedAuthPerClient: 10,
      ...overrides,
    },
  });

  const assertion = (client: JwtClient, issuer: string) =>
    signAssertion(client.key.privateJwk, client.clientId, issuer);

  const jwtForm = async (
    client: JwtClient,
    issuer: string,
    extra: Record<string, string> = {},
  ) => ({
    grant_type: 'client_credentials',
    client_assertion_type: jwtBearerAssertionType,
    client_assertion: await assertion(client, issuer),
    ...extra,
  });

  /** Both legitimate clients get a token on their first try, from the victim source. */
  const expectVictimsServed = async (tg: MtlsTollgate) => {
    const jwt = await net.post(
      victimSource,
      `${tg.base}/token`,
      await jwtForm(jwtClient, tg.issuer),
    );
    expect(jwt.status, JSON.stringify(jwt.body)).toBe(200);
    expect(typeof jwt.body.access_token).toBe('string');
    const mtls = await net.post(
      victimSource,
      `${tg.base}/token`,
      { grant_type: 'client_credentials', client_id: 'svc-victim-mtls' },
      { identity: { cert: mtlsCert.chainPem, key: mtlsCert.keyPem } },
    );
    expect(mtls.status, JSON.stringify(mtls.body)).toBe(200);
    expect(typeof mtls.body.access_token).toBe('string');
  };

  it('attack 1: failures naming a client_id from many sources do not lock that client out', async () => {
    const tg = await start(limits({}));
    // 8 sources x 15 failures: far past failedAuthPerClient (10) for each victim client_id,
    // each source below its own failedAuthPerAddress (20). No key, no certificate.
    const answers = await inBatches(8 * 15, 16, async (i) => {
      const source = loopbackSource(i % 8);
      if (i % 2 === 0) {
        return net.post(source, `${tg.base}/token`, {
          grant_type: 'client_credentials',
          client_id: 'svc-victim-mtls',
        });
      }
      // A forged assertion claiming the private_key_jwt victim (signed with another key).
      const forged = await signAssertion(flooder.key.privateJwk, jwtClient.clientId, tg.issuer);
      return net.post(source, `${tg.base}/token`, {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: forged,
      });
    });
    expect(answers.every((answer) => answer.status === 401 || answer.status === 429)).toBe(true);
    expect(answers.filter((answer) => answer.status === 401).length).toBeGreaterThan(20);
    await expectVictimsServed(tg);
  });

  it('attack 1b: a source that keeps failing is blocked, by its address, and only it', async () => {
    const tg = await start(limits({}));
    const attacker = loopbackSource(0);
    const answers = await inBatches(30, 10, () =>
      net.post(attacker, `${tg.base}/token`, {
        grant_type: 'client_credentials',
        client_id: 'svc-victim-mtls',
      }),
    );
    expect(answers.at(-1)?.status).toBe(429);
    expect(Number(answers.at(-1)?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await expectVictimsServed(tg);
  });

  it('attack 2: a spray of sources and invented client_ids never fills the limiter into refusing strangers', async () => {
    // The smallest limiter the configuration allows, so that the spray overflows it. The sources
    // arrive through a TLS-terminating proxy (the plain listener, peer 127.0.0.1 trusted), as
    // an internet-wide spray would: 1200 distinct client addresses, each with an invented
    // client_id, i.e. 2400 limiter keys for 1000 slots.
    const tg = await start(
      {
        ...limits({ maxKeys: 1000, failedAuthPerAddress: 1000 }),
        proxy: { trustedCidrs: ['127.0.0.1/32'] },
      },
      true,
    );
    const answers = await inBatches(1200, 25, (i) =>
      net.post(
        victimSource,
        `${tg.plainBase}/token`,
        { grant_type: 'client_credentials', client_id: `invented-${randomUUID()}` },
        { headers: { 'x-forwarded-for': `198.18.${Math.floor(i / 250)}.${1 + (i % 250)}` } },
      ),
    );
    expect(answers.every((answer) => answer.status === 401)).toBe(true);
    // A source never seen before, and the victims' own source: both served.
    const fresh = await net.post(
      loopbackSource(1300),
      `${tg.base}/token`,
      await jwtForm(jwtClient, tg.issuer),
    );
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    await expectVictimsServed(tg);
  });

  it('attack 3: /introspect applies the failure limits of /token', async () => {
    const tg = await start(limits({}));
    const attacker = loopbackSource(1);
    const answers = await inBatches(30, 10, async () =>
      net.post(attacker, `${tg.base}/introspect`, {
        token: 'x',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(
          flooder.key.privateJwk,
          jwtClient.clientId,
          tg.issuer,
        ),
      }),
    );
    expect(answers.slice(0, 10).every((answer) => answer.status === 401)).toBe(true);
    expect(answers.at(-1)?.status).toBe(429);
    await expectVictimsServed(tg);
  });

  it('attack 3d: access tokens offered as the credential at /introspect count as failed authentications', async () => {
    const tg = await start(limits({}));
    const attacker = loopbackSource(2);
    // A real token: a valid one is refused like garbage, and counted like it.
    const issued = await net.post(
      victimSource,
      `${tg.base}/token`,
      await jwtForm(jwtClient, tg.issuer),
    );
    const token = String(issued.body.access_token);
    const answers = await inBatches(30, 10, async (i) =>
      net.post(
        attacker,
        `${tg.base}/introspect`,
        { token },
        { headers: { authorization: `Bearer ${i % 2 === 0 ? token : `guess-${i}`}` } },
      ),
    );
    const refused = answers.slice(0, 10);
    expect(refused.every((answer) => answer.status === 401)).toBe(true);
    expect(refused.every((answer) => answer.body.error === 'invalid_token')).toBe(true);
    // failedAuthPerAddress (20) is reached: the source is blocked as for any failed authentication.
    expect(answers.at(-1)?.status).toBe(429);
    await expectVictimsServed(tg);
  });

  it('attack 3b: one authenticated client flooding /introspect holds at most its share of the replay store', async () => {
    // 400 live claims in all, at most 10% (40) for one client.
    const tg = await start({ ...limits({}), replay: { maxEntries: 400, maxClientShare: 0.1 } });
    const flood = await inBatches(450, 15, async (i) =>
      net.post(loopbackSource(i % 30), `${tg.base}/introspect`, {
        token: 'x',
        ...(await jwtForm(flooder, tg.issuer)),
      }),
    );
    const answered = flood.filter((answer) => answer.status === 200).length;
    const refused = flood.filter((answer) => answer.status === 429);
    expect(answered).toBe(40);
    expect(refused).toHaveLength(410);
    expect(refused[0]?.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(refused[0]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Its tokens too: the share is per client, whatever the endpoint.
    const own = await net.post(victimSource, `${tg.base}/token`, await jwtForm(flooder, tg.issuer));
    expect(own.status).toBe(429);
    await expectVictimsServed(tg);
  });

  it('attack 3c: /introspect counts against the caller quota (per client, after authentication)', async () => {
    const tg = await start(limits({ perClient: 5 }));
    const answers = await inBatches(8, 4, async (i) =>
      net.post(loopbackSource(i), `${tg.base}/introspect`, {
        token: 'x',
        ...(await jwtForm(flooder, tg.issuer)),
      }),
    );
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(5);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(3);
    await expectVictimsServed(tg);
  });

  it('attack 4: X-Forwarded-For on the TLS listener neither evades nor aims the per-address limits', async () => {
    // The whole loopback range is a "trusted proxy", as in the review; the TLS listener must
    // still count the socket peer.
    const tg = await start(
      { ...limits({ perAddress: 10 }), proxy: { trustedCidrs: ['127.0.0.0/8'] } },
      true,
    );
    const attacker = loopbackSource(3);
    // Evade: a different forwarded address on every request from one socket address.
    const evading = await inBatches(15, 5, (i) =>
      net.post(
        attacker,
        `${tg.base}/token`,
        { grant_type: 'client_credentials', client_id: 'svc-victim-mtls' },
        { headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } },
      ),
    );
    expect(evading.filter((answer) => answer.status === 429).length).toBe(5);
    // Aim: failures "forwarded for" the victim's address, sent straight to the TLS listener.
    const aiming = loopbackSource(4);
    await inBatches(30, 10, () =>
      net.post(
        aiming,
        `${tg.base}/token`,
        { grant_type: 'client_credentials', client_id: 'svc-victim-mtls' },
        { headers: { 'x-forwarded-for': '203.0.113.9' } },
      ),
    );
    // The victim behind the real proxy (the plain listener, peer 127.0.0.1) is 203.0.113.9.
    const behindProxy = await net.post(
      victimSource,
      `${tg.plainBase}/token`,
      await jwtForm(jwtClient, tg.issuer),
      { headers: { 'x-forwarded-for': '203.0.113.9' } },
    );
    expect(behindProxy.status, JSON.stringify(behindProxy.body)).toBe(200);
    await expectVictimsServed(tg);
  });

  it('the plain listener counts the right-most untrusted hop, not what the client wrote', async () => {
    const tg = await start(
      { ...limits({ perAddress: 3 }), proxy: { trustedCidrs: ['127.0.0.1/32'] } },
      true,
    );
    // A client behind the proxy prepends invented hops; the proxy appends the real one.
    const answers = await inBatches(5, 1, async (i) =>
      net.post(victimSource, `${tg.plainBase}/token`, await jwtForm(jwtClient, tg.issuer), {
        headers: { 'x-forwarded-for': `10.9.9.${i}, 198.51.100.77` },
      }),
    );
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429, 429]);
  });

  it('attack 5: /metrics is not on the token listeners; introspection is a permission', async () => {
    const tg = await start(limits({}));
    const adminAddress = tg.tg.adminApp?.server.address();
    expect(adminAddress).toMatchObject({ address: '127.0.0.1' });
    const metricsOnToken = await net.get(victimSource, `${tg.base}/metrics`);
    expect(metricsOnToken.status).toBe(404);
    expect(JSON.stringify(metricsOnToken.body)).not.toMatch(/tollgate_|svc-/);
    const port = (adminAddress as { port: number }).port;
    const onAdmin = await net.get(victimSource, `http://127.0.0.1:${port}/metrics`);
    expect(onAdmin.status).toBe(200);

    // A token of the victim is not live for a stranger that authenticates fine.
    const issued = await net.post(
      victimSource,
      `${tg.base}/token`,
      await jwtForm(jwtClient, tg.issuer),
    );
    const token = issued.body.access_token as string;
    const asked = await net.post(loopbackSource(5), `${tg.base}/introspect`, {
      token,
      ...(await jwtForm(stranger, tg.issuer)),
    });
    expect(asked.status).toBe(200);
    expect(asked.body).toEqual({ active: false });
    const own = await net.post(victimSource, `${tg.base}/introspect`, {
      token,
      ...(await jwtForm(jwtClient, tg.issuer)),
    });
    expect(own.body).toMatchObject({ active: true, client_id: jwtClient.clientId });
    await expectVictimsServed(tg);
  });
});
