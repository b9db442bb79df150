/**
 * A token response without `expires_in` (RFC 6749 §5.1 makes it RECOMMENDED; Tollgate always
 * sends it, other servers may not), against a real HTTPS token endpoint served by the test.
 * Before, such a token was cached with a lifetime of 0: every getToken() made a token request.
 * Now it is cached for `defaultTokenLifetimeSeconds` (default 60 s), the lifetime §5.1 lets a
 * server document instead of sending it, and renewed like any other; the client never reads
 * the token itself for an `exp` (RFC 9068 §6: the token is opaque to the client).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenClient } from '../../src/client/index.js';
import {
  createDevCa,
  type DevCa,
  generateSigningJwk,
  type SigningJwk,
} from '../../src/dev-ca/index.js';
import { type Stub, startStub } from './stub-server.js';

let ca: DevCa;
let key: SigningJwk;
let stub: Stub | undefined;

beforeAll(async () => {
  ca = await createDevCa();
  key = await generateSigningJwk('ES256');
});
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

/** A token endpoint that answers token `at-N` for request N, with `extra` fields. */
async function tokenEndpoint(extra: Record<string, unknown>): Promise<Stub> {
  return startStub(ca, (_request, index) => ({
    status: 200,
    body: { access_token: `at-${index}`, token_type: 'Bearer', ...extra },
  }));
}

function clientFor(
  origin: string,
  clock: { ms: number },
  extra: Partial<ConstructorParameters<typeof TokenClient>[0]> = {},
) {
  const warnings: string[] = [];
  const client = new TokenClient({
    issuer: origin,
    tokenEndpoint: `${origin}/token`,
    auth: { method: 'private_key_jwt', clientId: 'svc-no-expiry', key: key.privateJwk },
    ca: ca.root.certPem,
    now: () => clock.ms,
    random: () => 0.5,
    onWarning: (message) => warnings.push(message),
    ...extra,
  });
  return { client, warnings };
}

describe('a token response without expires_in', () => {
  it('is cached for the default lifetime (60 s) and renewed like any token', async () => {
    stub = await tokenEndpoint({});
    const clock = { ms: Date.parse('2026-12-06T12:00:00Z') };
    const { client, warnings } = clientFor(stub.origin, clock);
    const first = await client.getToken();
    expect(first.accessToken).toBe('at-0');
    expect(first.expiresAtMs).toBe(clock.ms + 60_000);
    for (let i = 0; i < 5; i++) expect((await client.getToken()).accessToken).toBe('at-0');
    expect(stub.requests).toHaveLength(1);
    // Renewed at ratio 0.8 minus half the 0.1 jitter: 45 s.
    clock.ms += 44_000;
    expect((await client.getToken()).accessToken).toBe('at-0');
    clock.ms += 2_000;
    expect((await client.getToken()).accessToken).toBe('at-1');
    expect(stub.requests).toHaveLength(2);
    // Said once, not per token.
    expect(warnings.filter((w) => w.includes('expires_in'))).toHaveLength(1);
    expect(warnings[0]).toContain('assuming 60 s');
    await client.close();
  });

  it('uses defaultTokenLifetimeSeconds when the server documents another lifetime', async () => {
    stub = await tokenEndpoint({ expires_in: 'soon' }); // not a number: treated as absent
    const clock = { ms: Date.parse('2026-12-06T12:00:00Z') };
    const { client } = clientFor(stub.origin, clock, { defaultTokenLifetimeSeconds: 900 });
    expect((await client.getToken()).expiresAtMs).toBe(clock.ms + 900_000);
    clock.ms += 600_000;
    expect((await client.getToken()).accessToken).toBe('at-0');
    expect(stub.requests).toHaveLength(1);
    await client.close();
  });

  it('never overrides an expires_in the server sent, even 0', async () => {
    stub = await tokenEndpoint({ expires_in: 0 });
    const clock = { ms: Date.parse('2026-12-06T12:00:00Z') };
    const { client, warnings } = clientFor(stub.origin, clock);
    expect((await client.getToken()).accessToken).toBe('at-0');
    expect((await client.getToken()).accessToken).toBe('at-1');
    expect(stub.requests).toHaveLength(2);
    expect(warnings).toEqual([]);
    await client.close();
  });

  it('believes at most a year of expires_in, so a token is always renewed some day', async () => {
    // 1e308 s made the expiry Infinity: the token was cached and never renewed (found by
    // test/client/fuzz.test.ts).
    stub = await tokenEndpoint({ expires_in: 1e308 });
    const clock = { ms: Date.parse('2026-12-06T12:00:00Z') };
    const { client } = clientFor(stub.origin, clock);
    const year = 365 * 86_400_000;
    expect((await client.getToken()).expiresAtMs).toBe(clock.ms + year);
    clock.ms += year;
    expect((await client.getToken()).accessToken).toBe('at-1');
    await client.close();
  });

  it.each([0, -1, 1.5, 86_401, Number.NaN])('refuses defaultTokenLifetimeSeconds %s', (value) => {
    expect(
      () =>
        new TokenClient({
          issuer: 'https://127.0.0.1:1',
          auth: { method: 'private_key_jwt', clientId: 'x', key: key.privateJwk },
          defaultTokenLifetimeSeconds: value,
        }),
    ).toThrow(/defaultTokenLifetimeSeconds must be an integer from 1 to 86400/);
  });
});
