/**
 * Issue 13, path validation over real mutual TLS: the key policy applies to the client's own
 * certificate (an RSA-1024 leaf issued by a trusted CA used to get a token), a long but legal
 * chain is no longer refused (9 intermediates, the cap is 10), and the cap still holds at 11; a
 * leaf whose host-name CN lies outside its CA's name constraints (and that has no dNSName SAN)
 * gets no token, as OpenSSL refuses it (round 19).
 * Certificates are built at test time with the dev CA's certificate builder and keys.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { leafSignedBy, type Signer } from '../pki/fixtures.js';

const suffix = 'O=Tollgate Dev,C=US';

function rsaKey(bits: number): { spkiDer: Buffer; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    spkiDer: publicKey.export({ type: 'spki', format: 'der' }),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

describe('certificate path validation over mutual TLS (issue 13)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  const identities = new Map<string, { cert: string; key: string }>();

  /** A leaf under `depth` fresh intermediates below the root; the chain as a client sends it. */
  async function deepChain(depth: number, cn: string): Promise<{ cert: string; key: string }> {
    const now = new Date();
    let issuer: Signer = {
      subject: ca.root.subject,
      certPem: ca.root.certPem,
      keyPem: ca.root.keyPem as string,
    };
    const sent: string[] = [];
    for (let level = 1; level <= depth; level++) {
      const subject = `CN=${cn} CA ${level},${suffix}`;
      const intermediate = await leafSignedBy(issuer, now, { subject, ca: true });
      sent.unshift(intermediate.pem);
      issuer = { subject, certPem: intermediate.pem, keyPem: intermediate.keyPem };
    }
    const leaf = await leafSignedBy(issuer, now, { subject: `CN=${cn},${suffix}` });
    return { cert: [leaf.pem, ...sent].join(''), key: leaf.keyPem };
  }

  beforeAll(async () => {
    ca = await createDevCa();
    const now = new Date();
    for (const [name, bits] of [
      ['rsa-1024', 1024],
      ['rsa-2052', 2052],
      ['rsa-2048', 2048],
    ] as const) {
      const leaf = await leafSignedBy(ca.intermediate, now, {
        subject: `CN=${name},${suffix}`,
        key: rsaKey(bits),
      });
      identities.set(name, { cert: `${leaf.pem}${ca.intermediate.certPem}`, key: leaf.keyPem });
    }
    // The dev CA's CAs permit only localhost, .localhost, .test and loopback addresses. A leaf
    // without a dNSName SAN whose CN is a host name outside them is outside the constraints
    // (OpenSSL checks such a CN, issue 13 round 19); one inside them is fine.
    for (const [name, cn] of [
      ['cn-outside', 'admin.corp.example'],
      ['cn-inside', 'svc.partner.test'],
    ] as const) {
      const leaf = await leafSignedBy(ca.intermediate, now, { subject: `CN=${cn},${suffix}` });
      identities.set(name, { cert: `${leaf.pem}${ca.intermediate.certPem}`, key: leaf.keyPem });
    }
    identities.set('deep-9', await deepChain(9, 'deep-9'));
    identities.set('deep-10', await deepChain(10, 'deep-10'));
    identities.set('deep-11', await deepChain(11, 'deep-11'));
    server = await startMtlsTollgate({
      ca,
      clients: [
        ...['rsa-1024', 'rsa-2052', 'rsa-2048', 'deep-9', 'deep-10', 'deep-11'].map((name) => ({
          client_id: name,
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: `CN=${name},${suffix}`,
        })),
        ...[
          ['cn-outside', 'admin.corp.example'],
          ['cn-inside', 'svc.partner.test'],
        ].map(([name, cn]) => ({
          client_id: name,
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: `CN=${cn},${suffix}`,
        })),
      ],
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  const token = (name: string): Promise<TokenResult> =>
    server.token(
      { grant_type: 'client_credentials', client_id: name },
      identities.get(name) as { cert: string; key: string },
    );

  it.each([
    ['an RSA-1024 client key', 'rsa-1024'],
    ['an RSA key of 2052 bits (not a whole number of octets)', 'rsa-2052'],
  ])('refuses a trusted leaf with %s', async (_what, name) => {
    const result = await token(name);
    expect(result.ok, JSON.stringify(result)).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(401);
    expect(result.error).toBe('invalid_client');
    expect(result.errorDescription).toBe('the client certificate does not chain to a trusted CA');
  });

  it('accepts the same leaf with an RSA-2048 key', async () => {
    const result = await token('rsa-2048');
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it('accepts a chain of 9 intermediates (the old cap of 8 refused it)', async () => {
    const result = await token('deep-9');
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (result.ok) expect(claimsOf(result.accessToken).client_id).toBe('deep-9');
  });

  it('accepts exactly 10 intermediates, the cap (round 19: the cap was off by one)', async () => {
    const result = await token('deep-10');
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (result.ok) expect(claimsOf(result.accessToken).client_id).toBe('deep-10');
  });

  it('refuses 11 intermediates: the cap is 10', async () => {
    const result = await token('deep-11');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toBe('invalid_client');
  });

  it('refuses a host-name CN outside the CA name constraints when there is no dNSName SAN', async () => {
    const result = await token('cn-outside');
    expect(result.ok, JSON.stringify(result)).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(401);
    expect(result.error).toBe('invalid_client');
  });

  it('accepts a host-name CN inside the name constraints', async () => {
    const result = await token('cn-inside');
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (result.ok) expect(claimsOf(result.accessToken).client_id).toBe('cn-inside');
  });
});
