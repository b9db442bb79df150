/**
 * DPoP across instances (DESIGN.md §4): two Tollgates behind one issuer share a Redis for replay
 * claims and a nonce secret file. A nonce one instance hands out is accepted by the other; it
 * rotates; a proof spent at one instance is refused as replayed at the other; and `use_dpop_nonce`
 * never burns the client's assertion. Also the fapi2 profile's "sender-constrained or nothing".
 *
 * @see RFC 9449 §8, §11.1; FAPI 2.0 Security Profile §5.3.2.1
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { encode, expectOAuthError, formType, rawRequest } from '../conformance/support.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  capturingLogger,
  lastReason,
  makeProof,
  makeProofKey,
  type ProofKey,
} from '../helpers/dpop.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { redisAvailable, redisForTests, type TestRedis } from '../helpers/redis.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const enabled = redisAvailable({ needBinary: false });

describe.skipIf(!enabled)('DPoP nonces and replay across two instances sharing Redis', () => {
  let redis: TestRedis;
  let ca: DevCa;
  let a: MtlsTollgate;
  let b: MtlsTollgate;
  let client: JwtClient;
  let key: ProofKey;
  let issuer: string;
  /** Instance B's clock runs ahead by this much (ms), to see nonces rotate without waiting. */
  let skewMs = 0;
  const logA = capturingLogger();
  const logB = capturingLogger();

  beforeAll(async () => {
    redis = await redisForTests();
    ca = await createDevCa();
    client = await makeJwtClient('dpop-cluster');
    key = await makeProofKey('ES256');
    issuer = `https://localhost:${await freePort()}`;
    const secretFile = join(
      await import('node:os').then((os) => os.tmpdir()),
      `nonce-${randomUUID()}`,
    );
    await writeFile(secretFile, randomBytes(32), { mode: 0o600 });
    const config = {
      issuer,
      rateLimits: { enabled: false },
      replay: { store: 'redis' as const },
      redis: { url: redis.url, keyPrefix: `tollgate-dpop-${randomUUID()}:` },
      dpop: { nonce: { required: true, secretFile, windowSeconds: 5 } },
    };
    a = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      config,
      tollgate: { logger: logA.logger },
    });
    b = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      config,
      tollgate: { logger: logB.logger, now: () => Date.now() + skewMs },
    });
  }, 60_000);
  afterAll(async () => {
    await a?.dispose();
    await b?.dispose();
    await redis?.dispose();
  });

  const post = async (at: MtlsTollgate, proof: string, assertion?: string) =>
    rawRequest(at.base, ca.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType, dpop: proof },
      body: encode({
        grant_type: 'client_credentials',
        client_assertion_type: assertionType,
        client_assertion:
          assertion ?? (await signAssertion(client.key.privateJwk, client.clientId, issuer)),
      }),
    });
  const htu = () => `${issuer}/token`;

  it('a proof without a nonce gets use_dpop_nonce and a DPoP-Nonce; the same assertion then works with it', async () => {
    const assertion = await signAssertion(client.key.privateJwk, client.clientId, issuer);
    const first = await post(a, await makeProof(key, { htu: htu() }), assertion);
    expectOAuthError(first, 400, 'use_dpop_nonce');
    expect(lastReason(logA.lines)).toBe('dpop_nonce_missing');
    const nonce = first.headers['dpop-nonce'];
    expect(typeof nonce).toBe('string');
    const second = await post(
      a,
      await makeProof(key, { htu: htu(), nonce: String(nonce) }),
      assertion,
    );
    expect(second.status, second.text).toBe(200);
    expect(second.json?.token_type).toBe('DPoP');
    // RFC 9449 §8: a success carries the current nonce too (the same, or the next window's).
    expect(typeof second.headers['dpop-nonce']).toBe('string');
  });

  it("a nonce from instance A is accepted by instance B (shared secret), and B's own is A's", async () => {
    const fromA = (await post(a, await makeProof(key, { htu: htu() }))).headers['dpop-nonce'];
    const atB = await post(b, await makeProof(key, { htu: htu(), nonce: String(fromA) }));
    expect(atB.status, atB.text).toBe(200);
    const fromB = String(atB.headers['dpop-nonce']);
    const atA = await post(a, await makeProof(key, { htu: htu(), nonce: fromB }));
    expect(atA.status, atA.text).toBe(200);
  });

  it('a made-up nonce is refused with use_dpop_nonce (dpop_nonce_invalid)', async () => {
    const res = await post(b, await makeProof(key, { htu: htu(), nonce: 'made-up' }));
    expectOAuthError(res, 400, 'use_dpop_nonce');
    expect(lastReason(logB.lines)).toBe('dpop_nonce_invalid');
  });

  it('nonces rotate: two windows later the old nonce is refused and a new one is given', async () => {
    const old = String((await post(a, await makeProof(key, { htu: htu() }))).headers['dpop-nonce']);
    skewMs = 11_000;
    try {
      const res = await post(b, await makeProof(key, { htu: htu(), nonce: old }));
      expectOAuthError(res, 400, 'use_dpop_nonce');
      expect(lastReason(logB.lines)).toBe('dpop_nonce_invalid');
      expect(res.headers['dpop-nonce']).not.toBe(old);
    } finally {
      skewMs = 0;
    }
  });

  it('a proof spent at instance A is refused as replayed at instance B (one Redis)', async () => {
    const nonce = String(
      (await post(a, await makeProof(key, { htu: htu() }))).headers['dpop-nonce'],
    );
    const proof = await makeProof(key, { htu: htu(), nonce });
    const first = await post(a, proof);
    expect(first.status, first.text).toBe(200);
    const replay = await post(b, proof);
    expectOAuthError(replay, 400, 'invalid_dpop_proof');
    expect(lastReason(logB.lines)).toBe('dpop_replayed');
  });
});

