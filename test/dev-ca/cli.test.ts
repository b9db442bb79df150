/**
 * The dev-ca CLI against temp directories: layout, modes, no-overwrite, idempotent ensure,
 * revocation, doctor, PKCS#12, assertions, and the registry passing Tollgate's own validation.
 */
import { X509Certificate } from 'node:crypto';
import { chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureDevPki } from '../../src/dev-ca/index.js';
import { loadRegistry } from '../../src/registry/index.js';
import { cli, openssl, tempDir, writeAll } from './helpers.js';

/** Every file and folder under `dir` with its mode, mtime and bytes. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await readdir(join(dir, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const info = await stat(join(dir, path));
      if (entry.isDirectory()) {
        out.set(`${path}/`, (info.mode & 0o777).toString(8));
        await walk(path);
      } else {
        const bytes = await readFile(join(dir, path));
        out.set(
          path,
          `${(info.mode & 0o777).toString(8)} ${info.mtimeMs} ${bytes.toString('base64')}`,
        );
      }
    }
  };
  await walk('');
  return out;
}

const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('dev-ca CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const run = (...args: string[]) => cli(dir, ...args);

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => cleanup());

  it('init writes the documented layout with 0600 keys and 0700 folders', async () => {
    const result = await run('init');
    expect(result.code).toBe(0);
    expect(result.out).toContain('Next:');
    expect(result.out).toMatch(/ca\/root\.pem.*until \d{4}-/);
    const expected = [
      'ca/root.pem',
      'ca/intermediate.pem',
      'ca/chain.pem',
      'ca/root.crl.pem',
      'ca/intermediate.crl.pem',
      'ca/crl-chain.pem',
      'ca/intermediate-key.pem',
      'server/server.pem',
      'server/server-key.pem',
      'clients/demo-jwt/private.jwk.json',
      'clients/demo-jwt/public.jwk.json',
      'clients/demo-mtls/cert.pem',
      'clients/demo-mtls/key.pem',
      'clients/demo-mtls/chain.pem',
      'clients/demo-self-signed/cert.pem',
      'clients/demo-self-signed/key.pem',
      'clients/demo-self-signed/public.jwk.json',
      'registry.json',
      'manifest.json',
      'EXAMPLES.md',
    ];
    const files = [...(await snapshot(dir)).keys()].filter((p) => !p.endsWith('/'));
    expect(files.sort()).toEqual([...expected].sort());
    for (const key of [
      'ca/intermediate-key.pem',
      'server/server-key.pem',
      'clients/demo-jwt/private.jwk.json',
      'clients/demo-mtls/key.pem',
      'clients/demo-self-signed/key.pem',
    ]) {
      expect(await modeOf(join(dir, key)), key).toBe(0o600);
    }
    for (const folder of ['', 'ca', 'server', 'clients', 'clients/demo-mtls', 'clients/demo-jwt']) {
      expect(await modeOf(join(dir, folder)), folder).toBe(0o700);
    }
    // The server file is the full chain, the CA chain is intermediate then root.
    const root = await readFile(join(dir, 'ca/root.pem'), 'utf8');
    const intermediate = await readFile(join(dir, 'ca/intermediate.pem'), 'utf8');
    expect(await readFile(join(dir, 'ca/chain.pem'), 'utf8')).toBe(`${intermediate}${root}`);
    expect((await readFile(join(dir, 'server/server.pem'), 'utf8')).endsWith(intermediate)).toBe(
      true,
    );
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
      files: { path: string; serial?: string; notAfter?: string; 'x5t#S256'?: string }[];
    };
    const rootEntry = manifest.files.find((f) => f.path === 'ca/root.pem');
    expect(rootEntry?.serial).toBe(new X509Certificate(root).serialNumber.toUpperCase());
    expect(rootEntry?.['x5t#S256']).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('a second init without --force exits non-zero and changes no byte', async () => {
    expect((await run('init')).code).toBe(0);
    const before = await snapshot(dir);
    const second = await run('init');
    expect(second.code).toBe(1);
    expect(second.err).toContain('refusing to overwrite');
    expect(second.err).toContain('ca/root.pem');
    expect(await snapshot(dir)).toEqual(before);
    // --force replaces the CA.
    expect((await run('init', '--force')).code).toBe(0);
    expect(await readFile(join(dir, 'ca/root.pem'), 'utf8')).not.toBe(before.get('ca/root.pem'));
  });

  it('other commands refuse to overwrite too', async () => {
    expect((await run('init')).code).toBe(0);
    const before = await snapshot(dir);
    expect((await run('server')).code).toBe(1);
    expect((await run('client', 'demo-mtls')).code).toBe(1);
    expect((await run('jwk', 'demo-jwt')).code).toBe(1);
    expect(await snapshot(dir)).toEqual(before);
  });

  it('ensure creates everything once, and a second ensure is a no-op', async () => {
    const first = await ensureDevPki(dir);
    expect(first).toContain('ca/root.pem');
    expect(first).toContain('registry.json');
    const before = await snapshot(dir);
    expect(await ensureDevPki(dir)).toEqual([]);
    expect(await snapshot(dir)).toEqual(before);
    const again = await run('ensure');
    expect(again.code).toBe(0);
    expect(again.out).toContain('nothing to do');
    expect(await snapshot(dir)).toEqual(before);
  });

  it('ensure re-registers the demo clients from their files exactly as init registered them', async () => {
    expect((await run('init')).code).toBe(0);
    const path = join(dir, 'registry.json');
    const registered = await readFile(path, 'utf8');
    await rm(path);
    const result = await run('ensure');
    expect(result.code, result.err).toBe(0);
    expect(result.out).toContain('registry entry missing or stale');
    // Keys and certificates are kept; the entries (allowed_resources included) come back as they were.
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(JSON.parse(registered));
  });

  it('ensure renews leaves that expire soon and keeps the CA', async () => {
    expect((await run('init')).code).toBe(0);
    const root = await readFile(join(dir, 'ca/root.pem'), 'utf8');
    const mtls = await readFile(join(dir, 'clients/demo-mtls/cert.pem'), 'utf8');
    const later = new Date(Date.now() + 25 * 86_400_000).toISOString();
    const result = await run('ensure', '--now', later);
    expect(result.code).toBe(0);
    expect(await readFile(join(dir, 'ca/root.pem'), 'utf8')).toBe(root);
    const renewed = await readFile(join(dir, 'clients/demo-mtls/cert.pem'), 'utf8');
    expect(renewed).not.toBe(mtls);
    expect(new X509Certificate(renewed).subject).toBe(new X509Certificate(mtls).subject);
    expect((await run('doctor', '--now', later)).code).toBe(0);
  });

  it('revoke puts the serial and reason on the CRL that openssl reads', async () => {
    expect((await run('init')).code).toBe(0);
    const serial = new X509Certificate(
      await readFile(join(dir, 'clients/demo-mtls/cert.pem')),
    ).serialNumber.toUpperCase();
    const result = await run('revoke', 'demo-mtls', '--reason', 'superseded');
    expect(result.code).toBe(0);
    expect(result.out).toContain(serial);
    const crl = await openssl([
      'crl',
      '-in',
      join(dir, 'ca/intermediate.crl.pem'),
      '-noout',
      '-text',
    ]);
    expect(crl.output).toMatch(
      new RegExp(`Serial Number: ${serial}[\\s\\S]*?CRL Reason Code:\\s*\\n\\s*Superseded`),
    );
    const chain = await readFile(join(dir, 'ca/crl-chain.pem'), 'utf8');
    expect(chain).toBe(
      `${await readFile(join(dir, 'ca/intermediate.crl.pem'), 'utf8')}${await readFile(join(dir, 'ca/root.crl.pem'), 'utf8')}`,
    );
    const verify = await openssl([
      'verify',
      '-CAfile',
      join(dir, 'ca/root.pem'),
      '-untrusted',
      join(dir, 'ca/intermediate.pem'),
      '-crl_check_all',
      '-CRLfile',
      join(dir, 'ca/crl-chain.pem'),
      join(dir, 'clients/demo-mtls/cert.pem'),
    ]);
    expect(verify.output).toContain('certificate revoked');
    expect((await run('crl')).code).toBe(0);
  });

  it('openssl accepts every leaf init writes, with CRLs', async () => {
    expect((await run('init')).code).toBe(0);
    for (const [leaf, purpose] of [
      ['server/server.pem', 'sslserver'],
      ['clients/demo-mtls/cert.pem', 'sslclient'],
    ] as const) {
      const result = await openssl([
        'verify',
        '-CAfile',
        join(dir, 'ca/root.pem'),
        '-untrusted',
        join(dir, 'ca/intermediate.pem'),
        '-purpose',
        purpose,
        '-crl_check_all',
        '-CRLfile',
        join(dir, 'ca/crl-chain.pem'),
        join(dir, leaf),
      ]);
      expect(result.output, leaf).toContain(': OK');
    }
    const selfSigned = join(dir, 'clients/demo-self-signed/cert.pem');
    expect(
      (await openssl(['verify', '-CAfile', selfSigned, '-purpose', 'sslclient', selfSigned]))
        .output,
    ).toContain(': OK');
  });

  it('doctor passes on a fresh PKI and fails on a world-readable key', async () => {
    expect((await run('init')).code).toBe(0);
    const healthy = await run('doctor');
    expect(healthy.code).toBe(0);
    expect(healthy.out).toContain('healthy');
    await chmod(join(dir, 'clients/demo-mtls/key.pem'), 0o644);
    const sick = await run('doctor', '--json');
    expect(sick.code).toBe(1);
    const report = JSON.parse(sick.out) as {
      ok: boolean;
      checks: { status: string; subject: string }[];
    };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.subject)).toContain(
      'clients/demo-mtls/key.pem',
    );
  });

  it('doctor judges each registry entry by the rules `tollgate serve` loads it with', async () => {
    expect((await run('init')).code).toBe(0);
    const path = join(dir, 'registry.json');
    const registry = JSON.parse(await readFile(path, 'utf8')) as {
      clients: Record<string, unknown>[];
    };
    // A second identity field (the server refuses it) and a workload client (the server takes it).
    const mtls = registry.clients.find((c) => c.client_id === 'demo-mtls');
    if (mtls !== undefined) mtls.tls_client_auth_san_dns = 'demo-mtls.test';
    registry.clients.push({
      client_id: 'svc-workload',
      token_endpoint_auth_method: 'spiffe_jwt',
      spiffe_id: 'spiffe://example.test/svc',
    });
    await writeFile(path, JSON.stringify(registry));
    const { code, out } = await run('doctor', '--json');
    expect(code).toBe(1);
    const failed = (
      JSON.parse(out) as { checks: { status: string; subject: string; message: string }[] }
    ).checks.filter((c) => c.status === 'fail');
    expect(failed).toEqual([
      {
        status: 'fail',
        subject: 'registry.json (demo-mtls)',
        message: expect.stringMatching(/register exactly one tls_client_auth_\* value/),
      },
    ]);
  });

  it('the registry passes Tollgate registry validation and matches the files', async () => {
    expect((await run('init')).code).toBe(0);
    expect((await run('negative')).code).toBe(0);
    const registry = loadRegistry(
      { file: join(dir, 'registry.json'), clients: [] },
      {
        allowedAssertionAlgs: ['ES256', 'EdDSA', 'PS256', 'RS256'],
        createRemoteKeySet: () => {
          throw new Error('no jwks_uri expected');
        },
      },
    );
    expect(registry.get('demo-jwt')?.metadata.token_endpoint_auth_method).toBe('private_key_jwt');
    expect(registry.get('demo-mtls')?.metadata.tls_client_auth_subject_dn).toBe(
      'CN=demo-mtls,O=Tollgate Dev,C=US',
    );
    expect(registry.get('demo-self-signed')?.metadata.token_endpoint_auth_method).toBe(
      'self_signed_tls_client_auth',
    );
    expect(registry.get('neg-san-mismatch')?.metadata.tls_client_auth_san_uri).toBe(
      'spiffe://tollgate.test/neg-san-mismatch',
    );
    const selfSigned = registry.get('demo-self-signed')?.metadata.jwks?.keys[0];
    const der = new X509Certificate(await readFile(join(dir, 'clients/demo-self-signed/cert.pem')))
      .raw;
    expect(selfSigned?.x5c).toEqual([der.toString('base64')]);
    for (const id of ['demo-jwt', 'demo-mtls', 'demo-self-signed']) {
      const entry = registry.get(id)?.metadata;
      expect(entry?.scope).toBe('read write');
      expect(entry?.grant_types).toEqual(['client_credentials']);
    }
    const examples = await readFile(join(dir, 'EXAMPLES.md'), 'utf8');
    expect(examples).toContain('https://localhost:8443/token');
    expect(examples).toContain(`--cacert ${dir}/ca/root.pem`);
    expect(examples).toContain(
      `--cert ${dir}/clients/demo-mtls/chain.pem --key ${dir}/clients/demo-mtls/key.pem`,
    );
    expect(examples).toContain(
      'client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    );
  });

  it('assertion prints a JWT signed by the registered key, aud = issuer', async () => {
    expect((await run('init', '--issuer', 'https://auth.test:9443')).code).toBe(0);
    const result = await run('assertion', 'demo-jwt');
    expect(result.code).toBe(0);
    const jwt = result.out.trim();
    const publicJwk = JSON.parse(
      await readFile(join(dir, 'clients/demo-jwt/public.jwk.json'), 'utf8'),
    );
    const { payload, protectedHeader } = await jwtVerify(
      jwt,
      createLocalJWKSet({ keys: [publicJwk] }),
      {
        issuer: 'demo-jwt',
        subject: 'demo-jwt',
        audience: 'https://auth.test:9443',
      },
    );
    expect(protectedHeader.typ).toBe('client-authentication+jwt');
    expect(protectedHeader.kid).toBe(publicJwk.kid);
    expect(payload.aud).toBe('https://auth.test:9443');
    expect(typeof payload.jti).toBe('string');
  });

  it('client --file creates clients of every method; --p12 bundles open in openssl', async () => {
    expect((await run('init')).code).toBe(0);
    const [specPath] = Object.values(
      await writeAll(dir, {
        'clients.json': JSON.stringify({
          clients: [
            {
              client_id: 'svc-a',
              subject: 'CN=svc-a,OU=Payments,O=Acme,C=US',
              san_uri: ['spiffe://tollgate.test/ns/prod/sa/svc-a'],
              san_email: ['svc-a@example.org'],
              bind: 'san_uri',
              p12: true,
            },
            { client_id: 'svc-b', method: 'private_key_jwt', alg: 'PS256' },
            { client_id: 'svc-c', method: 'self_signed_tls_client_auth', key_type: 'ed25519' },
          ],
        }),
      }),
    );
    const result = await run('client', '--file', specPath as string);
    expect(result.code, result.err).toBe(0);
    const registry = JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8')) as {
      clients: Record<string, unknown>[];
    };
    const svcA = registry.clients.find((c) => c.client_id === 'svc-a');
    expect(svcA?.tls_client_auth_san_uri).toBe('spiffe://tollgate.test/ns/prod/sa/svc-a');
    expect(svcA?.tls_client_auth_subject_dn).toBeUndefined();
    const cert = new X509Certificate(await readFile(join(dir, 'clients/svc-a/cert.pem')));
    expect(cert.subject).toBe('C=US\nO=Acme\nOU=Payments\nCN=svc-a');
    expect(cert.subjectAltName).toBe(
      'URI:spiffe://tollgate.test/ns/prod/sa/svc-a, email:svc-a@example.org',
    );
    expect(await modeOf(join(dir, 'clients/svc-a/client.p12'))).toBe(0o600);
    expect(await modeOf(join(dir, 'clients/svc-a/client.p12.password'))).toBe(0o600);
    const info = await openssl([
      'pkcs12',
      '-in',
      join(dir, 'clients/svc-a/client.p12'),
      '-info',
      '-noout',
      '-passin',
      `file:${join(dir, 'clients/svc-a/client.p12.password')}`,
    ]);
    expect(info.code, info.output).toBe(0);
    expect(info.output).toContain('MAC: sha256');
    expect(info.output).toContain('PBES2, PBKDF2, AES-256-CBC');
    expect((await run('doctor')).code).toBe(0);
  });

  it('rejects bad usage with exit code 2', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('init', '--key-type', 'dsa')).code).toBe(2);
    expect((await run('revoke', 'x', '--reason', 'bored')).code).toBe(2);
    expect((await run('crl', '--san', 'x.test')).code).toBe(2);
  });

  it('--json output lists the files with notAfter', async () => {
    const result = await run('init', '--json');
    const parsed = JSON.parse(result.out) as {
      command: string;
      files: { path: string; notAfter?: string }[];
    };
    expect(parsed.command).toBe('init');
    expect(parsed.files.find((f) => f.path === 'ca/root.pem')?.notAfter).toMatch(
      /^\d{4}-\d{2}-\d{2}T/,
    );
  });
});
