/**
 * Seeded fuzzing of workload identity at the running server: JWT-SVIDs signed with the trust
 * domain's real bundle key and Kubernetes service-account tokens signed with the cluster
 * issuer's real key (served over HTTPS by the test), with hostile headers and claims (look-alike
 * SPIFFE IDs and subjects, audiences, times, Kubernetes claims), sent for each registered client
 * and under each assertion type, beside tokens signed by a key nobody publishes.
 *
 * The oracle is the identity each client registered, read from the SPIFFE and RFC 7523 texts
 * independently of src/workload: a token is issued only for a workload token signed by the
 * configured source, whose `sub` is exactly the registered SPIFFE ID (or a well-formed ID under
 * the registered `/*` prefix, SPIFFE-ID §2.2: no empty, `.` or `..` segment, no percent-encoding)
 * or exactly the registered Kubernetes subject with its namespace and service-account UID, whose
 * `aud` names Tollgate, and which is unexpired; every refusal is an RFC 6749 error; no 5xx.
 *
 * Reproduce or widen: `TOLLGATE_FUZZ_SEED=N TOLLGATE_FUZZ_CASES=N npx vitest run
 * test/features/workload-fuzz.test.ts`.
 */
import { constants, createPrivateKey, sign } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, generateSigningJwk, type SigningJwk } from '../../src/dev-ca/index.js';
import { isSafeDescription } from '../../src/errors/index.js';
import { below, fuzzRun, hostileJson, pick, type Rng } from '../helpers/fuzz.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import {
  createTrustDomain,
  createWorkloadIssuer,
  type FixtureServer,
  startFixtureServer,
  type TrustDomain,
  type WorkloadIssuer,
} from '../helpers/workload.js';

const jwtSpiffe = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';
const exactId = 'spiffe://example.org/ns/prod/sa/api';
const k8sSubject = 'system:serviceaccount:payments:ledger';
const k8sUid = '00000000-0000-4000-8000-000000000001';

/** SPIFFE IDs near the registered ones: case, dots, encodings, separators, other domains. */
const lookAlikeIds = [
  exactId,
  `${exactId}/`,
  `${exactId}/..`,
  'spiffe://example.org/ns/prod/sa/api/../api',
  'spiffe://example.org/ns/prod/sa/./api',
  'spiffe://example.org/ns/prod/sa//api',
  'spiffe://example.org/ns/prod/sa/API',
  'spiffe://EXAMPLE.org/ns/prod/sa/api',
  'SPIFFE://example.org/ns/prod/sa/api',
  'spiffe://example.org/ns/prod/sa/%61pi',
  'spiffe://example.org/ns%2Fprod/sa/api',
  'spiffe://example.org./ns/prod/sa/api',
  'spiffe://example.org:443/ns/prod/sa/api',
  'spiffe://user@example.org/ns/prod/sa/api',
  'spiffe://example.org/ns/prod/sa/api?x=1',
  'spiffe://example.org/ns/prod/sa/api#x',
  'spiffe://other.org/ns/prod/sa/api',
  'spiffe://example.org.evil/ns/prod/sa/api',
  'spiffe://example.org/ns/prod/sa/api\u0000',
  'spiffe://example.org/client/1',
  'spiffe://example.org/client/a/b',
  'spiffe://example.org/client/',
  'spiffe://example.org/client',
  'spiffe://example.org/client123',
  'spiffe://example.org/client/..',
  'spiffe://example.org/client/.',
  'spiffe://example.org/client/../ns/prod/sa/api',
  'spiffe://example.org/client/%2e%2e',
  'spiffe://example.org/client/*',
  'spiffe://example.org/client/a b',
  'spiffe://example.org/Client/1',
  'spiffe://example.org',
  'spiffe://example.org/',
  'spiffe:///client/1',
  '',
];

const lookAlikeSubjects = [
  k8sSubject,
  `${k8sSubject} `,
  'system:serviceaccount:payments:ledger:extra',
  'system:serviceaccount:payments:Ledger',
  'system:serviceaccount:Payments:ledger',
  'system:serviceaccount:payments-x:ledger',
  'system:serviceaccount::ledger',
  'system:serviceaccounts:payments',
  exactId,
  '',
];

const pathOf = (id: string) => id.replace(/^spiffe:\/\/example\.org/, '');

/** Signs with `key` as its own alg says, whatever (hostile) `alg` the header carries. */
function signAs(key: SigningJwk, header: unknown, claims: unknown): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = Buffer.from(`${encode(header)}.${encode(claims)}`);
  const privateKey = createPrivateKey({ key: key.privateJwk as never, format: 'jwk' });
  const signature = sign(`sha${key.alg.slice(2)}`, input, {
    key: privateKey,
    ...(key.alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    ...(key.alg.startsWith('PS') ? { padding: constants.RSA_PKCS1_PSS_PADDING } : {}),
  });
  return `${input.toString()}.${signature.toString('base64url')}`;
}

