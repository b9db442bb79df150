/**
 * A DPoP proof made for one API instance, replayed at another instance of the same API (same
 * audience, same issuer, its own replay cache), all over real TLS on 127.0.0.1: the attacker has
 * the DPoP-bound token and one proof the client made for instance A, and sends both to instance
 * B, naming A in the `Host` header or in an absolute-form request target. B checks `htu` against
 * its own configured public origin, never against what the request names, so it refuses; A
 * takes the same request once. An API that accepts DPoP and has no public origin does not start.
 *
 * Round 23 got a 200 from B while the plugin still took the origin from `Host` when
 * `dpop.publicOrigin` was unset (the default then).
 *
 * @see RFC 9449 §4.3 check 9, §7.1, §11.1
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevCa } from '../../src/dev-ca/index.js';
import { type TollgateResourceOptions, tollgateResource } from '../../src/resource/index.js';
import { capturingLogger, makeProof, type ProofKey } from '../helpers/dpop.js';
import { startDpopIssuer } from '../helpers/dpop-issuer.js';
import { claimsOf, type MtlsTollgate } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import { call } from '../resource/http.js';

const orders = 'https://orders.api.test';

interface Api {
  readonly app: FastifyInstance;
  /** Its public origin, which is also where it listens. */
  readonly origin: string;
  readonly port: number;
  readonly log: ReturnType<typeof capturingLogger>;
  /** Request target and Host of every request it received, as they arrived. */
  readonly seen: { target: string | undefined; host: string | undefined }[];
}

describe('a DPoP proof for one API instance replayed at another (Host, absolute-form)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let key: ProofKey;
  let token: string;
  let a: Api;
  let b: Api;

  /** The common options of both instances: one API (one audience), as an operator writes them. */
  const apiOptions = (): Omit<TollgateResourceOptions, 'dpop'> => ({
    issuer: server.issuer,
    audience: orders,
    jwksUri: `${server.base}/jwks`,
    ca: ca.root.certPem,
  });

  async function startApi(): Promise<Api> {
    const identity = await ca.issueServer();
    const log = capturingLogger();
    const app = Fastify({
      https: { cert: identity.chainPem, key: identity.keyPem },
      loggerInstance: log.logger,
    }) as unknown as FastifyInstance;
    const seen: Api['seen'] = [];
    app.addHook('onRequest', async (request) => {
      seen.push({ target: request.raw.url, host: request.headers.host });
    });
    const port = await freePort();
    const origin = `https://127.0.0.1:${port}`;
    await app.register(tollgateResource, { ...apiOptions(), dpop: { publicOrigin: origin } });
    app.get('/orders', { config: { tollgate: {} } }, async (request) => ({
      jkt: request.accessToken?.dpopJkt,
    }));
    await app.listen({ host: '127.0.0.1', port });
    return { app, origin, port, log, seen };
  }

  /** The reason code of the instance's last refusal. */
  const lastRefusal = (api: Api) =>
    (
      api.log.lines.filter((line) => line.tollgate !== undefined).at(-1)?.tollgate as {
        reason?: string;
      }
    )?.reason;

  /** GET /orders at `to`, as sent: DPoP token, proof, Host and the request target. */
  const send = (to: Api, proof: string, host: string, target = '/orders') =>
    call(`${to.origin}/orders`, {
      ca: ca.root.certPem,
      target,
      headers: { host, authorization: `DPoP ${token}`, dpop: proof },
    });

  /** One proof the client made for instance A, as the attacker captured it. */
  const proofForA = () =>
    makeProof(key, { htm: 'GET', htu: `${a.origin}/orders`, accessToken: token });

  beforeAll(async () => {
    ({ ca, server, key, token } = await startDpopIssuer('svc-orders-dpop', orders));
    expect(claimsOf(token)).toMatchObject({ aud: orders, cnf: { jkt: key.jkt } });
    a = await startApi();
    b = await startApi();
  });
  afterAll(async () => {
    await a?.app.close();
    await b?.app.close();
    await server?.dispose();
  });

  /** B's refusal: 401, the DPoP challenge with invalid_dpop_proof, the htu reason in B's log. */
  function expectRefusedByB(res: Awaited<ReturnType<typeof call>>): void {
    expect(res.status, res.text).toBe(401);
    expect(String(res.headers['www-authenticate'])).toMatch(/^DPoP error="invalid_dpop_proof"/);
    expect(res.json).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'the DPoP proof htu does not match the URI of this request',
    });
    expect(lastRefusal(b)).toBe('dpop_htu_mismatch');
  }

  it("B refuses A's proof sent with Host: A; A then takes it once", async () => {
    const proof = await proofForA();
    const hostOfA = `127.0.0.1:${a.port}`;
    expectRefusedByB(await send(b, proof, hostOfA));
    expect(b.seen.at(-1)).toEqual({ target: '/orders', host: hostOfA });
    // The same request is the client's own at A: accepted once, then a replay at A.
    const atA = await send(a, proof, hostOfA);
    expect(atA.status, atA.text).toBe(200);
    expect(atA.json).toEqual({ jkt: key.jkt });
    const again = await send(a, proof, hostOfA);
    expect(again.status).toBe(401);
    expect(lastRefusal(a)).toBe('dpop_replayed');
  });

  it("B refuses A's proof sent with an absolute-form target naming A; A takes it once", async () => {
    const proof = await proofForA();
    const uriAtA = `${a.origin}/orders`;
    const hostOfA = `127.0.0.1:${a.port}`;
    expectRefusedByB(await send(b, proof, hostOfA, uriAtA));
    expect(b.seen.at(-1)).toEqual({ target: uriAtA, host: hostOfA });
    expectRefusedByB(await send(b, proof, `127.0.0.1:${b.port}`, uriAtA));
    const atA = await send(a, proof, hostOfA, uriAtA);
    expect(atA.status, atA.text).toBe(200);
    expect((await send(a, proof, hostOfA, uriAtA)).status).toBe(401);
    expect(lastRefusal(a)).toBe('dpop_replayed');
  });

  it("B takes a proof made for B (the control: B works, and A's proofs fail only on htu)", async () => {
    const proof = await makeProof(key, {
      htm: 'GET',
      htu: `${b.origin}/orders`,
      accessToken: token,
    });
    const res = await send(b, proof, `127.0.0.1:${b.port}`);
    expect(res.status, res.text).toBe(200);
  });

  it('an instance that accepts DPoP and has no public origin does not start', async () => {
    for (const dpop of [undefined, {}, { enabled: true }]) {
      const unconfigured = Fastify();
      const registering = unconfigured.register(tollgateResource, {
        ...apiOptions(),
        ...(dpop === undefined ? {} : { dpop }),
      });
      await expect(registering.ready()).rejects.toThrow(
        'tollgateResource: dpop.publicOrigin is required while DPoP is accepted: set it to the origin clients call this API at (https://api.example.com, or a list of them), or set dpop.enabled: false',
      );
      await unconfigured.close();
    }
  });
});
