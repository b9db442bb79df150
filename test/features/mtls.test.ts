/**
 * RFC 8705 mutual TLS over real sockets: tls_client_auth for every identity type, DN rules,
 * chain failures, self-signed clients, pins, and certificate-bound tokens. Fixtures come from
 * the dev CA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import type { TokenResult } from '../../src/client/token-request.js';
import {
  createDevCa,
  createNegativeFixtures,
  createSelfSignedClient,
  type DevCa,
  type IssuedClientCertificate,
  type NegativeFixtureSet,
  type SelfSignedClient,
} from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const grant = (clientId: string, extra: Record<string, string> = {}) => ({
  grant_type: 'client_credentials',
  client_id: clientId,
  ...extra,
});
const tlsClient = (clientId: string, identity: Record<string, string | string[]>) => ({
  client_id: clientId,
  token_endpoint_auth_method: 'tls_client_auth',
  scope: 'read',
  ...identity,
});
const asIdentity = (cert: { chainPem: string; keyPem: string }) => ({
  cert: cert.chainPem,
  key: cert.keyPem,
});

function expectToken(result: TokenResult): Record<string, unknown> {
  expect(result.ok, JSON.stringify(result)).toBe(true);
  if (!result.ok) throw new Error('unreachable');
  expect(result.tokenType).toBe('Bearer');
  return claimsOf(result.accessToken);
}

function expectError(
  result: TokenResult,
  status: number,
  error: string,
  description?: RegExp,
): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (result.ok) return;
  expect(result.status).toBe(status);
  expect(result.error).toBe(error);
  if (description !== undefined) expect(result.errorDescription).toMatch(description);
}

describe('mutual TLS', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let negative: NegativeFixtureSet;
  let dnCert: IssuedClientCertificate;
  let dnsCert: IssuedClientCertificate;
  let uriCert: IssuedClientCertificate;
  let ipv4Cert: IssuedClientCertificate;
  let ipv6Cert: IssuedClientCertificate;
  let emailCert: IssuedClientCertificate;
  let sibling: IssuedClientCertificate;
  let commaCert: IssuedClientCertificate;
  let selfSigned: SelfSignedClient;
  let unregistered: SelfSignedClient;
  let jwtClient: JwtClient;
  let boundJwt: JwtClient;

  const dn = 'CN=svc-dn,O=Acme Corp,C=US';
  const equivalentDns = {
    'dn-lower-types': 'cn=svc-dn,o=Acme Corp,c=US',
    'dn-numeric-oid': '2.5.4.3=svc-dn,2.5.4.10=Acme Corp,2.5.4.6=US',
    'dn-hex-escape': 'CN=svc\\2Ddn,O=Acme\\20Corp,C=US',
    'dn-case-spacing': 'CN=SVC-DN, O=  acme   corp , C=us',
  };
  const trickDns = {
    'dn-order': 'O=Acme Corp,CN=svc-dn,C=US',
    'dn-multivalued': 'CN=svc-dn+O=Acme Corp,C=US',
    'dn-extra-rdn': 'CN=svc-dn,OU=Payments,O=Acme Corp,C=US',
    'dn-missing-rdn': 'CN=svc-dn,C=US',
  };

  beforeAll(async () => {
    ca = await createDevCa();
    dnCert = await ca.issueClient({ clientId: 'svc-dn', subject: dn });
    dnsCert = await ca.issueClient({ clientId: 'svc-dns', sanDns: ['svc.acme.test'] });
    uriCert = await ca.issueClient({
      clientId: 'svc-uri',
      sanUri: ['spiffe://acme.test/ns/prod/sa/billing'],
    });
    ipv4Cert = await ca.issueClient({ clientId: 'svc-ip4', sanIp: ['127.0.0.1'] });
    ipv6Cert = await ca.issueClient({ clientId: 'svc-ip6', sanIp: ['::1'] });
    emailCert = await ca.issueClient({ clientId: 'svc-email', sanEmail: ['Billing@Acme.test'] });
    sibling = await ca.issueClient({
      clientId: 'svc-sibling',
      subject: 'CN=svc-sibling,O=Acme Corp,C=US',
    });
    // One CN whose value contains ",O=Acme Corp": must never equal the two-RDN registration.
    commaCert = await ca.issueClient({
      clientId: 'svc-comma',
      subject: 'CN=svc-dn\\,O=Acme Corp,C=US',
    });
    negative = await createNegativeFixtures(ca);
    selfSigned = await createSelfSignedClient({ clientId: 'svc-self' });
    unregistered = await createSelfSignedClient({ clientId: 'svc-self-other' });
    jwtClient = await makeJwtClient('svc-jwt');
    boundJwt = await makeJwtClient('svc-jwt-bound', 'ES256', {
      tls_client_certificate_bound_access_tokens: true,
    });

    server = await startMtlsTollgate({
      ca,
      mtls: true,
      clients: [
        tlsClient('svc-dn', { tls_client_auth_subject_dn: dn }),
        ...Object.entries({ ...equivalentDns, ...trickDns }).map(([id, value]) =>
          tlsClient(id, { tls_client_auth_subject_dn: value }),
        ),
        tlsClient('svc-dns', { tls_client_auth_san_dns: 'SVC.Acme.TEST' }),
        tlsClient('svc-uri', { tls_client_auth_san_uri: 'spiffe://acme.test/ns/prod/sa/billing' }),
        tlsClient('svc-uri-case', {
          tls_client_auth_san_uri: 'spiffe://acme.test/ns/prod/sa/Billing',
        }),
        tlsClient('svc-ip4', { tls_client_auth_san_ip: '127.0.0.1' }),
        tlsClient('svc-ip4-mapped', { tls_client_auth_san_ip: '::ffff:127.0.0.1' }),
        tlsClient('svc-ip6', { tls_client_auth_san_ip: '0:0:0:0:0:0:0:1' }),
        tlsClient('svc-email', { tls_client_auth_san_email: 'Billing@acme.TEST' }),
        tlsClient('svc-email-local-case', { tls_client_auth_san_email: 'billing@acme.test' }),
        tlsClient('svc-pinned', {
          tls_client_auth_subject_dn: dn,
          tls_client_auth_trust_anchor_spki_sha256: [ca.root.spkiSha256],
        }),
        tlsClient('svc-pinned-elsewhere', {
          tls_client_auth_subject_dn: dn,
          tls_client_auth_trust_anchor_spki_sha256: [negative.foreignCa.root.spkiSha256],
        }),
        {
          ...tlsClient('svc-unbound', { tls_client_auth_subject_dn: dn }),
          tls_client_certificate_bound_access_tokens: false,
        },
        ...Object.values(negative.fixtures).map((fixture) => fixture.registration),
        {
          client_id: 'svc-self',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: [selfSigned.jwk] },
          scope: 'read',
        },
        {
          client_id: 'svc-self-by-key',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: [{ ...selfSigned.jwk, x5c: undefined, kid: 'by-key' }] },
        },
        jwtClient.metadata,
        boundJwt.metadata,
      ],
    });
  });
  afterAll(() => server?.dispose());

  describe('tls_client_auth identities', () => {
    it('subject DN: a match gets a token bound to the certificate', async () => {
      const claims = expectToken(await server.token(grant('svc-dn'), asIdentity(dnCert)));
      expect(claims.client_id).toBe('svc-dn');
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(dnCert.certPem) });
    });

    it.each(Object.keys(equivalentDns))('subject DN equivalence %s matches', async (clientId) => {
      expectToken(await server.token(grant(clientId), asIdentity(dnCert)));
    });

    it.each(Object.keys(trickDns))('subject DN trick %s does not match', async (clientId) => {
      expectError(
        await server.token(grant(clientId), asIdentity(dnCert)),
        401,
        'invalid_client',
        /tls_client_auth_subject_dn/,
      );
    });

    it('a comma injected into a value does not match', async () => {
      expectError(
        await server.token(grant('svc-dn'), asIdentity(commaCert)),
        401,
        'invalid_client',
        /subject_dn/,
      );
    });

    it('another certificate of the same CA does not match', async () => {
      expectError(
        await server.token(grant('svc-dn'), asIdentity(sibling)),
        401,
        'invalid_client',
        /subject_dn/,
      );
    });

    it('SAN DNS matches case-insensitively; a mismatch fails', async () => {
      expectToken(await server.token(grant('svc-dns'), asIdentity(dnsCert)));
      expectError(
        await server.token(grant('svc-dns'), asIdentity(uriCert)),
        401,
        'invalid_client',
        /san_dns/,
      );
    });

    it('SAN URI matches exactly (SPIFFE IDs); a case change fails', async () => {
      expectToken(await server.token(grant('svc-uri'), asIdentity(uriCert)));
      expectError(
        await server.token(grant('svc-uri-case'), asIdentity(uriCert)),
        401,
        'invalid_client',
        /san_uri/,
      );
    });

    it('SAN IP compares bytes for IPv4 and IPv6', async () => {
      expectToken(await server.token(grant('svc-ip4'), asIdentity(ipv4Cert)));
      expectToken(await server.token(grant('svc-ip6'), asIdentity(ipv6Cert)));
      expectError(
        await server.token(grant('svc-ip4-mapped'), asIdentity(ipv4Cert)),
        401,
        'invalid_client',
        /san_ip/,
      );
      expectError(
        await server.token(grant('svc-ip4'), asIdentity(ipv6Cert)),
        401,
        'invalid_client',
        /san_ip/,
      );
    });

    it('SAN email: domain case-insensitive, local part exact', async () => {
      expectToken(await server.token(grant('svc-email'), asIdentity(emailCert)));
      expectError(
        await server.token(grant('svc-email-local-case'), asIdentity(emailCert)),
        401,
        'invalid_client',
        /san_email/,
      );
    });
  });

  describe('tls_client_auth chain checks', () => {
    it('no certificate is invalid_client naming the mTLS endpoint', async () => {
      expectError(
        await server.token(grant('svc-dn')),
        401,
        'invalid_client',
        /certificate.*https:\/\/localhost:\d+\/token/,
      );
    });

    it.each([
      ['expired', /expired/],
      ['not-yet-valid', /not yet valid/],
      ['revoked', /revoked/],
      ['wrong-eku', /extended key usage/],
      ['foreign-ca', /does not chain to a trusted CA/],
      ['subject-mismatch', /does not match/],
      ['san-mismatch', /does not match/],
    ] as const)('%s is refused', async (kind, reason) => {
      const fixture = negative.fixtures[kind];
      const result = await server.token(grant(fixture.clientId), {
        cert: fixture.presentedChainPem,
        key: fixture.cert.keyPem,
      });
      expectError(result, 401, 'invalid_client', reason);
    });

    it('a leaf sent without its intermediate validates with the configured intermediate', async () => {
      expectToken(
        await server.token(grant('svc-dn'), { cert: dnCert.certPem, key: dnCert.keyPem }),
      );
    });

    it('the per-client trust anchor pin: ours passes, another pinned anchor fails', async () => {
      expectToken(await server.token(grant('svc-pinned'), asIdentity(dnCert)));
      expectError(
        await server.token(grant('svc-pinned-elsewhere'), asIdentity(dnCert)),
        401,
        'invalid_client',
        /pinned/,
      );
    });

    it('a client that opted out of binding gets an unbound token', async () => {
      const claims = expectToken(await server.token(grant('svc-unbound'), asIdentity(dnCert)));
      expect(claims).not.toHaveProperty('cnf');
    });

    it('a tls_client_auth client that also sends an assertion presents two methods', async () => {
      const assertion = await signAssertion(jwtClient.key.privateJwk, 'svc-dn', server.issuer);
      const result = await server.token(
        {
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: assertion,
        },
        asIdentity(dnCert),
      );
      expectError(result, 400, 'invalid_request', /more than one/);
    });
  });

  describe('self_signed_tls_client_auth', () => {
    it('a registered certificate gets a bound token', async () => {
      const claims = expectToken(
        await server.token(grant('svc-self'), { cert: selfSigned.certPem, key: selfSigned.keyPem }),
      );
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(selfSigned.certPem) });
    });

    it('a JWK without x5c matches by public key', async () => {
      expectToken(
        await server.token(grant('svc-self-by-key'), {
          cert: selfSigned.certPem,
          key: selfSigned.keyPem,
        }),
      );
    });

    it('an unregistered self-signed certificate is refused', async () => {
      expectError(
        await server.token(grant('svc-self'), {
          cert: unregistered.certPem,
          key: unregistered.keyPem,
        }),
        401,
        'invalid_client',
        /not one registered/,
      );
    });

    it('a CA-issued certificate presented for a self-signed client is refused', async () => {
      expectError(
        await server.token(grant('svc-self'), asIdentity(dnCert)),
        401,
        'invalid_client',
        /not one registered/,
      );
    });
  });

  describe('binding for private_key_jwt clients', () => {
    it('a private_key_jwt client presenting a certificate gets a token bound to it', async () => {
      const assertion = await signAssertion(
        jwtClient.key.privateJwk,
        jwtClient.clientId,
        server.issuer,
      );
      const claims = expectToken(
        await server.token(
          {
            grant_type: 'client_credentials',
            client_assertion_type: jwtBearerAssertionType,
            client_assertion: assertion,
          },
          asIdentity(sibling),
        ),
      );
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(sibling.certPem) });
    });

    it('without a certificate its token is unbound', async () => {
      const assertion = await signAssertion(
        jwtClient.key.privateJwk,
        jwtClient.clientId,
        server.issuer,
      );
      const claims = expectToken(
        await server.token({
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: assertion,
        }),
      );
      expect(claims).not.toHaveProperty('cnf');
    });

    it('a client that requires binding but sent no certificate gets invalid_request naming the mTLS endpoint', async () => {
      const assertion = await signAssertion(
        boundJwt.key.privateJwk,
        boundJwt.clientId,
        server.issuer,
      );
      expectError(
        await server.token({
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: assertion,
        }),
        400,
        'invalid_request',
        new RegExp(`present a client certificate at ${server.tg.endpoints.mtlsToken}`),
      );
    });
  });

  describe('the mTLS endpoint alias (RFC 8705 §5)', () => {
    it('is advertised in metadata and issues bound tokens', async () => {
      const metadata = await server.tg.app.inject({
        method: 'GET',
        url: '/.well-known/oauth-authorization-server',
      });
      const body = metadata.json();
      expect(body.mtls_endpoint_aliases).toMatchObject({
        token_endpoint: server.tg.endpoints.mtlsToken,
      });
      expect(body.tls_client_certificate_bound_access_tokens).toBe(true);
      expect(body.token_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']),
      );
      const claims = expectToken(
        await server.token(grant('svc-dn'), asIdentity(dnCert), server.mtlsBase),
      );
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(dnCert.certPem) });
    });
  });

  describe('certificate headers', () => {
    it('a forged Client-Cert header from an untrusted peer authenticates nobody', async () => {
      const { request } = await import('node:https');
      const header = `:${Buffer.from(dnCert.certDer).toString('base64')}:`;
      const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          `${server.base}/token`,
          {
            method: 'POST',
            ca: ca.root.certPem,
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              'client-cert': header,
              'x-forwarded-client-cert': `Cert="${encodeURIComponent(dnCert.certPem)}"`,
            },
          },
          (res) => {
            let body = '';
            res.on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end('grant_type=client_credentials&client_id=svc-dn');
      });
      expect(response.status).toBe(401);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_client' });
      expect(JSON.parse(response.body).error_description).toMatch(/needs a client certificate/);
    });
  });
});

describe('mutual TLS without a configured intermediate', () => {
  it('a leaf sent without its intermediate cannot be validated', async () => {
    const ca = await createDevCa();
    const fixtures = await createNegativeFixtures(ca);
    const fixture = fixtures.fixtures['leaf-without-intermediate'];
    // Without the intermediate, its CRL cannot be verified either, so none is configured.
    const server = await startMtlsTollgate({
      ca,
      clients: [fixture.registration],
      intermediates: false,
      crls: false,
    });
    try {
      const result = await server.token(grant(fixture.clientId), {
        cert: fixture.presentedChainPem,
        key: fixture.cert.keyPem,
      });
      expectError(result, 401, 'invalid_client', /does not chain/);
      // The same certificate with its intermediate passes.
      expectToken(
        await server.token(grant(fixture.clientId), {
          cert: fixture.cert.chainPem,
          key: fixture.cert.keyPem,
        }),
      );
    } finally {
      await server.dispose();
    }
  });
});