describe('fuzzing workload identity at the running server', () => {
  let fixtures: FixtureServer;
  let domain: TrustDomain;
  let cluster: WorkloadIssuer;
  let stranger: SigningJwk;
  let tg: MtlsTollgate;

  beforeAll(async () => {
    fixtures = await startFixtureServer(await createDevCa());
    domain = await createTrustDomain('example.org');
    cluster = await createWorkloadIssuer(fixtures, '/cluster-a');
    cluster.publish();
    stranger = await generateSigningJwk('ES256');
    fixtures.routes.set('/example.org/bundle.json', { body: domain.bundle({ sequence: 1 }) });
    const caFile = join(await mkdtemp(join(tmpdir(), 'tollgate-wlfuzz-')), 'fixture-ca.pem');
    await writeFile(caFile, fixtures.caPem);
    tg = await startMtlsTollgate({
      ca: await createDevCa(),
      clients: [
        {
          client_id: 'svid-exact',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: exactId,
          scope: 'read',
        },
        {
          client_id: 'svid-wild',
          token_endpoint_auth_method: 'spiffe_jwt',
          spiffe_id: 'spiffe://example.org/client/*',
          scope: 'read',
        },
        {
          client_id: 'ledger',
          token_endpoint_auth_method: 'federated_jwt',
          federated_identity: {
            source: 'cluster-a',
            subject: k8sSubject,
            kubernetes_namespace: 'payments',
            kubernetes_service_account_uid: k8sUid,
          },
          scope: 'read',
        },
      ],
      tollgate: { workload: { poll: false } },
      config: {
        // Limits would turn the corpus into 429s before it reached the workload checks.
        rateLimits: { failedAuthPerAddress: 1_000_000, failedAuthPerClient: 1_000_000 },
        workloadIdentity: {
          sources: [
            {
              kind: 'spiffe',
              name: 'example-org',
              trustDomain: 'example.org',
              bundleEndpointUrl: `${fixtures.base}/example.org/bundle.json`,
              caFile,
            },
            { kind: 'oidc-issuer', name: 'cluster-a', issuer: cluster.issuer, caFile },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await tg?.dispose();
    await fixtures?.close();
  });

  it('issues only for the registered identity, and answers the rest in form', async () => {
    const { seed, cases, rng } = fuzzRun(400);
    const issuedTo = new Map<string, number>();
    for (let i = 0; i < cases; i++) {
      const built = await buildCase(rng);
      const label = `seed ${seed} case ${i}: ${built.clientId} ${built.type} ${built.assertion}`;
      const result = await tg.token({
        grant_type: 'client_credentials',
        client_id: built.clientId,
        client_assertion_type: built.type,
        client_assertion: built.assertion,
      });
      expect(result.status, `${label}: ${JSON.stringify(result)}`).toBeLessThan(500);
      if (!result.ok) {
        expect(typeof result.error === 'string' && result.error !== '', label).toBe(true);
        if (result.errorDescription !== undefined) {
          expect(
            isSafeDescription(result.errorDescription),
            `${label}: ${result.errorDescription}`,
          ).toBe(true);
        }
        continue;
      }
      expect(claimsOf(result.accessToken).client_id, label).toBe(built.clientId);
      expectEarned(built, label);
      issuedTo.set(built.clientId, (issuedTo.get(built.clientId) ?? 0) + 1);
    }
    // Every client got tokens from the corpus: the checks past the signature were reached.
    expect([...issuedTo.keys()].sort()).toEqual(['ledger', 'svid-exact', 'svid-wild']);
  }, 600_000); // bounded by the case count; a corpus run by hand may take minutes

  interface Built {
    readonly clientId: string;
    readonly type: string;
    readonly assertion: string;
    readonly signer: 'domain' | 'cluster' | 'stranger';
    readonly header: Record<string, unknown>;
    readonly claims: Record<string, unknown>;
  }

  async function buildCase(rng: Rng): Promise<Built> {
    const now = Math.floor(Date.now() / 1000);
    const kubernetes = below(rng, 3) === 0;
    const clientId = kubernetes
      ? pick(rng, ['ledger', 'ledger', 'svid-exact'])
      : pick(rng, ['svid-exact', 'svid-wild', 'svid-wild', 'ledger']);
    const type =
      below(rng, 8) === 0
        ? pick(rng, [jwtSpiffe, jwtBearerAssertionType])
        : kubernetes
          ? jwtBearerAssertionType
          : jwtSpiffe;
    const header: Record<string, unknown> = kubernetes
      ? { alg: 'RS256', kid: cluster.key.kid }
      : { alg: domain.jwtKey.alg, kid: domain.jwtKey.kid, typ: 'JWT' };
    const claims: Record<string, unknown> = kubernetes
      ? {
          iss: cluster.issuer,
          sub: pick(rng, lookAlikeSubjects.slice(0, 3)),
          aud: tg.issuer,
          iat: now,
          nbf: now,
          exp: now + 600,
          jti: `k-${below(rng, 1e9)}`,
          'kubernetes.io': {
            namespace: 'payments',
            serviceaccount: { name: 'ledger', uid: k8sUid },
          },
        }
      : {
          sub: pick(rng, [
            exactId,
            `spiffe://example.org/client/${below(rng, 100)}`,
            pick(rng, lookAlikeIds),
          ]),
          aud: tg.issuer,
          iat: now,
          exp: now + 300,
        };
    for (let changes = below(rng, 3); changes > 0; changes--) {
      switch (below(rng, 6)) {
        case 0:
          claims.sub = pick(rng, kubernetes ? lookAlikeSubjects : lookAlikeIds);
          break;
        case 1:
          claims.aud = pick(rng, [
            [tg.issuer],
            [tg.issuer, 'https://other.example'],
            `${tg.issuer}/token`,
            `${tg.issuer}/`,
            'https://other.example',
            hostileJson(rng),
          ]);
          break;
        case 2:
          claims[pick(rng, ['iat', 'exp', 'nbf'])] = pick(rng, [
            now - 7200,
            now + 7200,
            now - 301,
            `${now + 60}`,
            hostileJson(rng),
          ]);
          break;
        case 3:
          if (kubernetes) {
            claims['kubernetes.io'] = pick(rng, [
              { namespace: 'payments', serviceaccount: { name: 'ledger', uid: 'other-uid' } },
              { namespace: 'other', serviceaccount: { name: 'ledger', uid: k8sUid } },
              { namespace: 'payments' },
              hostileJson(rng),
            ]);
          } else claims.iss = pick(rng, [cluster.issuer, 'spiffe://example.org', hostileJson(rng)]);
          break;
        case 4:
          header[pick(rng, ['alg', 'kid', 'typ', 'jku', 'x5c', 'crit', 'jwk'])] = hostileJson(rng);
          break;
        default:
          claims[pick(rng, ['sub', 'aud', 'exp', 'iss', 'jti'])] = undefined;
      }
    }
    const signer = below(rng, 10) === 0 ? 'stranger' : kubernetes ? 'cluster' : 'domain';
    const key =
      signer === 'stranger' ? stranger : signer === 'cluster' ? cluster.key : domain.jwtKey;
    return { clientId, type, assertion: signAs(key, header, claims), signer, header, claims };
  }

  /** What the registered identity and the specs require of a token that got an access token. */
  function expectEarned(built: Built, label: string): void {
    const { claims, header } = built;
    const now = Date.now() / 1000;
    // Signed as the header says (no algorithm switch), and no header member that asks for more.
    const alg = built.signer === 'cluster' ? cluster.key.alg : domain.jwtKey.alg;
    expect(header.alg, label).toBe(alg);
    expect(header.crit, label).toBeUndefined();
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    expect(audiences, label).toContain(tg.issuer);
    expect(typeof claims.exp === 'number' && claims.exp > now - 60, label).toBe(true);
    if (built.clientId === 'ledger') {
      expect(built.signer, label).toBe('cluster');
      expect(built.type, label).toBe(jwtBearerAssertionType);
      expect(claims.iss, label).toBe(cluster.issuer);
      expect(claims.sub, label).toBe(k8sSubject);
      expect(claims['kubernetes.io'], label).toMatchObject({
        namespace: 'payments',
        serviceaccount: { uid: k8sUid },
      });
      return;
    }
    expect(built.signer, label).toBe('domain');
    expect(built.type, label).toBe(jwtSpiffe);
    if (built.clientId === 'svid-exact') {
      expect(claims.sub, label).toBe(exactId);
      return;
    }
    // svid-wild: one or more well-formed segments under /client/ (SPIFFE-ID §2.2).
    const path = pathOf(String(claims.sub));
    expect(String(claims.sub).startsWith('spiffe://example.org/client/'), label).toBe(true);
    const segments = path.split('/').slice(2);
    expect(segments.length, label).toBeGreaterThan(0);
    for (const segment of segments) {
      expect(/^[A-Za-z0-9._-]+$/.test(segment) && segment !== '.' && segment !== '..', label).toBe(
        true,
      );
    }
  }
});
