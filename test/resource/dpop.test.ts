/**
 * DPoP at a protected resource (RFC 9449 §7), everything real: Tollgate issues DPoP-bound tokens
 * over TLS, the API (the tollgateResource plugin over HTTPS) fetches Tollgate's JWKS, and clients
 * sign proofs with jose. Covers the attacks the issue names: a DPoP-bound token used as Bearer, a
 * token used with another key's proof, a proof without ath, a stolen token without the key, a
 * proof replayed; and the challenges (§7.1 `algs`), nonces (§9) and the public origin behind a
 * proxy.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevCa } from '../../src/dev-ca/index.js';
import { type TollgateResourceOptions, tollgateResource } from '../../src/resource/index.js';
import {
  capturingLogger,
  makeProof,
  makeProofKey,
  type ProofKey,
  rawProof,
} from '../helpers/dpop.js';
import { startDpopIssuer, tokenFrom } from '../helpers/dpop-issuer.js';
import { claimsOf, type MtlsTollgate } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import type { JwtClient } from '../helpers/tollgate.js';
import { call } from './http.js';

const orders = 'https://api.test/orders';

describe('DPoP at the resource plugin over real TLS', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let client: JwtClient;
  let key: ProofKey;
  let thiefKey: ProofKey;
  let api: { app: FastifyInstance; base: string };
  let proxied: { app: FastifyInstance; base: string };
  let nonced: { app: FastifyInstance; base: string };
  let strictKeys: { app: FastifyInstance; base: string };
  let twoNames: { app: FastifyInstance; base: string };
  let dpopToken: string;
  const apiLog = capturingLogger();

  /** An API on its own port; its `dpop.publicOrigin` is its own URL unless `options` set one. */
  async function startApi(options: Partial<TollgateResourceOptions>) {
    const apiServer = await ca.issueServer();
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    const app = Fastify({
      https: { cert: apiServer.chainPem, key: apiServer.keyPem },
      loggerInstance: apiLog.logger,
    }) as unknown as FastifyInstance;
    await app.register(tollgateResource, {
      issuer: server.issuer,
      audience: orders,
      jwksUri: `${server.base}/jwks`,
      jwksCa: ca.root.certPem,
      ...options,
      dpop: { publicOrigin: base, ...options.dpop },
    });
    app.get('/orders', { config: { tollgate: { scopes: ['read'] } } }, async (request) => ({
      client: request.accessToken?.clientId,
      jkt: request.accessToken?.dpopJkt ?? null,
    }));
    app.post('/orders', { config: { tollgate: {} } }, async () => ({ created: true }));
    await app.listen({ host: '127.0.0.1', port });
    return { app, base };
  }

  /** A token from Tollgate, DPoP-bound to `proofKey` when given. */
  const tokenFor = (proofKey?: ProofKey) => tokenFrom(server, ca, client, proofKey);

  const get = (base: string, headers: Record<string, string | string[]>, method = 'GET') =>
    call(`${base}/orders`, { ca: ca.root.certPem, headers, method });
  const lastReason = () =>
    (
      apiLog.lines.filter((line) => line.tollgate !== undefined).at(-1)?.tollgate as {
        reason?: string;
      }
    )?.reason;
  const challenges = (headers: IncomingHttpHeaders) => String(headers['www-authenticate']);

  beforeAll(async () => {
    ({ ca, server, client, key, token: dpopToken } = await startDpopIssuer('api-dpop', orders));
    thiefKey = await makeProofKey('ES256');
    api = await startApi({});
    proxied = await startApi({ dpop: { publicOrigin: 'https://api.example.com' } });
    nonced = await startApi({ dpop: { nonce: { windowSeconds: 60 } } });
    strictKeys = await startApi({ dpop: { minRsaBits: 3072 } });
    twoNames = await startApi({
      dpop: { publicOrigin: ['https://api.example.com', 'https://orders.example.net:8443/'] },
    });
    expect(claimsOf(dpopToken).cnf).toEqual({ jkt: key.jkt });
  });
  afterAll(async () => {
    await api?.app.close();
    await proxied?.app.close();
    await nonced?.app.close();
    await strictKeys?.app.close();
    await twoNames?.app.close();
    await server?.dispose();
  });

  const proofFor = (
    spec: { htm?: string; htu?: string; token?: string; nonce?: string } = {},
    with_ = key,
  ) =>
    makeProof(with_, {
      htm: spec.htm ?? 'GET',
      htu: spec.htu ?? `${api.base}/orders`,
      accessToken: spec.token ?? dpopToken,
      ...(spec.nonce === undefined ? {} : { nonce: spec.nonce }),
    });

  it('a DPoP-bound token with a proof by its key: 200', async () => {
    const res = await get(api.base, { authorization: `DPoP ${dpopToken}`, dpop: await proofFor() });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ client: client.clientId, jkt: key.jkt });
  });

  it('the same with a query string and another method on its own proof', async () => {
    const res = await call(`${api.base}/orders?page=2`, {
      ca: ca.root.certPem,
      headers: { authorization: `DPoP ${dpopToken}`, dpop: await proofFor() },
    });
    expect(res.status, res.text).toBe(200);
    const post = await get(
      api.base,
      { authorization: `DPoP ${dpopToken}`, dpop: await proofFor({ htm: 'POST' }) },
      'POST',
    );
    expect(post.status, post.text).toBe(200);
  });

  it('a DPoP-bound token used as Bearer is refused (downgrade, RFC 9449 §7.2)', async () => {
    const res = await get(api.base, {
      authorization: `Bearer ${dpopToken}`,
      dpop: await proofFor(),
    });
    expect(res.status).toBe(401);
    expect(res.json?.error).toBe('invalid_token');
    expect(lastReason()).toBe('dpop_downgrade');
    expect(challenges(res.headers)).toMatch(/^DPoP error="invalid_token".*algs="ES256 /);
  });

  it("a token used with another key's proof is refused", async () => {
    const res = await get(api.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({}, thiefKey),
    });
    expect(res.status).toBe(401);
    expect(res.json?.error).toBe('invalid_dpop_proof');
    expect(lastReason()).toBe('dpop_key_mismatch');
  });

  it('a stolen token without the key gets 401, as Bearer or with no proof', async () => {
    const asBearer = await get(api.base, { authorization: `Bearer ${dpopToken}` });
    expect(asBearer.status).toBe(401);
    const noProof = await get(api.base, { authorization: `DPoP ${dpopToken}` });
    expect(noProof.status).toBe(401);
    expect(noProof.json?.error).toBe('invalid_dpop_proof');
    expect(lastReason()).toBe('dpop_proof_missing');
  });

  it('a proof without ath is refused, with a DPoP challenge naming the algorithms', async () => {
    const noAth = await makeProof(key, { htm: 'GET', htu: `${api.base}/orders` });
    const res = await get(api.base, { authorization: `DPoP ${dpopToken}`, dpop: noAth });
    expect(res.status).toBe(401);
    expect(lastReason()).toBe('dpop_ath_missing');
    expect(challenges(res.headers)).toMatch(
      /^DPoP error="invalid_dpop_proof", error_description="[^"]+", algs="ES256 ES384 ES512 PS256 EdDSA Ed25519"$/,
    );
  });

  it("a proof made for another token's hash is refused", async () => {
    const other = (await tokenFor(key)).token;
    const res = await get(api.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ token: other }),
    });
    expect(res.status).toBe(401);
    expect(lastReason()).toBe('dpop_ath_mismatch');
  });

  it('a proof key the one key policy refuses (RSA-1024) is refused with its reason', async () => {
    // Correctly signed by the RSA-1024 key it names, with the right ath, htm and htu.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const res = await get(api.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: rawProof(weak, 'PS256', {
        htm: 'GET',
        htu: `${api.base}/orders`,
        accessToken: dpopToken,
      }),
    });
    expect(res.status).toBe(401);
    expect(res.json?.error).toBe('invalid_dpop_proof');
    expect(lastReason()).toBe('dpop_jwk_key_policy');
    expect(res.json?.error_description).toMatch(
      /RSA key of 1024 bits is below the minimum of 2048/,
    );
  });

  it('dpop.minRsaBits raises the policy: an RSA-2048-bound token works at the default API only', async () => {
    const rsa = await makeProofKey('PS256');
    const { token } = await tokenFor(rsa);
    expect(claimsOf(token).cnf).toEqual({ jkt: rsa.jkt });
    const proofAt = (base: string) =>
      makeProof(rsa, { htm: 'GET', htu: `${base}/orders`, accessToken: token });
    const ok = await get(api.base, {
      authorization: `DPoP ${token}`,
      dpop: await proofAt(api.base),
    });
    expect(ok.status, ok.text).toBe(200);
    const refused = await get(strictKeys.base, {
      authorization: `DPoP ${token}`,
      dpop: await proofAt(strictKeys.base),
    });
    expect(refused.status).toBe(401);
    expect(refused.json?.error).toBe('invalid_dpop_proof');
    expect(lastReason()).toBe('dpop_jwk_key_policy');
    expect(refused.json?.error_description).toMatch(/2048 bits is below the minimum of 3072/);
  });

  it('a dpop.minRsaBits below the policy floor stops the plugin at registration', async () => {
    await expect(startApi({ dpop: { minRsaBits: 1024 } })).rejects.toThrow(
      /dpop\.minRsaBits must be a multiple of 8 from 2048/,
    );
  });

  it('a proof replayed at the API is refused', async () => {
    const proof = await proofFor();
    expect((await get(api.base, { authorization: `DPoP ${dpopToken}`, dpop: proof })).status).toBe(
      200,
    );
    const replay = await get(api.base, { authorization: `DPoP ${dpopToken}`, dpop: proof });
    expect(replay.status).toBe(401);
    expect(lastReason()).toBe('dpop_replayed');
  });

  it('htm and htu must be this request', async () => {
    const wrongMethod = await get(api.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ htm: 'POST' }),
    });
    expect(wrongMethod.status).toBe(401);
    expect(lastReason()).toBe('dpop_htm_mismatch');
    const wrongUri = await get(api.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ htu: `${api.base}/admin` }),
    });
    expect(wrongUri.status).toBe(401);
    expect(lastReason()).toBe('dpop_htu_mismatch');
  });

  it('an unbound token sent with the DPoP scheme is refused; as Bearer it works', async () => {
    const bearer = (await tokenFor()).token;
    const asDpop = await get(api.base, {
      authorization: `DPoP ${bearer}`,
      dpop: await proofFor({ token: bearer }),
    });
    expect(asDpop.status).toBe(401);
    expect(lastReason()).toBe('dpop_not_bound');
    const ok = await get(api.base, { authorization: `Bearer ${bearer}` });
    expect(ok.status, ok.text).toBe(200);
  });

  it('no token at all: a Bearer and a DPoP challenge, no error code', async () => {
    const res = await get(api.base, {});
    expect(res.status).toBe(401);
    // Two challenges (Node's client joins them with ", ").
    expect(challenges(res.headers)).toMatch(/^Bearer, DPoP algs="ES256 [^"]+"$/);
  });

  it('behind a proxy, proofs name the configured public origin, not the internal address', async () => {
    const external = await get(proxied.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ htu: 'https://api.example.com/orders' }),
    });
    expect(external.status, external.text).toBe(200);
    const internal = await get(proxied.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ htu: `${proxied.base}/orders` }),
    });
    expect(internal.status).toBe(401);
    expect(lastReason()).toBe('dpop_htu_mismatch');
  });

  it('an API under two public names takes a proof for either, and none for its own address', async () => {
    for (const htu of [
      'https://api.example.com/orders',
      'https://orders.example.net:8443/orders',
    ]) {
      const res = await get(twoNames.base, {
        authorization: `DPoP ${dpopToken}`,
        dpop: await proofFor({ htu }),
      });
      expect(res.status, `${htu}: ${res.text}`).toBe(200);
    }
    for (const htu of [`${twoNames.base}/orders`, 'https://orders.example.net/orders']) {
      const res = await get(twoNames.base, {
        authorization: `DPoP ${dpopToken}`,
        dpop: await proofFor({ htu }),
      });
      expect(res.status, htu).toBe(401);
      expect(lastReason()).toBe('dpop_htu_mismatch');
    }
  });

  it('an API that wants nonces: use_dpop_nonce with DPoP-Nonce, then 200 with it (§9)', async () => {
    const htu = `${nonced.base}/orders`;
    const first = await get(nonced.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ htu }),
    });
    expect(first.status).toBe(401);
    expect(challenges(first.headers)).toMatch(/^DPoP error="use_dpop_nonce"/);
    const nonce = String(first.headers['dpop-nonce']);
    expect(nonce.length).toBeGreaterThan(20);
    const second = await get(nonced.base, {
      authorization: `DPoP ${dpopToken}`,
      dpop: await proofFor({ htu, nonce }),
    });
    expect(second.status, second.text).toBe(200);
    expect(typeof second.headers['dpop-nonce']).toBe('string');
  });
});
