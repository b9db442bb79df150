/**
 * Unit tests of the workload-identity methods (JWT-SVID, X.509-SVID, federated workload tokens)
 * and their dispatch, with real trust sources read from files (a SPIFFE bundle file, a JWKS file)
 * and certificates from the dev CA. Each refusal is checked by its reason code.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ClientAuthDispatcher,
  type ClientAuthRequest,
  FederatedJwtAuthenticator,
  JwtSvidAuthenticator,
  jwtBearerAssertionType,
  jwtSpiffeAssertionType,
  X509SvidAuthenticator,
} from '../../src/client-auth/index.js';
import { encodeDn, generateSigningJwk, type SigningJwk } from '../../src/dev-ca/index.js';
import { generateDevKeyPair, loadDevKeyPair } from '../../src/dev-ca/keys.js';
import { buildCertificate, randomSerial } from '../../src/dev-ca/x509.js';
import { OAuthError } from '../../src/errors/index.js';
import { parseCertificate } from '../../src/pki/index.js';
import type { ClientRegistry } from '../../src/registry/index.js';
import type { MemoryReplayStore } from '../../src/replay/index.js';
import {
  OidcIssuerSource,
  SpiffeTrustSource,
  type WorkloadTokenPolicy,
  WorkloadTrust,
} from '../../src/workload/index.js';
import { createTrustDomain, signJwt, type TrustDomain } from '../helpers/workload.js';
import {
  clientOf,
  issuer,
  presented,
  privateKeyJwtOf,
  registryOf,
  requestOf,
  upForAnHour,
} from './support.js';

const policy = (over: Partial<WorkloadTokenPolicy> = {}): WorkloadTokenPolicy => ({
  algorithms: ['ES256', 'RS256'],
  maxTokenAgeSeconds: 300,
  clockToleranceSeconds: 30,
  jti: 'reuse-allowed',
  ...over,
});

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OAuthError) return error.reason;
    throw error;
  }
  return 'accepted';
}

const k8sIssuer = 'https://k8s.test';

describe('workload client authentication', () => {
  let td: TrustDomain;
  let dir: string;
  let bundleFile: string;
  let saKey: SigningJwk;
  let trust: WorkloadTrust;
  let registry: ClientRegistry;
  // Set once the fixtures exist: certificates are issued on the real clock.
  let nowMs = 0;
  let now = 0;

  const svid = (
    path: string,
    over: Parameters<TrustDomain['jwtSvid']>[1] extends infer O ? Partial<O> : never = {},
  ) => td.jwtSvid(path, { aud: issuer, nowSeconds: now, ...over });
  const saToken = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    signJwt(
      saKey.privateJwk,
      { alg: 'RS256', kid: saKey.kid, ...header },
      {
        iss: k8sIssuer,
        sub: 'system:serviceaccount:payments:ledger',
        aud: issuer,
        iat: Math.floor(now),
        exp: Math.floor(now) + 600,
        'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'ledger', uid: 'u-1' } },
        ...claims,
      },
    );

  const spiffeSource = (name: string, file: string, over: Partial<WorkloadTokenPolicy> = {}) =>
    new SpiffeTrustSource({
      name,
      trustDomain: 'example.org',
      policy: policy(over),
      bundleFile: file,
      defaultRefreshHintSeconds: 300,
      maxStalenessSeconds: 600,
      clock: () => nowMs,
    });

  beforeAll(async () => {
    td = await createTrustDomain('example.org');
    nowMs = Date.now() + 5_000;
    now = nowMs / 1000;
    saKey = await generateSigningJwk('RS256');
    dir = await mkdtemp(join(tmpdir(), 'tollgate-workload-'));
    bundleFile = join(dir, 'bundle.json');
    await writeFile(bundleFile, JSON.stringify(td.bundle({ sequence: 1 })));
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [saKey.publicJwk] }));
    trust = new WorkloadTrust([
      spiffeSource('example-org', bundleFile),
      new OidcIssuerSource({
        name: 'cluster',
        issuer: k8sIssuer,
        policy: policy({ jti: 'unique-when-present', maxTokenAgeSeconds: 3600 }),
        jwksFile,
        clock: () => nowMs,
      }),
    ]);
    registry = registryOf([
      {
        client_id: 'api',
        token_endpoint_auth_method: 'spiffe_jwt',
        spiffe_id: 'spiffe://example.org/api',
      },
      {
        client_id: 'x509',
        token_endpoint_auth_method: 'spiffe_x509',
        spiffe_id: 'spiffe://example.org/worker/*',
      },
      {
        client_id: 'ledger',
        token_endpoint_auth_method: 'federated_jwt',
        federated_identity: {
          source: 'cluster',
          subject: 'system:serviceaccount:payments:ledger',
          kubernetes_namespace: 'payments',
          kubernetes_service_account_uid: 'u-1',
        },
      },
      {
        client_id: 'loose',
        token_endpoint_auth_method: 'federated_jwt',
        federated_identity: { source: 'cluster', subject: 'system:serviceaccount:payments:loose' },
      },
      {
        client_id: 'elsewhere',
        token_endpoint_auth_method: 'federated_jwt',
        federated_identity: { source: 'other', subject: 'x' },
      },
      {
        client_id: 'pkjwt',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [saKey.publicJwk] },
      },
      {
        client_id: 'spiffe://example.org/self',
        token_endpoint_auth_method: 'spiffe_jwt',
        spiffe_id: 'spiffe://example.org/self',
      },
    ]);
  });

  const jwtSvid = (over: { trust?: WorkloadTrust; replay?: MemoryReplayStore } = {}) =>
    new JwtSvidAuthenticator({
      issuer,
      trust: () => over.trust ?? trust,
      maxAssertionBytes: 4096,
      replayStore: over.replay ?? upForAnHour(),
    });
  const federated = (replay = upForAnHour()) =>
    new FederatedJwtAuthenticator({
      issuer,
      trust: () => trust,
      maxAssertionBytes: 4096,
      replayStore: replay,
    });
  const assertionRequest = (
    assertion: string | undefined,
    extra: Partial<ClientAuthRequest> = {},
  ) =>
    requestOf(assertion === undefined ? {} : { client_assertion: assertion }, { nowMs, ...extra });

  describe('JWT-SVID', () => {
    it('accepts a JWT-SVID of the registered SPIFFE ID, with or without kid', async () => {
      const result = await jwtSvid().authenticate(
        assertionRequest(await svid('/api')),
        clientOf(registry, 'api'),
      );
      expect(result.workload).toEqual({
        source: 'example-org',
        identity: 'spiffe://example.org/api',
      });
      const noKid = await signJwt(
        td.jwtKey.privateJwk,
        { alg: 'ES256' },
        { sub: 'spiffe://example.org/api', aud: issuer, exp: Math.floor(now) + 60 },
      );
      expect(
        await reason(jwtSvid().authenticate(assertionRequest(noKid), clientOf(registry, 'api'))),
      ).toBe('accepted');
    });

    it.each([
      ['missing_parameter', undefined],
      ['assertion_too_large', 'x'.repeat(5000)],
      ['assertion_malformed', 'not.a.jwt'],
    ])('refuses %s', async (expected, assertion) => {
      expect(
        await reason(
          jwtSvid().authenticate(assertionRequest(assertion), clientOf(registry, 'api')),
        ),
      ).toBe(expected);
    });

    it('applies the JWT-SVID header and claim rules, each with its reason', async () => {
      const api = clientOf(registry, 'api');
      const run = async (token: Promise<string> | string, client = api, auth = jwtSvid()) =>
        reason(auth.authenticate(assertionRequest(await token), client));
      expect(await run(svid('/api', { header: { x5u: 'https://evil' } }))).toBe(
        'assertion_header_forbidden',
      );
      expect(await run(svid('/api', { header: { typ: 'JWS' } }))).toBe('assertion_typ_invalid');
      expect(await run(svid('/api', { header: { kid: 7 } }))).toBe('assertion_malformed');
      expect(await run(svid('/api', { claims: { sub: 'spiffe://Example.org/api' } }))).toBe(
        'spiffe_id_invalid',
      );
      expect(await run(svid('/api', { claims: { sub: 'spiffe://nowhere.test/api' } }))).toBe(
        'spiffe_trust_domain_unknown',
      );
      expect(await run(svid('/other'))).toBe('workload_identity_mismatch');
      expect(await run(svid('/api'), clientOf(registry, 'ledger'))).toBe(
        'workload_identity_mismatch',
      );
      expect(await run(svid('/api', { aud: [issuer, issuer] }))).toBe('assertion_aud_multiple');
      expect(await run(svid('/api', { claims: { exp: undefined } }))).toBe('assertion_exp_missing');
      expect(await run(svid('/api', { claims: { exp: 'soon' } }))).toBe('assertion_malformed');
      expect(await run(svid('/api', { claims: { nbf: 'x' } }))).toBe('assertion_malformed');
      expect(await run(svid('/api', { claims: { nbf: now + 600 } }))).toBe(
        'assertion_not_yet_valid',
      );
      expect(await run(svid('/api', { claims: { iat: 'x' } }))).toBe('assertion_malformed');
      expect(await run(svid('/api', { claims: { iat: now + 600 } }))).toBe('assertion_iat_future');
      const forged = (await svid('/api')).replace(/\.[^.]+$/, `.${'A'.repeat(86)}`);
      expect(await run(forged)).toBe('assertion_signature_invalid');
      const rsa = await generateSigningJwk('RS256');
      expect(await run(svid('/api', { key: rsa, header: { kid: undefined } }))).toBe(
        'assertion_key_not_found',
      );
      expect(await run(svid('/api', { key: rsa }))).toBe('assertion_key_not_found');
    });

    it('applies the source policy: algorithms and jti', async () => {
      const narrowFile = join(dir, 'narrow.json');
      await writeFile(narrowFile, JSON.stringify(td.bundle()));
      const narrow = new WorkloadTrust([
        spiffeSource('narrow', narrowFile, { algorithms: ['RS256'] }),
      ]);
      expect(
        await reason(
          jwtSvid({ trust: narrow }).authenticate(
            assertionRequest(await svid('/api')),
            clientOf(registry, 'api'),
          ),
        ),
      ).toBe('assertion_alg_not_allowed');

      const unique = new WorkloadTrust([
        spiffeSource('unique', narrowFile, { jti: 'required-unique' }),
      ]);
      const auth = jwtSvid({ trust: unique });
      const api = clientOf(registry, 'api');
      expect(await reason(auth.authenticate(assertionRequest(await svid('/api')), api))).toBe(
        'assertion_jti_missing',
      );
      const once = await svid('/api', { claims: { jti: 'j-1' } });
      expect(await reason(auth.authenticate(assertionRequest(once), api))).toBe('accepted');
      expect(await reason(auth.authenticate(assertionRequest(once), api))).toBe(
        'assertion_replayed',
      );
      expect(
        await reason(
          auth.authenticate(assertionRequest(await svid('/api', { claims: { jti: 7 } })), api),
        ),
      ).toBe('assertion_malformed');
    });

    it('refuses every SVID of an empty bundle, and fails closed when no bundle can be had', async () => {
      const emptyFile = join(dir, 'empty.json');
      await writeFile(emptyFile, JSON.stringify({ keys: [] }));
      const empty = new WorkloadTrust([spiffeSource('empty', emptyFile)]);
      expect(
        await reason(
          jwtSvid({ trust: empty }).authenticate(
            assertionRequest(await svid('/api')),
            clientOf(registry, 'api'),
          ),
        ),
      ).toBe('spiffe_bundle_empty');

      const down = new SpiffeTrustSource({
        name: 'down',
        trustDomain: 'example.org',
        policy: policy(),
        bundleEndpointUrl: 'https://127.0.0.1:1/bundle.json',
        defaultRefreshHintSeconds: 300,
        maxStalenessSeconds: 600,
        poll: false,
        clock: () => nowMs,
      });
      const unavailable = new WorkloadTrust([down]);
      const error = await jwtSvid({ trust: unavailable })
        .authenticate(assertionRequest(await svid('/api')), clientOf(registry, 'api'))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'temporarily_unavailable',
        reason: 'workload_source_unavailable',
        status: 503,
      });
      expect(down.status().state).toBe('empty');
      expect(await down.refreshForUnknownKid()).toBeUndefined();
      down.close();
    });
  });

  describe('X.509-SVID', () => {
    const x509 = () =>
      new X509SvidAuthenticator({ trust: () => trust, mtlsTokenEndpoint: undefined });
    const leaf = async (options: {
      uris: string[];
      keyUsage?: ('digitalSignature' | 'keyCertSign' | 'cRLSign' | 'keyEncipherment')[];
      ca?: boolean;
    }) => {
      const signer = loadDevKeyPair(td.ca.intermediate.keyPem);
      const key = await generateDevKeyPair('p256');
      const now = td.ca.now();
      const cert = buildCertificate({
        serial: randomSerial(),
        subject: encodeDn('O=SPIRE,C=US'),
        issuer: encodeDn(td.ca.intermediate.subject),
        notBefore: new Date(now.getTime() - 600_000),
        notAfter: new Date(now.getTime() + 3_600_000),
        subjectSpki: key.spkiDer,
        issuerSpki: Buffer.from(parseCertificate(td.ca.intermediate.certDer).spki),
        signer,
        ...(options.ca === true ? { ca: {} } : {}),
        keyUsage: options.keyUsage ?? ['digitalSignature'],
        subjectAltNames: { uri: options.uris },
      });
      return presented(cert.der, [td.ca.intermediate.certDer]);
    };
    const run = async (
      certificate: Awaited<ReturnType<typeof leaf>> | undefined,
      client = 'x509',
      auth = x509(),
    ) =>
      reason(
        auth.authenticate(
          requestOf({ client_id: client }, { nowMs, certificate }),
          clientOf(registry, client),
        ),
      );

    it('accepts a leaf under the wildcard with the trust domain chain', async () => {
      expect(await run(await leaf({ uris: ['spiffe://example.org/worker/a'] }))).toBe('accepted');
    });

    it('refuses each malformed SVID with its own reason', async () => {
      expect(await run(undefined)).toBe('certificate_missing');
      expect(await run(await leaf({ uris: [] }))).toBe('svid_uri_san_invalid');
      expect(await run(await leaf({ uris: ['https://example.org/worker/a'] }))).toBe(
        'spiffe_id_invalid',
      );
      expect(
        await run(
          await leaf({
            uris: ['spiffe://example.org/worker/a'],
            ca: true,
            keyUsage: ['digitalSignature', 'keyCertSign'],
          }),
        ),
      ).toBe('svid_ca_certificate');
      expect(
        await run(
          await leaf({ uris: ['spiffe://example.org/worker/a'], keyUsage: ['keyEncipherment'] }),
        ),
      ).toBe('svid_key_usage');
      expect(
        await run(
          await leaf({
            uris: ['spiffe://example.org/worker/a'],
            keyUsage: ['digitalSignature', 'cRLSign'],
          }),
        ),
      ).toBe('svid_key_usage');
      expect(await run(await leaf({ uris: ['spiffe://other.test/worker/a'] }))).toBe(
        'spiffe_trust_domain_unknown',
      );
      expect(await run(await leaf({ uris: ['spiffe://example.org/worker'] }))).toBe(
        'workload_identity_mismatch',
      );
    });

    it('needs the X.509 authorities of the trust domain', async () => {
      const jwtOnly = join(dir, 'jwt-only.json');
      await writeFile(jwtOnly, JSON.stringify(td.bundle({ x509: false })));
      const noAuthorities = new X509SvidAuthenticator({
        trust: () => new WorkloadTrust([spiffeSource('jwt-only', jwtOnly)]),
        mtlsTokenEndpoint: 'https://mtls.tollgate.test/token',
      });
      expect(
        await run(await leaf({ uris: ['spiffe://example.org/worker/a'] }), 'x509', noAuthorities),
      ).toBe('certificate_untrusted');
      const emptyFile = join(dir, 'empty-x509.json');
      await writeFile(emptyFile, JSON.stringify({ keys: [] }));
      const empty = new X509SvidAuthenticator({
        trust: () => new WorkloadTrust([spiffeSource('e', emptyFile)]),
        mtlsTokenEndpoint: undefined,
      });
      expect(
        await run(await leaf({ uris: ['spiffe://example.org/worker/a'] }), 'x509', empty),
      ).toBe('spiffe_bundle_empty');
      const down = new X509SvidAuthenticator({
        trust: () =>
          new WorkloadTrust([
            new SpiffeTrustSource({
              name: 'd',
              trustDomain: 'example.org',
              policy: policy(),
              bundleEndpointUrl: 'https://127.0.0.1:1/b',
              defaultRefreshHintSeconds: 60,
              maxStalenessSeconds: 0,
              poll: false,
            }),
          ]),
        mtlsTokenEndpoint: undefined,
      });
      expect(await run(await leaf({ uris: ['spiffe://example.org/worker/a'] }), 'x509', down)).toBe(
        'workload_source_unavailable',
      );
      // Signed by a CA that is not in the bundle: the chain does not validate.
      const stranger = await createTrustDomain('example.org');
      const foreign = await stranger.x509Svid(['spiffe://example.org/worker/a']);
      expect(await run(presented(foreign.certDer, [stranger.ca.intermediate.certDer]))).toBe(
        'certificate_untrusted',
      );
    });
  });

  describe('federated workload tokens', () => {
    const run = async (
      token: Promise<string> | string | undefined,
      client = 'ledger',
      auth = federated(),
    ) => reason(auth.authenticate(assertionRequest(await token), clientOf(registry, client)));

    it('accepts the registered service account, and applies unique-when-present', async () => {
      const replay = upForAnHour(10);
      const token = await saToken({ jti: 'sa-1' });
      expect(await run(token, 'ledger', federated(replay))).toBe('accepted');
      expect(await run(token, 'ledger', federated(replay))).toBe('assertion_replayed');
      expect(await run(saToken(), 'ledger', federated(replay))).toBe('accepted');
      expect(
        await run(
          saToken({ sub: 'system:serviceaccount:payments:loose', 'kubernetes.io': undefined }),
          'loose',
        ),
      ).toBe('accepted');
    });

    it('refuses each bad token with its own reason', async () => {
      expect(await run(undefined)).toBe('missing_parameter');
      expect(await run('x'.repeat(5000))).toBe('assertion_too_large');
      expect(await run('a.b')).toBe('assertion_malformed');
      expect(await run(saToken({}, { crit: ['exp'] }))).toBe('assertion_crit');
      expect(await run(saToken({}, { jku: 'https://evil/jwks' }))).toBe(
        'assertion_header_forbidden',
      );
      expect(await run(saToken({}, { kid: 3 }))).toBe('assertion_malformed');
      expect(await run(saToken({ iss: 42 }))).toBe('workload_issuer_unknown');
      expect(await run(saToken({ iss: 'https://k8s.test/' }))).toBe('workload_issuer_unknown');
      expect(await run(saToken(), 'elsewhere')).toBe('workload_identity_mismatch');
      expect(await run(saToken({ sub: 'system:serviceaccount:payments:other' }))).toBe(
        'workload_identity_mismatch',
      );
      expect(
        await run(
          saToken({ 'kubernetes.io': { namespace: 'other', serviceaccount: { uid: 'u-1' } } }),
        ),
      ).toBe('workload_claim_mismatch');
      expect(await run(saToken({ 'kubernetes.io': { namespace: 'payments' } }))).toBe(
        'workload_claim_mismatch',
      );
      expect(await run(saToken({ 'kubernetes.io': 'payments' }))).toBe('workload_claim_mismatch');
      expect(await run(saToken({ aud: 'https://kubernetes.default.svc' }))).toBe(
        'assertion_aud_invalid',
      );
      expect(await run(saToken({ iat: Math.floor(now) - 7200, exp: Math.floor(now) + 600 }))).toBe(
        'assertion_too_old',
      );
      expect(await run(saToken({}, { kid: 'rotated-away' }))).toBe('assertion_key_not_found');
      const es = await generateSigningJwk('ES384');
      const es384 = await signJwt(
        es.privateJwk,
        { alg: 'ES384' },
        { iss: k8sIssuer, sub: 'system:serviceaccount:payments:ledger' },
      );
      expect(await run(es384)).toBe('assertion_alg_not_allowed');
      const ed = await generateSigningJwk('Ed25519');
      expect(await run(signJwt(ed.privateJwk, { alg: 'Ed25519' }, { iss: k8sIssuer }))).toBe(
        'assertion_alg_not_allowed',
      );
      const hs = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.AAAA`;
      expect(await run(hs)).toBe('assertion_alg_not_allowed');
    });
  });

  describe("the caller's checks before the jti is spent (beforeSideEffects, RFC 9449 §5)", () => {
    /** A hook that refuses, as the token endpoint does for a bad DPoP proof. */
    const refusingHook = (calls: string[]) => async () => {
      calls.push('hook');
      throw new OAuthError('invalid_dpop_proof', 'dpop_htm_mismatch', 'bad proof');
    };

    it('JWT-SVID (required-unique): the hook runs after verification and before the spend', async () => {
      const uniqueFile = join(dir, 'unique-hook.json');
      await writeFile(uniqueFile, JSON.stringify(td.bundle()));
      const auth = jwtSvid({
        trust: new WorkloadTrust([spiffeSource('u', uniqueFile, { jti: 'required-unique' })]),
      });
      const api = clientOf(registry, 'api');
      const calls: string[] = [];
      const once = await svid('/api', { claims: { jti: 'hook-1' } });
      const hooked = assertionRequest(once, { beforeSideEffects: refusingHook(calls) });
      expect(await reason(auth.authenticate(hooked, api))).toBe('dpop_htm_mismatch');
      // Not spent by the refused request: it works once, then it is a replay.
      expect(await reason(auth.authenticate(assertionRequest(once), api))).toBe('accepted');
      expect(await reason(auth.authenticate(assertionRequest(once), api))).toBe(
        'assertion_replayed',
      );
      // A forged SVID never reaches the hook.
      const forged = once.replace(/\.[^.]+$/, `.${'A'.repeat(86)}`);
      const forgedRequest = assertionRequest(forged, { beforeSideEffects: refusingHook(calls) });
      expect(await reason(auth.authenticate(forgedRequest, api))).toBe(
        'assertion_signature_invalid',
      );
      expect(calls).toEqual(['hook']);
    });

    it('federated token (unique-when-present): the same order', async () => {
      const auth = federated();
      const ledger = clientOf(registry, 'ledger');
      const calls: string[] = [];
      const token = await saToken({ jti: 'hook-sa-1' });
      const hooked = assertionRequest(token, { beforeSideEffects: refusingHook(calls) });
      expect(await reason(auth.authenticate(hooked, ledger))).toBe('dpop_htm_mismatch');
      expect(await reason(auth.authenticate(assertionRequest(token), ledger))).toBe('accepted');
      expect(await reason(auth.authenticate(assertionRequest(token), ledger))).toBe(
        'assertion_replayed',
      );
      expect(calls).toEqual(['hook']);
    });
  });

  describe('dispatch', () => {
    const dispatcher = (withWorkload = true) =>
      new ClientAuthDispatcher({
        registry: () => registry,
        privateKeyJwt: privateKeyJwtOf(),
        tls: {
          spiffe_x509: new X509SvidAuthenticator({
            trust: () => trust,
            mtlsTokenEndpoint: undefined,
          }),
        },
        ...(withWorkload
          ? { workload: { spiffe_jwt: jwtSvid(), federated_jwt: federated() } }
          : {}),
      });
    const dispatch = (params: Record<string, string>, d = dispatcher()) =>
      reason(d.authenticate(requestOf(params, { nowMs })));

    it('routes jwt-spiffe to JWT-SVID clients only, with client_id required', async () => {
      const assertion = await svid('/api');
      const spiffe = { client_assertion_type: jwtSpiffeAssertionType, client_assertion: assertion };
      expect(await dispatch({ ...spiffe, client_id: 'api' })).toBe('accepted');
      expect(await dispatch(spiffe)).toBe('missing_parameter');
      expect(await dispatch({ ...spiffe, client_id: 'ledger' })).toBe('assertion_profile_mismatch');
      expect(await dispatch({ ...spiffe, client_id: 'x509' })).toBe('assertion_profile_mismatch');
      expect(await dispatch({ ...spiffe, client_id: 'api' }, dispatcher(false))).toBe(
        'assertion_profile_mismatch',
      );
    });

    it('routes jwt-bearer with client_id to federated clients, and never downgrades', async () => {
      const bearer = (assertion: string, clientId?: string) => ({
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
        ...(clientId === undefined ? {} : { client_id: clientId }),
      });
      expect(await dispatch(bearer(await saToken(), 'ledger'))).toBe('accepted');
      expect(await dispatch(bearer(await saToken(), 'ledger'), dispatcher(false))).toBe(
        'assertion_profile_mismatch',
      );
      expect(await dispatch(bearer(await svid('/api'), 'api'))).toBe('assertion_profile_mismatch');
      expect(await dispatch(bearer(await svid('/api'), 'x509'))).toBe('assertion_profile_mismatch');
      // No client_id: the private_key_jwt path reads sub, and a workload client found there is refused.
      expect(await dispatch(bearer(await svid('/self')))).toBe('assertion_profile_mismatch');
      // A federated token for a private_key_jwt client: its keys are its own.
      expect(await dispatch(bearer(await saToken(), 'pkjwt'))).toBe('client_id_mismatch');
      expect(await dispatch(bearer(await saToken(), 'nobody'))).toBe('client_id_mismatch');
    });

    it('needs an assertion from workload-token clients and a certificate from X.509-SVID clients', async () => {
      expect(await dispatch({ client_id: 'api' })).toBe('no_client_authentication');
      expect(await dispatch({ client_id: 'ledger' })).toBe('no_client_authentication');
      expect(await dispatch({ client_id: 'x509' })).toBe('certificate_missing');
    });
  });
});
