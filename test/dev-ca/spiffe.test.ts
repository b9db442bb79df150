/**
 * SPIFFE fixtures: `client --spiffe-id` issues an X.509-SVID (the SPIFFE ID as its only SAN,
 * clientAuth, a leaf) that openssl accepts and that gets a bound token from a running Tollgate by
 * `tls_client_auth_san_uri`; `ca/spiffe-bundle.json` is the trust domain's bundle (an x509-svid
 * JWK carrying the dev root) and follows the root when the CA is replaced.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, runDevCaCli } from '../../src/dev-ca/index.js';
import { parseSpiffeId, spiffeBundle } from '../../src/dev-ca/spiffe.js';
import { claimsOf, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';
import { cli, openssl, quiet, tempDir } from './helpers.js';

const spiffeId = 'spiffe://tollgate.test/ns/prod/sa/svc-w';

interface Bundle {
  keys: { kty: string; use: string; x5c: string[]; crv?: string; x?: string }[];
  spiffe_refresh_hint: number;
}

describe('dev-ca X.509-SVIDs and the SPIFFE bundle', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const read = (path: string) => readFile(join(dir, path), 'utf8');

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    expect(await runDevCaCli(['init', '--dir', dir], quiet)).toBe(0);
    const issued = await cli(dir, 'client', 'svc-w', '--spiffe-id', spiffeId);
    expect(issued.code, issued.err).toBe(0);
  });
  afterAll(async () => cleanup());

  it('the SVID has exactly one URI SAN, no DNS or IP SAN, clientAuth only, and is a leaf', async () => {
    const cert = new X509Certificate(await read('clients/svc-w/cert.pem'));
    expect(cert.subjectAltName).toBe(`URI:${spiffeId}`);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.ca).toBe(false);
    const text = (await openssl(['x509', '-in', 'clients/svc-w/cert.pem', '-noout', '-text'], dir))
      .output;
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\s*\n/);
    const verified = await openssl(
      [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-CAfile',
        'ca/root.pem',
        '-untrusted',
        'ca/intermediate.pem',
        'clients/svc-w/cert.pem',
      ],
      dir,
    );
    expect(verified.output).toContain('clients/svc-w/cert.pem: OK');
    const registry = JSON.parse(await read('registry.json')) as {
      clients: { client_id: string }[];
    };
    expect(registry.clients.find((c) => c.client_id === 'svc-w')).toMatchObject({
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_uri: spiffeId,
    });
  });

  it('EXAMPLES.md shows the SVID as what it is: an X.509-SVID registered as tls_client_auth by its SPIFFE ID', async () => {
    const examples = await read('EXAMPLES.md');
    const section = examples.slice(examples.indexOf('## svc-w:'));
    expect(section).toMatch(/^## svc-w: tls_client_auth \(mutual TLS, X\.509-SVID\)\n/);
    expect(section).toContain(`Bound by \`tls_client_auth_san_uri\` = \`${spiffeId}\``);
    expect(section).toContain('ca/spiffe-bundle.json');
    // An ordinary client keeps its description (init registers demo-mtls by subject DN).
    expect(examples).toContain('## demo-mtls: tls_client_auth (mutual TLS, CA-issued certificate)');
  });

  it('writes the bundle next to the CA: one x509-svid JWK whose x5c is the dev root', async () => {
    const bundle = JSON.parse(await read('ca/spiffe-bundle.json')) as Bundle;
    const root = new X509Certificate(await read('ca/root.pem'));
    expect(bundle.keys).toHaveLength(1);
    const [key] = bundle.keys;
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'x509-svid' });
    expect(key?.x5c).toEqual([root.raw.toString('base64')]);
    expect(key?.x).toBe(root.publicKey.export({ format: 'jwk' }).x);
    expect(bundle.spiffe_refresh_hint).toBeGreaterThan(0);
    const manifest = JSON.parse(await read('manifest.json')) as { files: { path: string }[] };
    expect(manifest.files.map((f) => f.path)).toContain('ca/spiffe-bundle.json');
  });

  it('the bundle follows the root when init --force replaces the CA', async () => {
    const { dir: other, cleanup: done } = await tempDir();
    try {
      expect(await runDevCaCli(['init', '--dir', other], quiet)).toBe(0);
      expect((await cli(other, 'spiffe-bundle')).code).toBe(0);
      expect(await runDevCaCli(['init', '--force', '--dir', other], quiet)).toBe(0);
      const bundle = JSON.parse(await readFile(join(other, 'ca/spiffe-bundle.json'), 'utf8'));
      const root = new X509Certificate(await readFile(join(other, 'ca/root.pem')));
      expect((bundle as Bundle).keys[0]?.x5c).toEqual([root.raw.toString('base64')]);
    } finally {
      await done();
    }
  });

  it('gets a certificate-bound token from a running Tollgate, matched by tls_client_auth_san_uri', async () => {
    const ca = await createDevCa();
    const svid = await ca.issueClient({ clientId: 'svc-w', spiffeId });
    const tollgate = await startMtlsTollgate({
      ca,
      clients: [
        {
          client_id: 'svc-w',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_san_uri: spiffeId,
          grant_types: ['client_credentials'],
          scope: 'read',
        },
      ],
    });
    try {
      const result = await tollgate.token(
        { grant_type: 'client_credentials', client_id: 'svc-w' },
        { cert: svid.chainPem, key: svid.keyPem },
      );
      expect(result.status, JSON.stringify(result.body)).toBe(200);
      const token = (result.body as { access_token: string }).access_token;
      expect(claimsOf(token)).toMatchObject({
        client_id: 'svc-w',
        cnf: { 'x5t#S256': thumbprintOf(svid.certPem) },
      });
    } finally {
      await tollgate.dispose();
    }
  });

  it('refuses other SANs beside the SPIFFE ID, and malformed SPIFFE IDs', async () => {
    const ca = await createDevCa();
    await expect(ca.issueClient({ clientId: 'x', spiffeId, sanDns: ['x.test'] })).rejects.toThrow(
      /only SAN/,
    );
    await expect(ca.issueClient({ clientId: 'x', spiffeId, eku: 'serverAuth' })).rejects.toThrow(
      /clientAuth/,
    );
    for (const bad of [
      'spiffe://Tollgate.test/svc',
      'spiffe://tollgate.test',
      'spiffe://tollgate.test/',
      'spiffe://tollgate.test/a/../b',
      'spiffe://tollgate.test:8443/svc',
      'spiffe://tollgate.test/svc?x=1',
      'https://tollgate.test/svc',
    ]) {
      expect(() => parseSpiffeId(bad), bad).toThrow(TypeError);
    }
    expect(parseSpiffeId(spiffeId)).toEqual({
      id: spiffeId,
      trustDomain: 'tollgate.test',
      path: '/ns/prod/sa/svc-w',
    });
    const usage = await cli(dir, 'client', 'y', '--spiffe-id', spiffeId, '--san-ip', '127.0.0.1');
    expect(usage.code).toBe(1);
    expect(usage.err).toMatch(/only SAN/);
  });

  it('spiffeBundle publishes jwt-svid keys beside the X.509 authorities', async () => {
    const ca = await createDevCa();
    const bundle = await spiffeBundle(ca.root.certPem, {
      jwtAuthorities: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'k1' }],
      sequence: 7,
    });
    expect(bundle.keys.map((k) => k.use)).toEqual(['x509-svid', 'jwt-svid']);
    expect(bundle.spiffe_sequence).toBe(7);
  });
});
