/**
 * Workload identity end to end over real HTTPS: Tollgate on 127.0.0.1 with SPIFFE trust domains
 * whose bundles come from a bundle endpoint (served here over https), and a Kubernetes-shaped
 * issuer whose discovery and JWKS are served here too. JWT-SVIDs, X.509-SVIDs (mTLS) and
 * service-account tokens; each refusal asserts its own error description. The clock is
 * injected: bundle staleness is tested by moving it, never by sleeping.
 *
 * @see draft-ietf-oauth-spiffe-client-auth §3.1, §3.2, §4.1, §6, §8
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenCommand } from '../../src/cli/token.js';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { TokenClient } from '../../src/client/index.js';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, generateSigningJwk } from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import {
  createTrustDomain,
  createWorkloadIssuer,
  type FixtureServer,
  startFixtureServer,
  type TrustDomain,
  type WorkloadIssuer,
} from '../helpers/workload.js';

const jwtSpiffe = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';

function expectToken(result: TokenResult): Record<string, unknown> {
  expect(result.ok, JSON.stringify(result)).toBe(true);
  if (!result.ok) throw new Error('unreachable');
  return claimsOf(result.accessToken);
}

function expectError(
  result: TokenResult,
  status: number,
  error: string,
  description: RegExp,
): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect({ status: result.status, error: result.error }).toEqual({ status, error });
  expect(result.errorDescription).toMatch(description);
}

describe('workload identity over real HTTPS', () => {
  let serverCa: DevCa;
  let fixtures: FixtureServer;
  let td: TrustDomain;
  let other: TrustDomain;
  let cluster: WorkloadIssuer;
  let rogue: WorkloadIssuer;
  let tg: MtlsTollgate;
  let nowMs = Date.now();
  const nowSeconds = () => nowMs / 1000;

  const bundlePath = '/example.org/bundle.json';
  const setBundle = (body: unknown) => fixtures.routes.set(bundlePath, { body });

  beforeAll(async () => {
    serverCa = await createDevCa();
    fixtures = await startFixtureServer(serverCa);
    td = await createTrustDomain('example.org');
    other = await createTrustDomain('other.org');
    cluster = await createWorkloadIssuer(fixtures, '/cluster-a');
    rogue = await createWorkloadIssuer(fixtures, '/rogue');
    cluster.publish();
    rogue.publish();
    setBundle(td.bundle({ sequence: 1 }));
    fixtures.routes.set('/other.org/bundle.json', { body: other.bundle() });

    tg = await startMtlsTollgate({
      ca: serverCa,
      clients: [
        {
          client_id: 'svid-exact',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: 'spiffe://example.org/ns/prod/sa/api',
          scope: 'read',
        },
        {
          client_id: 'svid-wild',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: 'spiffe://example.org/client/*',
          scope: 'read',
        },
        {
          client_id: 'svid-x509',
          token_endpoint_auth_method: 'spiffe_x509',
          spiffe_id: 'spiffe://example.org/x509/worker',
          scope: 'read',
        },
        {
          client_id: 'ledger',
          token_endpoint_auth_method: 'federated_jwt',
          federated_identity: {
            source: 'cluster-a',
            subject: 'system:serviceaccount:payments:ledger',
            kubernetes_namespace: 'payments',
            kubernetes_service_account_uid: '00000000-0000-4000-8000-000000000001',
          },
          scope: 'read',
        },
        {
          // A federated client whose subject is a SPIFFE ID: what an operator writes when an
          // oidc-issuer source is SPIRE's OIDC discovery provider (the bundle's keys, as a JWKS).
          client_id: 'svid-via-issuer',
          token_endpoint_auth_method: 'federated_jwt',
          federated_identity: {
            source: 'cluster-a',
            subject: 'spiffe://example.org/ns/prod/sa/api',
          },
          scope: 'read',
        },
        {
          client_id: 'pkjwt',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [(await generateSigningJwk('ES256')).publicJwk] },
          scope: 'read',
        },
      ],
      tollgate: { now: () => nowMs, workload: { poll: false } },
      config: {
        workloadIdentity: {
          sources: [
            {
              kind: 'spiffe',
              name: 'example-org',
              trustDomain: 'example.org',
              bundleEndpointUrl: `${fixtures.base}${bundlePath}`,
              caFile: await writeCa(),
              defaultRefreshHintSeconds: 300,
              maxStalenessSeconds: 600,
            },
            {
              kind: 'oidc-issuer',
              name: 'cluster-a',
              issuer: cluster.issuer,
              caFile: await writeCa(),
            },
          ],
        },
      },
    });
  });

  async function writeCa(): Promise<string> {
    const file = join(await mkdtemp(join(tmpdir(), 'tollgate-wl-')), 'fixture-ca.pem');
    await writeFile(file, fixtures.caPem);
    return file;
  }

  afterAll(async () => {
    await tg?.dispose();
    await fixtures?.close();
  });

  const svidRequest = (clientId: string, assertion: string, type = jwtSpiffe) =>
    tg.token({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_assertion_type: type,
      client_assertion: assertion,
    });

  describe('JWT-SVID (jwt-spiffe)', () => {
    it('issues a token for the registered SPIFFE ID', async () => {
      const svid = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      const claims = expectToken(await svidRequest('svid-exact', svid));
      expect(claims.sub).toBe('svid-exact');
      // reuse-allowed (the default): SPIRE hands the same JWT-SVID to every request.
      expectToken(await svidRequest('svid-exact', svid));
    });

    it('matches /client/* on whole path segments only', async () => {
      const ok = await td.jwtSvid('/client/123', { aud: [tg.issuer], nowSeconds: nowSeconds() });
      expectToken(await svidRequest('svid-wild', ok));
      const lookAlike = await td.jwtSvid('/client123', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await svidRequest('svid-wild', lookAlike),
        401,
        'invalid_client',
        /SPIFFE ID is not registered for this client_id/,
      );
      const parent = await td.jwtSvid('/client', { aud: tg.issuer, nowSeconds: nowSeconds() });
      expectError(
        await svidRequest('svid-wild', parent),
        401,
        'invalid_client',
        /not registered for this client_id/,
      );
    });

    it('refuses a JWT-SVID of another trust domain', async () => {
      const foreign = await other.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await svidRequest('svid-exact', foreign),
        401,
        'invalid_client',
        /trust domain other\.org is not configured/,
      );
      // The other domain's key signing a sub in our domain: the kid is not in our bundle.
      const forged = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        key: other.jwtKey,
      });
      expectError(
        await svidRequest('svid-exact', forged),
        401,
        'invalid_client',
        /no key of the trust source matches/,
      );
    });

    it('refuses an aud that is not the issuer, or has two values', async () => {
      const wrong = await td.jwtSvid('/ns/prod/sa/api', {
        aud: `${tg.issuer}/token`,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await svidRequest('svid-exact', wrong),
        401,
        'invalid_client',
        /aud must be the issuer identifier/,
      );
      const two = await td.jwtSvid('/ns/prod/sa/api', {
        aud: [tg.issuer, 'https://other.example'],
        nowSeconds: nowSeconds(),
      });
      expectError(await svidRequest('svid-exact', two), 401, 'invalid_client', /as its only value/);
    });

    it('refuses an alg outside the JWT-SVID list and extra header parameters', async () => {
      const ed = await generateSigningJwk('EdDSA');
      const edSvid = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        key: ed,
      });
      expectError(
        await svidRequest('svid-exact', edSvid),
        401,
        'invalid_client',
        /a JWT-SVID alg is one of RS256/,
      );
      const jku = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        header: { jku: 'https://evil.example/jwks' },
      });
      expectError(
        await svidRequest('svid-exact', jku),
        401,
        'invalid_client',
        /carries only alg, kid and typ/,
      );
      const typ = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        header: { typ: 'at+jwt' },
      });
      expectError(
        await svidRequest('svid-exact', typ),
        401,
        'invalid_client',
        /typ is JWT or JOSE/,
      );
    });

    it('refuses a JWT-SVID sent as jwt-bearer (no downgrade between profiles)', async () => {
      const svid = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await svidRequest('svid-exact', svid, jwtBearerAssertionType),
        401,
        'invalid_client',
        /registered for spiffe_jwt/,
      );
      // and a JWT-SVID for a private_key_jwt client
      expectError(
        await svidRequest('pkjwt', svid),
        401,
        'invalid_client',
        /registered for private_key_jwt/,
      );
    });

    it('refuses an expired or over-age JWT-SVID', async () => {
      const expired = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds() - 1000,
      });
      expectError(await svidRequest('svid-exact', expired), 401, 'invalid_client', /has expired/);
      const old = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        claims: { iat: Math.floor(nowSeconds()) - 900 },
      });
      expectError(
        await svidRequest('svid-exact', old),
        401,
        'invalid_client',
        /older than this source accepts \(300 s\)/,
      );
      const noIatLong = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        claims: { iat: undefined, exp: Math.floor(nowSeconds()) + 7200 },
      });
      expectError(
        await svidRequest('svid-exact', noIatLong),
        401,
        'invalid_client',
        /older than this source accepts/,
      );
    });
  });

  describe('X.509-SVID (mTLS)', () => {
    // Certificates are issued on the real clock; keep the injected one at or after it.
    beforeAll(() => {
      nowMs = Math.max(nowMs, Date.now() + 2_000);
    });

    it('issues a certificate-bound token for the registered SPIFFE ID', async () => {
      const svid = await td.x509Svid(['spiffe://example.org/x509/worker']);
      const claims = expectToken(
        await tg.token(
          { grant_type: 'client_credentials', client_id: 'svid-x509' },
          { cert: svid.chainPem, key: svid.keyPem },
        ),
      );
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(svid.certPem) });
    });

    it('refuses two URI SANs, a CA certificate, another trust domain and the tls_client_auth CA', async () => {
      const two = await td.x509Svid([
        'spiffe://example.org/x509/worker',
        'spiffe://example.org/x509/other',
      ]);
      expectError(
        await tg.token(
          { grant_type: 'client_credentials', client_id: 'svid-x509' },
          { cert: two.chainPem, key: two.keyPem },
        ),
        401,
        'invalid_client',
        /exactly one URI SAN/,
      );
      const caSvid = await td.caSvid('spiffe://example.org/x509/worker');
      expectError(
        await tg.token({ grant_type: 'client_credentials', client_id: 'svid-x509' }, caSvid),
        401,
        'invalid_client',
        /CA certificate cannot authenticate/,
      );
      const foreign = await other.x509Svid(['spiffe://other.org/x509/worker']);
      expectError(
        await tg.token(
          { grant_type: 'client_credentials', client_id: 'svid-x509' },
          { cert: foreign.chainPem, key: foreign.keyPem },
        ),
        401,
        'invalid_client',
        /trust domain other\.org is not configured/,
      );
      // Right SPIFFE ID, but issued by the tls_client_auth CA: SPIFFE bundles are never merged with it.
      const lookAlike = await serverCa.issueClient({
        subject: 'O=SPIRE,C=US',
        sanUri: ['spiffe://example.org/x509/worker'],
        sanDns: [],
      });
      expectError(
        await tg.token(
          { grant_type: 'client_credentials', client_id: 'svid-x509' },
          { cert: lookAlike.chainPem, key: lookAlike.keyPem },
        ),
        401,
        'invalid_client',
        /does not chain to a trusted CA/,
      );
    });
  });

  describe('Kubernetes service-account tokens (federated_jwt)', () => {
    const saRequest = (token: string, clientId = 'ledger') =>
      tg.token({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: token,
      });

    it('issues a token for the registered service account', async () => {
      const token = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: [tg.issuer],
        nowSeconds: nowSeconds(),
      });
      expect(claimsOf(expectTokenRaw(await saRequest(token))).sub).toBe('ledger');
    });

    it('refuses a token of an issuer that is not configured, even with reachable discovery', async () => {
      const before = fixtures.hits.get('/rogue/.well-known/openid-configuration') ?? 0;
      const token = await rogue.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(await saRequest(token), 401, 'invalid_client', /issuer is not configured/);
      expect(fixtures.hits.get('/rogue/.well-known/openid-configuration') ?? 0).toBe(before);
    });

    it('refuses the sub of another service account and a recreated account', async () => {
      const otherSa = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'billing',
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await saRequest(otherSa),
        401,
        'invalid_client',
        /sub is not registered for this client_id/,
      );
      const recreated = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        uid: '00000000-0000-4000-8000-0000000000ff',
      });
      expectError(
        await saRequest(recreated),
        401,
        'invalid_client',
        /registered service account \(uid\)/,
      );
    });

    it('refuses an aud that is not the issuer, an expired and an over-age token', async () => {
      const api = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: ['https://kubernetes.default.svc'],
        nowSeconds: nowSeconds(),
      });
      expectError(await saRequest(api), 401, 'invalid_client', /aud must be the issuer identifier/);
      const expired = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: tg.issuer,
        nowSeconds: nowSeconds() - 7200,
      });
      expectError(await saRequest(expired), 401, 'invalid_client', /has expired/);
      const overAge = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: tg.issuer,
        nowSeconds: nowSeconds() - 5400,
        lifetimeSeconds: 86_400,
      });
      expectError(
        await saRequest(overAge),
        401,
        'invalid_client',
        /older than this source accepts \(3600 s\)/,
      );
    });

    it('never lets a federated token authenticate a private_key_jwt client', async () => {
      const token = await cluster.token({
        namespace: 'payments',
        serviceAccount: 'ledger',
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await saRequest(token, 'pkjwt'),
        401,
        'invalid_client',
        /client_id must equal the client_assertion sub/,
      );
    });

    it('refuses a JWT-SVID as a jwt-bearer workload token, even from a configured issuer', async () => {
      // The attack: a JWT-SVID signed with keys an oidc-issuer source trusts (SPIRE's OIDC
      // discovery provider serves the trust domain's JWT keys), sent as jwt-bearer. It escaped
      // the jwt-spiffe profile: the trust domain's bundle and policy (algorithms, age cap, jti).
      // The code before this change issued a token.
      const svid = await cluster.token({
        namespace: 'unused',
        serviceAccount: 'unused',
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        claims: { sub: 'spiffe://example.org/ns/prod/sa/api', 'kubernetes.io': undefined },
      });
      expectError(
        await saRequest(svid, 'svid-via-issuer'),
        401,
        'invalid_client',
        /a JWT-SVID \(its sub is a SPIFFE ID\) authenticates only with client_assertion_type jwt-spiffe/,
      );
    });
  });

  describe('client SDK and CLI', () => {
    it('TokenClient sends the JWT-SVID file and re-reads it when the agent rewrites it', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-svid-'));
      const tokenFile = join(dir, 'svid.token');
      await writeFile(
        tokenFile,
        await td.jwtSvid('/ns/prod/sa/api', { aud: tg.issuer, nowSeconds: nowSeconds() }),
      );
      const client = new TokenClient({
        tokenEndpoint: `${tg.base}/token`,
        auth: { method: 'spiffe_jwt', clientId: 'svid-exact', tokenFile },
        ca: serverCa.root.certPem,
        retry: { maxAttempts: 1 },
      });
      try {
        expect(claimsOf((await client.getToken()).accessToken).sub).toBe('svid-exact');
        // The agent rewrites the file: a token for another workload now, so the next request fails.
        await writeFile(
          tokenFile,
          await td.jwtSvid('/ns/prod/sa/other', { aud: tg.issuer, nowSeconds: nowSeconds() }),
        );
        await expect(client.getToken({ forceRefresh: true })).rejects.toMatchObject({
          error: 'invalid_client',
          errorDescription: expect.stringMatching(/not registered for this client_id/),
        });
        await writeFile(
          tokenFile,
          `${await td.jwtSvid('/ns/prod/sa/api', { aud: tg.issuer, nowSeconds: nowSeconds() })}\n`,
        );
        expect((await client.getToken({ forceRefresh: true })).accessToken).toBeTypeOf('string');
      } finally {
        await client.close();
      }
    });

    it('TokenClient presents an X.509-SVID pair and gets a bound token', async () => {
      nowMs = Math.max(nowMs, Date.now() + 2_000);
      const svid = await td.x509Svid(['spiffe://example.org/x509/worker']);
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-x509-svid-'));
      await writeFile(join(dir, 'svid.pem'), svid.chainPem);
      await writeFile(join(dir, 'svid-key.pem'), svid.keyPem, { mode: 0o600 });
      const client = new TokenClient({
        tokenEndpoint: `${tg.base}/token`,
        auth: {
          method: 'spiffe_x509',
          clientId: 'svid-x509',
          certFile: join(dir, 'svid.pem'),
          keyFile: join(dir, 'svid-key.pem'),
        },
        ca: serverCa.root.certPem,
        retry: { maxAttempts: 1 },
      });
      try {
        const token = await client.getToken();
        expect(claimsOf(token.accessToken).cnf).toEqual({ 'x5t#S256': thumbprintOf(svid.certPem) });
      } finally {
        await client.close();
      }
    });

    it('tollgate token --federated-token and --spiffe-jwt', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tollgate-cli-wl-'));
      const ca = join(dir, 'ca.pem');
      await writeFile(ca, serverCa.root.certPem);
      const saFile = join(dir, 'token');
      await writeFile(
        saFile,
        await cluster.token({
          namespace: 'payments',
          serviceAccount: 'ledger',
          aud: tg.issuer,
          nowSeconds: nowSeconds(),
        }),
      );
      const out: string[] = [];
      const io = {
        stdout: { write: (t: string) => out.push(t) },
        stderr: { write: (t: string) => out.push(t) },
      };
      const common = ['--token-endpoint', `${tg.base}/token`, '--ca', ca, '--json'];
      expect(
        await tokenCommand(['--client-id', 'ledger', '--federated-token', saFile, ...common], io),
      ).toBe(0);
      expect(JSON.parse(out.join('')).response.token_type).toBe('Bearer');
      out.length = 0;
      const svidFile = join(dir, 'svid.token');
      await writeFile(
        svidFile,
        await td.jwtSvid('/client/cli', { aud: tg.issuer, nowSeconds: nowSeconds() }),
      );
      expect(
        await tokenCommand(['--client-id', 'svid-wild', '--spiffe-jwt', svidFile, ...common], io),
      ).toBe(0);
      out.length = 0;
      // The SA token for the JWT-SVID client: refused (exit 1), the profiles never cross.
      expect(
        await tokenCommand(
          ['--client-id', 'svid-exact', '--federated-token', saFile, ...common],
          io,
        ),
      ).toBe(1);
      expect(out.join('')).toMatch(/registered for spiffe_jwt/);
      expect(
        await tokenCommand(
          ['--client-id', 'x', '--spiffe-jwt', svidFile, '--federated-token', saFile, ...common],
          io,
        ),
      ).toBe(2);
    });
  });

  // Last: these move the clock and change the bundle.
  describe('bundle rotation and outages', () => {
    it('picks up a key added before the refresh hint with one rate-limited refetch', async () => {
      const added = await generateSigningJwk('ES384');
      setBundle(td.bundle({ sequence: 2, jwtKeys: [td.jwtKey, added] }));
      nowMs += 60_000; // still fresh (300 s hint), but past the 30 s refetch throttle
      const svid = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        key: added,
      });
      expectToken(await svidRequest('svid-exact', svid));
    });

    it('refuses a key rotated out of the bundle, and everything when the bundle is emptied', async () => {
      nowMs += 400_000; // past the 300 s refresh hint: the next request polls
      const rotated = await generateSigningJwk('ES256');
      setBundle(td.bundle({ sequence: 3, jwtKeys: [rotated] }));
      const old = await td.jwtSvid('/ns/prod/sa/api', { aud: tg.issuer, nowSeconds: nowSeconds() });
      expectError(
        await svidRequest('svid-exact', old),
        401,
        'invalid_client',
        /no key of the trust source matches/,
      );
      const fresh = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        key: rotated,
      });
      expectToken(await svidRequest('svid-exact', fresh));

      nowMs += 400_000;
      setBundle({ keys: [], spiffe_sequence: 4 });
      const again = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
        key: rotated,
      });
      expectError(
        await svidRequest('svid-exact', again),
        401,
        'invalid_client',
        /has no keys: every SVID of the domain is refused/,
      );
      const svid = await td.x509Svid(['spiffe://example.org/x509/worker']);
      expectError(
        await tg.token(
          { grant_type: 'client_credentials', client_id: 'svid-x509' },
          { cert: svid.chainPem, key: svid.keyPem },
        ),
        401,
        'invalid_client',
        /has no keys/,
      );

      // A rollback to an older sequence is ignored: the newer (empty) bundle stays in force.
      nowMs += 400_000;
      setBundle(td.bundle({ sequence: 1 }));
      const rolledBack = await td.jwtSvid('/ns/prod/sa/api', {
        aud: tg.issuer,
        nowSeconds: nowSeconds(),
      });
      expectError(
        await svidRequest('svid-exact', rolledBack),
        401,
        'invalid_client',
        /has no keys/,
      );
    });

    it('keeps the last good bundle while the endpoint is down, then fails closed', async () => {
      nowMs += 400_000;
      setBundle(td.bundle({ sequence: 10, refreshHint: 300 }));
      const svid = async () =>
        td.jwtSvid('/ns/prod/sa/api', { aud: tg.issuer, nowSeconds: nowSeconds() });
      expectToken(await svidRequest('svid-exact', await svid()));

      fixtures.routes.set(bundlePath, 'down');
      nowMs += 400_000; // stale (past 300 s) but within 300 + 600 s: still served
      expectToken(await svidRequest('svid-exact', await svid()));
      nowMs += 400_000; // 800 s after the fetch: still within 900 s
      expectToken(await svidRequest('svid-exact', await svid()));
      nowMs += 200_000; // 1000 s: past the staleness limit
      const result = await svidRequest('svid-exact', await svid());
      expectError(result, 503, 'temporarily_unavailable', /no current keys/);

      setBundle(td.bundle({ sequence: 11 }));
      nowMs += 10_000; // past the error backoff
      expectToken(await svidRequest('svid-exact', await svid()));
    });
  });
});

function expectTokenRaw(result: TokenResult): string {
  expect(result.ok, JSON.stringify(result)).toBe(true);
  if (!result.ok) throw new Error('unreachable');
  return result.accessToken;
}
