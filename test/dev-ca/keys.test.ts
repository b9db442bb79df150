/** private_key_jwt signing keys and self-signed client certificates. */
import { X509Certificate } from 'node:crypto';
import { calculateJwkThumbprint, importJWK, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  createSelfSignedClient,
  generateSigningJwk,
  signingJwkAlgs,
} from '../../src/dev-ca/index.js';

describe('generateSigningJwk', () => {
  for (const alg of ['ES256', 'EdDSA', 'PS256', 'RS256'] as const) {
    it(`${alg}: kid is the RFC 7638 thumbprint, alg and use are set, and the pair signs`, async () => {
      const { publicJwk, privateJwk, kid } = await generateSigningJwk(alg);
      expect(publicJwk.d).toBeUndefined();
      expect(privateJwk.d).toBeDefined();
      expect(publicJwk).toMatchObject({ kid, alg, use: 'sig' });
      expect(kid).toBe(await calculateJwkThumbprint(publicJwk, 'sha256'));
      const jwt = await new SignJWT({})
        .setProtectedHeader({ alg })
        .sign(await importJWK(privateJwk, alg));
      await expect(jwtVerify(jwt, await importJWK(publicJwk, alg))).resolves.toBeDefined();
    });
  }

  it('knows the algorithms the design allows', () => {
    expect(signingJwkAlgs).toEqual(expect.arrayContaining(['ES256', 'EdDSA', 'PS256', 'RS256']));
  });
});

describe('createSelfSignedClient', () => {
  it('makes a clientAuth certificate whose JWK carries it in x5c', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const client = await createSelfSignedClient({
      clientId: 'svc-ss',
      subject: 'CN=svc-ss,O=Acme,C=US',
      now,
    });
    const x509 = new X509Certificate(client.certPem);
    expect(x509.subject).toBe('C=US\nO=Acme\nCN=svc-ss');
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x509.ca).toBe(false);
    expect(client.notBefore).toEqual(now);
    expect(client.notAfter.getTime() - now.getTime()).toBe(3_600_000);
    expect(client.jwk.x5c).toEqual([x509.raw.toString('base64')]);
    expect(client.jwk.kid).toBe(await calculateJwkThumbprint(client.jwk, 'sha256'));
    expect(client.x5tS256).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('supports Ed25519 through the pkijs builder', async () => {
    const client = await createSelfSignedClient({ clientId: 'svc-ed', keyType: 'ed25519' });
    const x509 = new X509Certificate(client.certPem);
    expect(x509.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(client.subject).toBe('CN=svc-ed,O=Tollgate Dev,C=US');
    expect(client.jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
  });
});
