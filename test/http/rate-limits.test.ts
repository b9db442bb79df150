/** Rate limits: 429 with Retry-After and an OAuth JSON body, per address, per client, on failures. */
import { afterEach, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import type { ConfigInput } from '../../src/config/index.js';
import { isRepeatedRefusal, TokenRateLimits } from '../../src/http/rate-limits.js';
import { MemoryRateLimitStore } from '../../src/rate-limit/index.js';
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

const limits = (overrides: Partial<NonNullable<ConfigInput['rateLimits']>>): ConfigInput => ({
  rateLimits: {
    enabled: true,
    store: 'memory',
    // Windows are fixed and aligned to wall-clock multiples of their length: with 60 s a test's
    // requests could straddle a minute boundary and be counted in two windows. A day-long window
    // makes that all but impossible (as in test/features/availability.test.ts).
    windowSeconds: 86_400,
    perClient: 1000,
    perAddress: 1000,
    failedAuthPerAddress: 1000,
    failedAuthPerClient: 1000,
    ...overrides,
  },
});

describe('rate limits', () => {
  let tg: TestTollgate | undefined;
  afterEach(async () => {
    await tg?.dispose();
    tg = undefined;
  });

  const request = async (
    server: TestTollgate,
    who: JwtClient,
    options: { forge?: boolean; remoteAddress?: string } = {},
  ) => {
    const key =
      options.forge === true
        ? (await makeJwtClient('attacker')).key.privateJwk
        : who.key.privateJwk;
    return server.app.inject({
      method: 'POST',
      url: '/token',
      headers: formHeaders,
      remoteAddress: options.remoteAddress ?? '192.0.2.1',
      payload: form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(key, who.clientId, testIssuer),
      }),
    });
  };
  const expect429 = (response: Awaited<ReturnType<typeof request>>) => {
    expect(response.statusCode).toBe(429);
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toMatchObject({
      error: 'temporarily_unavailable',
      error_description: expect.stringMatching(/too many/),
    });
  };

  it('limits requests per source address', async () => {
    const client = await makeJwtClient('svc-a');
    tg = await makeTollgate({ clients: [client.metadata], config: limits({ perAddress: 3 }) });
    for (let i = 0; i < 3; i++) expect((await request(tg, client)).statusCode).toBe(200);
    expect429(await request(tg, client));
    // Another address is not affected.
    expect((await request(tg, client, { remoteAddress: '192.0.2.2' })).statusCode).toBe(200);
  });

  it('limits requests per authenticated client', async () => {
    const client = await makeJwtClient('svc-b');
    tg = await makeTollgate({ clients: [client.metadata], config: limits({ perClient: 2 }) });
    expect((await request(tg, client, { remoteAddress: '192.0.2.1' })).statusCode).toBe(200);
    expect((await request(tg, client, { remoteAddress: '192.0.2.2' })).statusCode).toBe(200);
    expect429(await request(tg, client, { remoteAddress: '192.0.2.3' }));
  });

  it('blocks an address after too many failed authentications, even for valid requests', async () => {
    const client = await makeJwtClient('svc-c');
    tg = await makeTollgate({
      clients: [client.metadata],
      config: limits({ failedAuthPerAddress: 2 }),
    });
    expect((await request(tg, client, { forge: true })).statusCode).toBe(401);
    expect((await request(tg, client, { forge: true })).statusCode).toBe(401);
    expect((await request(tg, client, { forge: true })).statusCode).toBe(401); // the third failure trips the block
    expect429(await request(tg, client));
    expect((await request(tg, client, { remoteAddress: '192.0.2.9' })).statusCode).toBe(200);
  });

  it('blocks an address for one client_id after its failures against it, never other addresses', async () => {
    const client = await makeJwtClient('svc-d');
    tg = await makeTollgate({
      clients: [client.metadata],
      config: limits({ failedAuthPerClient: 1 }),
    });
    expect(
      (await request(tg, client, { forge: true, remoteAddress: '192.0.2.1' })).statusCode,
    ).toBe(401);
    expect(
      (await request(tg, client, { forge: true, remoteAddress: '192.0.2.1' })).statusCode,
    ).toBe(401);
    expect429(await request(tg, client, { remoteAddress: '192.0.2.1' }));
    // Issue 12, attack 1: the client itself, from its own address, is not locked out.
    expect((await request(tg, client, { remoteAddress: '192.0.2.3' })).statusCode).toBe(200);
  });

  it('counts IPv6 sources by their /64', async () => {
    const client = await makeJwtClient('svc-v6');
    tg = await makeTollgate({ clients: [client.metadata], config: limits({ perAddress: 2 }) });
    expect((await request(tg, client, { remoteAddress: '2001:db8:1:2::1' })).statusCode).toBe(200);
    expect((await request(tg, client, { remoteAddress: '2001:db8:1:2:ffff::9' })).statusCode).toBe(
      200,
    );
    expect429(await request(tg, client, { remoteAddress: '2001:db8:1:2:abcd:0:0:1' }));
    expect((await request(tg, client, { remoteAddress: '2001:db8:1:3::1' })).statusCode).toBe(200);
  });

  it('can be disabled', async () => {
    const client = await makeJwtClient('svc-e');
    tg = await makeTollgate({
      clients: [client.metadata],
      config: { rateLimits: { enabled: false, perAddress: 1 } },
    });
    for (let i = 0; i < 3; i++) expect((await request(tg, client)).statusCode).toBe(200);
  });
});

describe('refusal audit lines (round 22)', () => {
  it('marks every refusal but the first of a key and window as repeated, and counts them all', async () => {
    let now = 1_000_000;
    const limited: string[] = [];
    const limits = new TokenRateLimits({
      store: new MemoryRateLimitStore({ clock: () => now }),
      settings: {
        windowSeconds: 60,
        perClient: 1000,
        perAddress: 2,
        failedAuthPerAddress: 1,
        failedAuthPerClient: 1000,
      },
      now: () => now,
      onLimited: (limit) => limited.push(limit),
    });
    const refusals = async (address: string, times: number) => {
      const repeated: boolean[] = [];
      for (let i = 0; i < times; i++) {
        const error = await limits.beforeRequest(address).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        if (error !== undefined) repeated.push(isRepeatedRefusal(error));
      }
      return repeated;
    };
    // Over the address limit: the third request is the first refusal.
    expect(await refusals('192.0.2.1', 5)).toEqual([false, true, true]);
    // Another address has its own first refusal.
    expect(await refusals('192.0.2.2', 3)).toEqual([false]);
    // A failure block: its first refusal is audited, the rest are not.
    await limits.authenticationFailed('192.0.2.3', undefined);
    await limits.authenticationFailed('192.0.2.3', undefined);
    expect(await refusals('192.0.2.3', 3)).toEqual([false, true, true]);
    expect(limited).toHaveLength(7);
    // The next window starts over.
    now += 60_000;
    expect(await refusals('192.0.2.1', 4)).toEqual([false, true]);
  });
});
