/**
 * Behind a TLS-terminating proxy: the plain listener reads the client certificate from headers,
 * only from trusted peer addresses, and validates it itself. Trust is decided by the socket's
 * peer address: these tests send from 127.0.0.1 and 127.0.0.2 (both loopback on Linux).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createNegativeFixtures,
  type DevCa,
  type IssuedClientCertificate,
  type NegativeFixtureSet,
} from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function post(
  base: string,
  headers: Record<string, string | string[]>,
  body: string,
  localAddress = '127.0.0.1',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/token`,
      {
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sfBinary = (der: Uint8Array) => `:${Buffer.from(der).toString('base64')}:`;

describe('behind a proxy (RFC 9440 headers)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let client: IssuedClientCertificate;
  let negative: NegativeFixtureSet;
  const body = 'grant_type=client_credentials&client_id=svc-proxied';

  beforeAll(async () => {
    ca = await createDevCa();
    client = await ca.issueClient({
      clientId: 'svc-proxied',
      subject: 'CN=svc-proxied,O=Acme,C=US',
    });
    negative = await createNegativeFixtures(ca);
    server = await startMtlsTollgate({
      ca,
      plain: true,
      clients: [
        {
          client_id: 'svc-proxied',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=svc-proxied,O=Acme,C=US',
        },
        negative.fixtures['foreign-ca'].registration,
      ],
      config: { proxy: { trustedCidrs: ['127.0.0.2/32'], certificateFormat: 'rfc9440' } },
    });
  });
  afterAll(() => server?.dispose());

  it('a trusted proxy forwarding a good certificate gets a token bound to it', async () => {
    const reply = await post(
      server.plainBase as string,
      { 'client-cert': sfBinary(client.certDer) },
      body,
      '127.0.0.2',
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const claims = claimsOf(reply.body.access_token as string);
    expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(client.certPem) });
  });

  it('the forwarded chain is used when the proxy sends it', async () => {
    const headers = {
      'client-cert': sfBinary(client.certDer),
      'client-cert-chain': sfBinary(ca.intermediate.certDer),
    };
    expect((await post(server.plainBase as string, headers, body, '127.0.0.2')).status).toBe(200);
  });

  it('counts a forwarded chain as sent, duplicates included: 10 pass, 11 exceed the cap', async () => {
    const copies = (count: number) => ({
      'client-cert': sfBinary(client.certDer),
      'client-cert-chain': new Array(count).fill(sfBinary(ca.intermediate.certDer)).join(', '),
    });
    const ten = await post(server.plainBase as string, copies(10), body, '127.0.0.2');
    expect(ten.status, JSON.stringify(ten.body)).toBe(200);
    const eleven = await post(server.plainBase as string, copies(11), body, '127.0.0.2');
    expect(eleven.status).toBe(401);
    expect(eleven.body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/cannot be parsed/),
    });
  });

  it('Tollgate validates a forwarded certificate itself: a foreign CA is refused', async () => {
    const fixture = negative.fixtures['foreign-ca'];
    const reply = await post(
      server.plainBase as string,
      { 'client-cert': sfBinary(fixture.cert.certDer) },
      `grant_type=client_credentials&client_id=${fixture.clientId}`,
      '127.0.0.2',
    );
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/does not chain/),
    });
  });

  it('the same header from an untrusted peer is ignored', async () => {
    const reply = await post(
      server.plainBase as string,
      { 'client-cert': sfBinary(client.certDer) },
      body,
      '127.0.0.1',
    );
    expect(reply.status).toBe(401);
    expect(reply.body.error_description).toMatch(/needs a client certificate/);
  });

  it('a header sent twice is invalid_request', async () => {
    const reply = await post(
      server.plainBase as string,
      { 'client-cert': [sfBinary(client.certDer), sfBinary(client.certDer)] },
      body,
      '127.0.0.2',
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error).toBe('invalid_request');
  });

  it('a malformed or oversized header is refused, not a crash', async () => {
    for (const value of [':not base64!:', ':AAAA:', `:${'A'.repeat(12_000)}:`, 'no-colons']) {
      const reply = await post(
        server.plainBase as string,
        { 'client-cert': value },
        body,
        '127.0.0.2',
      );
      expect(reply.status, value.slice(0, 20)).toBe(401);
      expect(reply.body.error).toBe('invalid_client');
    }
    // Past Node's own header limit the request never reaches Tollgate: 431, connection closed.
    const huge = await post(
      server.plainBase as string,
      { 'client-cert': `:${'A'.repeat(40_000)}:` },
      body,
      '127.0.0.2',
    ).catch((error: unknown) => error);
    expect(huge instanceof Error ? huge.message : (huge as Reply).status).toSatisfy(
      (outcome: unknown) =>
        outcome === 431 ||
        (typeof outcome === 'string' && /socket hang up|ECONNRESET|JSON/.test(outcome)),
    );
  });
});

describe('behind a proxy (Envoy x-forwarded-client-cert)', () => {
  it('reads the Cert of the element the adjacent proxy appended', async () => {
    const ca = await createDevCa();
    const client = await ca.issueClient({
      clientId: 'svc-envoy',
      subject: 'CN=svc-envoy,O=Acme,C=US',
    });
    const other = await ca.issueClient({
      clientId: 'svc-other',
      subject: 'CN=svc-other,O=Acme,C=US',
    });
    const server = await startMtlsTollgate({
      ca,
      plain: true,
      clients: [
        {
          client_id: 'svc-envoy',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=svc-envoy,O=Acme,C=US',
        },
      ],
      config: { proxy: { trustedCidrs: ['127.0.0.2'], certificateFormat: 'xfcc' } },
    });
    try {
      const element = (pem: string) =>
        `By=spiffe://proxy.test;Hash=00;Cert="${encodeURIComponent(pem)}"`;
      const good = await post(
        server.plainBase as string,
        { 'x-forwarded-client-cert': `${element(other.certPem)},${element(client.certPem)}` },
        'grant_type=client_credentials&client_id=svc-envoy',
        '127.0.0.2',
      );
      expect(good.status, JSON.stringify(good.body)).toBe(200);
      expect(claimsOf(good.body.access_token as string).cnf).toEqual({
        'x5t#S256': thumbprintOf(client.certPem),
      });
      // A client-forged earlier element does not count: only the last one does.
      const forgedFirst = await post(
        server.plainBase as string,
        { 'x-forwarded-client-cert': `${element(client.certPem)},${element(other.certPem)}` },
        'grant_type=client_credentials&client_id=svc-envoy',
        '127.0.0.2',
      );
      expect(forgedFirst.status).toBe(401);
    } finally {
      await server.dispose();
    }
  });
});
