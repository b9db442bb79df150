/**
 * DPoP with workload client authentication, over real TLS: Tollgate on 127.0.0.1 with a SPIFFE
 * trust domain (bundle endpoint) and a Kubernetes-shaped issuer (discovery + JWKS), both served
 * here over https, each with `jti: required-unique` so every workload token is single use.
 *
 * The attack: a client (or whoever sits between it and Tollgate) sends a valid workload token
 * with a bad DPoP proof. RFC 9449 §5 and issue 16: the client is authenticated first, and the
 * token's `jti` is not burned by a bad proof, so the same token then works once with a good
 * proof, and a third use is refused as a replay. Before the fix the workload methods spent the
 * `jti` before the proof was checked: the second request was refused as replayed.
 *
 * @see RFC 9449 §5, draft-ietf-oauth-spiffe-client-auth §3.1
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, generateSigningJwk } from '../../src/dev-ca/index.js';
import {
  encode,
  expectOAuthError,
  formType,
  type RawResponse,
  rawRequest,
} from '../conformance/support.js';
import {
  capturingLogger,
  lastReason,
  makeProof,
  makeProofKey,
  type ProofKey,
  type ProofSpec,
} from '../helpers/dpop.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import {
  createTrustDomain,
  createWorkloadIssuer,
  type FixtureServer,
  signJwt,
  startFixtureServer,
  type TrustDomain,
  type WorkloadIssuer,
} from '../helpers/workload.js';

const jwtSpiffe = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';
const jwtBearer = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('DPoP with workload client authentication (RFC 9449 §5)', () => {
  let serverCa: DevCa;
  let fixtures: FixtureServer;
  let td: TrustDomain;
  let cluster: WorkloadIssuer;
  let tg: MtlsTollgate;
  let key: ProofKey;
  const log = capturingLogger();
  const now = () => Date.now() / 1000;

  beforeAll(async () => {
    serverCa = await createDevCa();
    fixtures = await startFixtureServer(serverCa);
    td = await createTrustDomain('example.org');
    cluster = await createWorkloadIssuer(fixtures, '/cluster-a');
    cluster.publish();
    fixtures.routes.set('/example.org/bundle.json', { body: td.bundle({ sequence: 1 }) });
    const caFile = join(await mkdtemp(join(tmpdir(), 'tollgate-wl-dpop-')), 'fixture-ca.pem');
    await writeFile(caFile, fixtures.caPem);
    key = await makeProofKey('ES256');

    tg = await startMtlsTollgate({
      ca: serverCa,
      clients: [
        {
          client_id: 'svid',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: 'spiffe://example.org/ns/prod/sa/api',
          scope: 'read',
        },
        {
          client_id: 'ledger',
          token_endpoint_auth_method: 'federated_jwt',
          federated_identity: {
            source: 'cluster-a',
            subject: 'system:serviceaccount:payments:ledger',
          },
          scope: 'read',
        },
      ],
      tollgate: { logger: log.logger, workload: { poll: false } },
      config: {
        rateLimits: { enabled: false },
        workloadIdentity: {
          sources: [
            {
              kind: 'spiffe',
              name: 'example-org',
              trustDomain: 'example.org',
              bundleEndpointUrl: `${fixtures.base}/example.org/bundle.json`,
              caFile,
              jti: 'required-unique',
            },
            {
              kind: 'oidc-issuer',
              name: 'cluster-a',
              issuer: cluster.issuer,
              caFile,
              jti: 'required-unique',
            },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await tg?.dispose();
    await fixtures?.close();
  });

  const proof = (spec: Partial<ProofSpec> = {}) =>
    makeProof(key, { htu: `${tg.issuer}/token`, ...spec });

  const post = async (
    clientId: string,
    type: string,
    assertion: string,
    dpop: string,
  ): Promise<RawResponse> =>
    rawRequest(tg.base, serverCa.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType, dpop },
      body: encode({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: type,
        client_assertion: assertion,
      }),
    });

  /** Bad proof, then good proof, then the same token again: refused, DPoP token, replayed. */
  async function expectNotBurned(clientId: string, type: string, token: string): Promise<void> {
    const bad = await post(clientId, type, token, await proof({ htm: 'GET' }));
    expectOAuthError(bad, 400, 'invalid_dpop_proof');
    expect(lastReason(log.lines), bad.text).toBe('dpop_htm_mismatch');

    const good = await post(clientId, type, token, await proof());
    expect(good.status, good.text).toBe(200);
    expect(good.json?.token_type).toBe('DPoP');
    expect(claimsOf(String(good.json?.access_token)).cnf).toEqual({ jkt: key.jkt });

    // The policy is single use: the jti was spent by the good request, and only by it.
    const third = await post(clientId, type, token, await proof());
    expectOAuthError(third, 401, 'invalid_client');
    expect(lastReason(log.lines), third.text).toBe('assertion_replayed');
  }

  it("JWT-SVID: a bad proof does not burn the SVID's jti", async () => {
    const svid = await td.jwtSvid('/ns/prod/sa/api', {
      aud: tg.issuer,
      nowSeconds: now(),
      claims: { jti: crypto.randomUUID() },
    });
    await expectNotBurned('svid', jwtSpiffe, svid);
  });

  it("Kubernetes service-account token: a bad proof does not burn the token's jti", async () => {
    const token = await cluster.token({
      namespace: 'payments',
      serviceAccount: 'ledger',
      aud: tg.issuer,
      nowSeconds: now(),
    });
    expect(claimsOf(token).jti).toEqual(expect.any(String));
    await expectNotBurned('ledger', jwtBearer, token);
  });

  it('a stale proof (another refusal after authentication) does not burn the jti either', async () => {
    const svid = await td.jwtSvid('/ns/prod/sa/api', {
      aud: tg.issuer,
      nowSeconds: now(),
      claims: { jti: crypto.randomUUID() },
    });
    const stale = await post(
      'svid',
      jwtSpiffe,
      svid,
      await proof({ claims: { iat: Math.floor(now()) - 3600 } }),
    );
    expectOAuthError(stale, 400, 'invalid_dpop_proof');
    expect(lastReason(log.lines), stale.text).toBe('dpop_iat_too_old');
    const good = await post('svid', jwtSpiffe, svid, await proof());
    expect(good.status, good.text).toBe(200);
  });

  it('an unauthenticated caller with a bad proof learns only invalid_client', async () => {
    // The cluster's claims and kid, signed by a key that is not the cluster's: a forgery.
    const forger = await generateSigningJwk('RS256');
    const nowSeconds = Math.floor(now());
    const forged = await signJwt(
      forger.privateJwk,
      { alg: 'RS256', kid: cluster.key.kid },
      {
        iss: cluster.issuer,
        sub: 'system:serviceaccount:payments:ledger',
        aud: tg.issuer,
        iat: nowSeconds,
        exp: nowSeconds + 600,
        jti: crypto.randomUUID(),
      },
    );
    const res = await post('ledger', jwtBearer, forged, 'garbage');
    expectOAuthError(res, 401, 'invalid_client');
    expect(lastReason(log.lines), res.text).toBe('assertion_signature_invalid');
  });
});
