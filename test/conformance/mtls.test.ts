/**
 * RFC 8705 mutual-TLS client authentication and certificate-bound tokens, and RFC 9440 forwarded
 * certificates, over real sockets with dev-CA certificates: what must authenticate, what must not,
 * and what the bound token carries.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createSelfSignedClient,
  type DevCa,
  encodeDn,
  type IssuedClientCertificate,
  type SelfSignedClient,
} from '../../src/dev-ca/index.js';
import { generateDevKeyPair, loadDevKeyPair } from '../../src/dev-ca/keys.js';
import { buildCertificate, randomSerial } from '../../src/dev-ca/x509.js';
import { signAssertion } from '../helpers/assertions.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { encode, expectOAuthError, formType, type RawResponse, rawRequest } from './support.js';

const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const clientAuthOid = '1.3.6.1.5.5.7.3.2';
const hourMs = 3_600_000;

describe('RFC 8705 mutual TLS and RFC 9440 (conformance and attacks)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let good: IssuedClientCertificate;
  let other: IssuedClientCertificate;
  let selfSigned: SelfSignedClient;
  let jwt: JwtClient;

  const dnClient = (clientId: string, subject: string) => ({
    client_id: clientId,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: subject,
    grant_types: ['client_credentials'],
    scope: 'read',
  });
  const tokenAt = (
    base: string,
    params: Record<string, string | undefined>,
    identity?: { cert: string; key: string },
    headers: Record<string, string | string[]> = {},
  ): Promise<RawResponse> =>
    rawRequest(base, ca.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType, ...headers },
      body: encode({ grant_type: 'client_credentials', ...params }),
      ...(identity === undefined ? {} : identity),
    });
  const token = (
    params: Record<string, string | undefined>,
    identity?: { cert: string; key: string },
  ) => tokenAt(server.base, params, identity);
  const id = (cert: { chainPem: string; keyPem: string }) => ({
    cert: cert.chainPem,
    key: cert.keyPem,
  });
  const expectRefused = (res: RawResponse) => expectOAuthError(res, 401, 'invalid_client');

  beforeAll(async () => {
    ca = await createDevCa();
    good = await ca.issueClient({ clientId: 'mt-dn' });
    other = await ca.issueClient({ clientId: 'mt-other' });
    selfSigned = await createSelfSignedClient({ clientId: 'mt-self' });
    jwt = await makeJwtClient('mt-jwt');
    server = await startMtlsTollgate({
      ca,
      clients: [
        dnClient('mt-dn', good.subject),
        dnClient('mt-other', other.subject),
        {
          client_id: 'mt-self',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          jwks: { keys: [selfSigned.jwk] },
          grant_types: ['client_credentials'],
          scope: 'read',
        },
        jwt.metadata,
      ],
      config: { rateLimits: { enabled: false } },
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  describe('§2.1 tls_client_auth', () => {
    it('a trusted certificate with the registered DN gets a bound token (§3.1 x5t#S256)', async () => {
      const res = await token({ client_id: 'mt-dn' }, id(good));
      expect(res.status, res.text).toBe(200);
      expect(res.json?.token_type).toBe('Bearer');
      const claims = claimsOf(res.json?.access_token as string);
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(good.certPem) });
      expect(claims.client_id).toBe('mt-dn');
    });

    it('§2: client_id is REQUIRED with mutual TLS (a certificate alone does not pick a client)', async () => {
      const res = await token({}, id(good));
      expectRefused(res);
    });

    it("another client's certificate does not authenticate this client", async () => {
      expectRefused(await token({ client_id: 'mt-dn' }, id(other)));
    });

    it('no certificate: invalid_client', async () => {
      expectRefused(await token({ client_id: 'mt-dn' }));
    });

    it('a self-signed certificate with the registered DN is not trusted (§7.2 spoofing)', async () => {
      const spoof = await createSelfSignedClient({ clientId: 'mt-dn', subject: good.subject });
      expectRefused(
        await token({ client_id: 'mt-dn' }, { cert: spoof.certPem, key: spoof.keyPem }),
      );
    });

    it('a look-alike CA (same names, other keys) is not trusted', async () => {
      const foreign = await createDevCa({ subjectsLike: ca });
      const fake = await foreign.issueClient({ clientId: 'mt-dn', subject: good.subject });
      expectRefused(await token({ client_id: 'mt-dn' }, id(fake)));
    });

    it('a certificate whose EKU is serverAuth only is refused (RFC 5280 §4.2.1.12)', async () => {
      const server_ = await ca.issueClient({ subject: good.subject, eku: 'serverAuth' });
      expectRefused(await token({ client_id: 'mt-dn' }, id(server_)));
    });

    it('an expired leaf is refused', async () => {
      const now = Date.now();
      const expired = await ca.issueClient({
        subject: good.subject,
        notBefore: new Date(now - 3 * hourMs),
        notAfter: new Date(now - 2 * hourMs),
      });
      expectRefused(await token({ client_id: 'mt-dn' }, id(expired)));
    });

    it('a leaf under an expired intermediate (chained to the trusted root) is refused', async () => {
      const now = Date.now();
      const root = loadDevKeyPair(ca.root.keyPem as string);
      const interKey = await generateDevKeyPair('p256');
      const interName = encodeDn('CN=Expired Intermediate,O=Tollgate Dev,C=US');
      const inter = buildCertificate({
        serial: randomSerial(),
        subject: interName,
        issuer: encodeDn(ca.root.subject),
        notBefore: new Date(now - 48 * hourMs),
        notAfter: new Date(now - 24 * hourMs),
        subjectSpki: interKey.spkiDer,
        issuerSpki: root.spkiDer,
        signer: root,
        ca: { pathLength: 0 },
        keyUsage: ['keyCertSign', 'cRLSign'],
      });
      const leafKey = await generateDevKeyPair('p256');
      const leaf = buildCertificate({
        serial: randomSerial(),
        subject: encodeDn(good.subject),
        issuer: interName,
        notBefore: new Date(now - hourMs),
        notAfter: new Date(now + hourMs),
        subjectSpki: leafKey.spkiDer,
        issuerSpki: interKey.spkiDer,
        signer: interKey,
        keyUsage: ['digitalSignature'],
        extKeyUsage: [clientAuthOid],
      });
      expect(new X509Certificate(leaf.pem).checkIssued(new X509Certificate(inter.pem))).toBe(true);
      const res = await token(
        { client_id: 'mt-dn' },
        { cert: `${leaf.pem}${inter.pem}`, key: leafKey.privateKeyPem },
      );
      expectRefused(res);
    });

    it('extra certificates in the TLS chain: up to the bound the real path is found, past it a clean refusal before any path is built, never a 5xx or a hang', async () => {
      // Distinct unrelated certificates plus the real intermediate. TLS 1.3 (RFC 8446 §4.4.2)
      // lets a sender include extra certificates, so a token is right when the real chain is
      // valid; what must not happen is a crash or an unbounded chain walk. The walk is bounded by
      // clientCertificates.maxChainCertificates (10 by default): a longer chain is refused as
      // malformed before a path is built. (Every request is bounded: rawRequest gives up at 10 s.)
      // Each case presents a leaf the server has not seen: a leaf whose chain was validated
      // before is served from the connection cache without reading the sent chain.
      const extras = await Promise.all(
        Array.from({ length: 20 }, (_, i) => createSelfSignedClient({ clientId: `pad-${i}` })),
      );
      const padded = async (count: number) => {
        const leaf = await ca.issueClient({ clientId: 'mt-dn' });
        const chain = extras
          .slice(0, count)
          .map((e) => e.certPem)
          .join('');
        return {
          leaf,
          identity: { cert: `${leaf.certPem}${chain}${ca.intermediate.certPem}`, key: leaf.keyPem },
        };
      };
      const atBound = await padded(9);
      const accepted = await token({ client_id: 'mt-dn' }, atBound.identity);
      expect(accepted.status, accepted.text).toBe(200);
      expect(claimsOf(String(accepted.json?.access_token)).cnf).toEqual({
        'x5t#S256': thumbprintOf(atBound.leaf.certPem),
      });
      const over = await token({ client_id: 'mt-dn' }, (await padded(20)).identity);
      expectRefused(over);
      expect(over.json?.error_description).toBe('the client certificate cannot be parsed');
      // 20 copies of the same intermediate collapse to one chain: the real path, a token.
      const fresh = await ca.issueClient({ clientId: 'mt-dn' });
      const copies = `${fresh.certPem}${ca.intermediate.certPem.repeat(20)}`;
      const again = await token({ client_id: 'mt-dn' }, { cert: copies, key: fresh.keyPem });
      expect(again.status, again.text).toBe(200);
    });

    it('a certificate and a client_assertion together are two methods: refused (RFC 6749 §2.3)', async () => {
      const res = await token(
        {
          client_id: 'mt-dn',
          client_assertion_type: assertionType,
          client_assertion: await signAssertion(jwt.key.privateJwk, 'mt-dn', server.issuer),
        },
        id(good),
      );
      expect([400, 401]).toContain(res.status);
      expect(res.json?.access_token).toBeUndefined();
    });
  });

  describe('§2.2 self_signed_tls_client_auth', () => {
    it('the registered self-signed certificate authenticates and binds', async () => {
      const res = await token(
        { client_id: 'mt-self' },
        { cert: selfSigned.certPem, key: selfSigned.keyPem },
      );
      expect(res.status, res.text).toBe(200);
      expect(claimsOf(res.json?.access_token as string).cnf).toEqual({
        'x5t#S256': selfSigned.x5tS256,
      });
    });

    it('another self-signed certificate with the same subject is refused', async () => {
      const twin = await createSelfSignedClient({
        clientId: 'mt-self',
        subject: selfSigned.subject,
      });
      expectRefused(
        await token({ client_id: 'mt-self' }, { cert: twin.certPem, key: twin.keyPem }),
      );
    });

    it('a CA-issued certificate is not a registered self-signed one', async () => {
      expectRefused(await token({ client_id: 'mt-self' }, id(good)));
    });
  });

  describe('§3 certificate-bound tokens for other methods', () => {
    it('private_key_jwt over mutual TLS gets a token bound to the presented certificate', async () => {
      const res = await token(
        {
          client_assertion_type: assertionType,
          client_assertion: await signAssertion(jwt.key.privateJwk, jwt.clientId, server.issuer),
        },
        id(other),
      );
      expect(res.status, res.text).toBe(200);
      expect(claimsOf(res.json?.access_token as string).cnf).toEqual({
        'x5t#S256': thumbprintOf(other.certPem),
      });
    });

    it('the x5t#S256 is base64url without padding of SHA-256 over the DER (43 chars)', async () => {
      const res = await token({ client_id: 'mt-dn' }, id(good));
      const value = (claimsOf(res.json?.access_token as string).cnf as Record<string, string>)[
        'x5t#S256'
      ];
      expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    });
  });

  describe('RFC 9440 Client-Cert from a trusted proxy (plain listener)', () => {
    let proxied: MtlsTollgate;
    beforeAll(async () => {
      proxied = await startMtlsTollgate({
        ca,
        plain: true,
        clients: [dnClient('mt-dn', good.subject), dnClient('mt-other', other.subject)],
        config: {
          rateLimits: { enabled: false },
          proxy: { trustedCidrs: ['127.0.0.1/32'], certificateFormat: 'rfc9440' },
        },
      });
    });
    afterAll(async () => {
      await proxied?.dispose();
    });
    const sfBinary = (pem: string) => `:${new X509Certificate(pem).raw.toString('base64')}:`;

    it('a Client-Cert byte sequence from a trusted peer authenticates and binds', async () => {
      const res = await tokenAt(proxied.plainBase as string, { client_id: 'mt-dn' }, undefined, {
        'client-cert': sfBinary(good.certPem),
        'client-cert-chain': sfBinary(ca.intermediate.certPem),
      });
      expect(res.status, res.text).toBe(200);
      expect(claimsOf(res.json?.access_token as string).cnf).toEqual({
        'x5t#S256': thumbprintOf(good.certPem),
      });
    });

    for (const [label, value] of [
      [
        'not a byte sequence (bare base64)',
        () => new X509Certificate(good.certPem).raw.toString('base64'),
      ],
      ['a PEM', () => good.certPem.replace(/\n/g, ' ')],
      ['an empty byte sequence', () => '::'],
      ['bad base64 inside colons', () => ':!!!:'],
      ['a byte sequence of junk', () => `:${Buffer.from('junk').toString('base64')}:`],
      ['a byte sequence with parameters', () => `${sfBinary(good.certPem)};a=1`],
    ] as const) {
      it(`Client-Cert as ${label}: an OAuth 4xx, never a token or a 5xx`, async () => {
        const res = await tokenAt(proxied.plainBase as string, { client_id: 'mt-dn' }, undefined, {
          'client-cert': value(),
        });
        expect(res.status, res.text).toBeGreaterThanOrEqual(400);
        expect(res.status, res.text).toBeLessThan(500);
        expect(res.json?.error).toBeDefined();
      });
    }

    it('two Client-Cert fields (ambiguous) are refused, not resolved to either', async () => {
      const res = await tokenAt(proxied.plainBase as string, { client_id: 'mt-dn' }, undefined, {
        'client-cert': [sfBinary(other.certPem), sfBinary(good.certPem)],
      });
      expect(res.status, res.text).toBeGreaterThanOrEqual(400);
      expect(res.json?.access_token).toBeUndefined();
    });

    it('SECURITY: a Client-Cert header on the TLS listener does not replace the handshake certificate', async () => {
      // The peer is 127.0.0.1 (a trusted proxy address), but on the TLS listener the handshake's
      // certificate is the one the client proved possession of (RFC 8705 §2: the TLS connection
      // MUST have been established with mutual-TLS X.509 authentication). A forged header there
      // impersonates any tls_client_auth client whose (public) certificate is known.
      const forged = await tokenAt(proxied.base, { client_id: 'mt-dn' }, id(other), {
        'client-cert': sfBinary(good.certPem),
      });
      expect(forged.json?.access_token, forged.text).toBeUndefined();
    });

    it('the TLS listener authenticates its own handshake certificate even when the peer address is a trusted proxy', async () => {
      const res = await tokenAt(proxied.base, { client_id: 'mt-dn' }, id(good));
      expect(res.status, res.text).toBe(200);
    });
  });

  describe('RFC 9440 from an untrusted peer', () => {
    let untrusting: MtlsTollgate;
    beforeAll(async () => {
      untrusting = await startMtlsTollgate({
        ca,
        plain: true,
        clients: [dnClient('mt-dn', good.subject)],
        config: {
          rateLimits: { enabled: false },
          proxy: { trustedCidrs: ['10.9.8.7/32'], certificateFormat: 'rfc9440' },
        },
      });
    });
    afterAll(async () => {
      await untrusting?.dispose();
    });

    it('a Client-Cert header from a peer outside trustedCidrs is ignored', async () => {
      const res = await tokenAt(untrusting.plainBase as string, { client_id: 'mt-dn' }, undefined, {
        'client-cert': `:${new X509Certificate(good.certPem).raw.toString('base64')}:`,
        'x-forwarded-for': '10.9.8.7',
        forwarded: 'for=10.9.8.7',
      });
      expectRefused(res);
    });
  });
});
