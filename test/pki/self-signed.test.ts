/**
 * self_signed_tls_client_auth helpers: matching a presented certificate to a registered JWK by
 * x5c or by public key (dev CA self-signed clients), for each key type.
 */
import { describe, expect, it } from 'vitest';
import { createDevCa, createSelfSignedClient } from '../../src/dev-ca/index.js';
import {
  certificateMatchesJwk,
  parseCertificate,
  publicKeyMatchesJwk,
  TrustStore,
} from '../../src/pki/index.js';

describe('self-signed clients', () => {
  it.each(['p256', 'p384', 'rsa2048', 'ed25519'] as const)('matches %s keys', async (keyType) => {
    const client = await createSelfSignedClient({ clientId: `self-${keyType}`, keyType });
    const other = await createSelfSignedClient({ clientId: 'other', keyType });
    const cert = parseCertificate(client.certDer);
    const { x5c: _x5c, ...withoutX5c } = client.jwk;
    expect(certificateMatchesJwk(cert, client.jwk)).toBe(true);
    expect(certificateMatchesJwk(cert, withoutX5c)).toBe(true);
    expect(publicKeyMatchesJwk(client.certDer, withoutX5c)).toBe(true);
    expect(certificateMatchesJwk(cert, other.jwk)).toBe(false);
    const { x5c: _otherX5c, ...otherWithoutX5c } = other.jwk;
    expect(publicKeyMatchesJwk(cert, otherWithoutX5c)).toBe(false);
  });

  it('compares x5c by certificate, not by key', async () => {
    const client = await createSelfSignedClient({ clientId: 'x5c-wins' });
    const other = await createSelfSignedClient({ clientId: 'x' });
    // The key members are this client's, but x5c names another certificate: x5c decides.
    const jwk = { ...client.jwk, x5c: other.jwk.x5c };
    expect(certificateMatchesJwk(parseCertificate(client.certDer), jwk)).toBe(false);
  });

  it.each([
    ['null', null],
    ['a string', 'jwk'],
    ['an array', []],
    ['a private JWK', { kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c' }],
    ['garbage members', { kty: 'EC', crv: 'P-256', x: '!', y: '?' }],
    ['an unknown kty', { kty: 'oct', k: 'AAAA' }],
    ['a bad x5c', { kty: 'EC', x5c: 'not-an-array' }],
    ['a base64url x5c', { kty: 'EC', x5c: ['ab_-'] }],
  ])('does not match %s', async (_name, jwk) => {
    const client = await createSelfSignedClient({ clientId: 'garbage' });
    const cert = parseCertificate(client.certDer);
    expect(certificateMatchesJwk(cert, jwk)).toBe(false);
  });

  it('never chains a self-signed certificate to a trust anchor', async () => {
    const ca = await createDevCa();
    const client = await createSelfSignedClient({ clientId: 'lonely' });
    const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const result = store.validate(client.certDer, [], { now: new Date() });
    expect(result.ok).toBe(false);
  });
});