describe('the fapi2 profile: every token sender-constrained', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let client: JwtClient;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('fapi-client', 'ES256');
    server = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      config: { profile: 'fapi2', rateLimits: { enabled: false } },
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  const post = async (headers: Record<string, string>, identity?: { cert: string; key: string }) =>
    rawRequest(server.base, ca.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType, ...headers },
      body: encode({
        grant_type: 'client_credentials',
        client_assertion_type: assertionType,
        client_assertion: await signAssertion(
          client.key.privateJwk,
          client.clientId,
          server.issuer,
        ),
      }),
      ...(identity === undefined ? {} : identity),
    });

  it('neither a certificate nor a proof: refused', async () => {
    const res = await post({});
    expectOAuthError(res, 400, 'invalid_request');
    expect(String(res.json?.error_description)).toMatch(/certificate or a DPoP proof/);
  });

  it('a DPoP proof: a DPoP-bound token', async () => {
    const key = await makeProofKey('ES256');
    const res = await post({ dpop: await makeProof(key, { htu: `${server.issuer}/token` }) });
    expect(res.status, res.text).toBe(200);
    expect(res.json?.token_type).toBe('DPoP');
  });

  it('a client certificate: a certificate-bound token', async () => {
    const leaf = await ca.issueClient({ clientId: 'fapi-holder' });
    const res = await post({}, { cert: leaf.chainPem, key: leaf.keyPem });
    expect(res.status, res.text).toBe(200);
    expect(res.json?.token_type).toBe('Bearer');
  });

  it('metadata narrows DPoP algorithms to the profile (no RS256)', async () => {
    const res = await rawRequest(server.base, ca.root.certPem, {
      method: 'GET',
      path: '/.well-known/oauth-authorization-server',
    });
    expect(res.json?.dpop_signing_alg_values_supported).toEqual([
      'PS256',
      'ES256',
      'EdDSA',
      'Ed25519',
    ]);
  });
});
