/**
 * `tollgate check-config` reports every problem of a deployment at once, each naming the setting
 * or file, against a real dev PKI made by the dev CA: schema and semantic errors of the file
 * together, then registry, keys, trust store and server identity, each loaded on its own.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkConfigCommand } from '../../src/cli/check-config.js';
import { ensureDevPki } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await checkConfigCommand(argv, {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
  });
  return { code, out, err };
}

describe('tollgate check-config', () => {
  let dir: string;
  const config = (name: string, body: unknown) => {
    const file = join(dir, name);
    return writeFile(file, JSON.stringify(body)).then(() => file);
  };
  const base = {
    issuer: 'https://localhost:8443',
    unsafeDevDefaults: false,
    devPkiDir: 'certs',
    tls: { certFile: 'certs/server/server.pem', keyFile: 'certs/server/server-key.pem' },
    signingKeys: { file: 'signing-keys.json' },
    registry: { file: 'certs/registry.json' },
    clientCertificates: {
      trustAnchorFiles: ['certs/ca/root.pem'],
      intermediateFiles: ['certs/ca/intermediate.pem'],
      crlFiles: ['certs/ca/crl-chain.pem'],
    },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-check-config-'));
    await ensureDevPki(join(dir, 'certs'), { issuer: base.issuer });
    const jwk = await generateSigningJwk('ES256');
    writeSigningKeyFile(join(dir, 'signing-keys.json'), {
      active_kid: jwk.kid as string,
      keys: [jwk],
    });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a memory replay store that could outgrow the heap, naming the setting and the fix', async () => {
    const huge = { ...base, replay: { store: 'memory', maxEntries: 100_000_000 } };
    const { code, err } = await run('--config', await config('huge-replay.json', huge));
    expect(code).not.toBe(0);
    expect(err).toMatch(
      /replay\.maxEntries: 100000000 live claims need about 15800 MiB of heap when the memory replay store is full .* lower replay\.maxEntries, or raise the limit \(NODE_OPTIONS=--max-old-space-size=16056\)/,
    );
    // The default bound fits in any heap Node gives a process here.
    const fits = { ...base, replay: { store: 'memory', maxEntries: 1_000_000 } };
    const ok = await run('--config', await config('default-replay.json', fits));
    expect(ok.err).not.toContain('replay.maxEntries');
  });

  it('passes a configuration without clients, with a note that every request will be refused', async () => {
    const { registry: _registry, ...noRegistry } = base;
    const { code, out, err } = await run('--config', await config('no-clients.json', noRegistry));
    expect(code, err).toBe(0);
    expect(out).toMatch(/^configuration OK: issuer https:\/\/localhost:8443, 0 client\(s\)/);
    expect(out).toContain(
      'note: no client is registered: every token request will be refused (invalid_client); set registry.file or registry.clients (docs/configuration.md)\n',
    );
    const good = await run('--config', await config('good.json', base));
    expect(good.out).not.toContain('no client is registered');
  });

  it('passes a sound deployment (exit 0)', async () => {
    const { code, out, err } = await run('--config', await config('good.json', base));
    expect(code, err).toBe(0);
    expect(out).toMatch(
      /^configuration OK: issuer https:\/\/localhost:8443, 3 client\(s\), 1 trust anchor\(s\)/,
    );
  });

  it('reports schema and semantic errors of the file together (exit 1)', async () => {
    const file = await config('bad.json', {
      ...base,
      issuer: 'http://localhost:8443/', // semantic: https, no trailing slash
      tls: { ...base.tls, port: 'x' }, // schema
      rateLimits: { perClinet: 5 }, // schema: unknown setting
      proxy: { trustedCidrs: ['10.0.0.300'] }, // semantic
    });
    const { code, err } = await run('--config', file);
    expect(code).toBe(1);
    expect(err.startsWith(`invalid configuration in ${file} (4 problems):\n`)).toBe(true);
    expect(err).toContain('  - tls.port: must be integer');
    expect(err).toContain('  - rateLimits.perClinet: unknown setting');
    expect(err).toContain('  - issuer: must use the https scheme (RFC 8414 §2)');
    expect(err).toContain('  - proxy.trustedCidrs: 10.0.0.300 is not an IP address or CIDR');
  });

  it('reports every broken part of a valid file at once, by setting and file', async () => {
    const broken = join(dir, 'broken');
    await writeFile(
      join(dir, 'registry-bad.json'),
      JSON.stringify({
        clients: [{ client_id: 'x', token_endpoint_auth_method: 'tls_client_auth' }],
      }),
    );
    // the root CA's certificate where the server key should be: not PEM key material
    await copyFile(join(dir, 'certs/ca/root.pem'), `${broken}-key.pem`);
    const file = await config('broken.json', {
      ...base,
      tls: { ...base.tls, keyFile: 'broken-key.pem' },
      signingKeys: { file: 'no-such-keys.json' },
      registry: { file: 'registry-bad.json' },
      clientCertificates: { ...base.clientCertificates, crlFiles: ['certs/ca/gone.crl.pem'] },
    });
    const { code, err } = await run('--config', file);
    expect(code).toBe(1);
    expect(err.startsWith(`invalid configuration in ${file} (4 problems):\n`)).toBe(true);
    expect(err).toMatch(/ - signingKeys\.file: .*no-such-keys\.json: no such file/);
    expect(err).toMatch(/ - clientCertificates\.crlFiles\.0: .*gone\.crl\.pem: no such file/);
    expect(err).toMatch(
      / - registry: .*registry-bad\.json: clients\[0\] \("x"\): token_endpoint_auth_method: tls_client_auth needs one of/,
    );
    expect(err).toMatch(/ - tls\.certFile: .*server\.pem and .*broken-key\.pem must be PEM/);
    expect(err).not.toMatch(/ENOENT|error:[0-9A-F]{8}/);
  });

  it("names a key that is not the certificate's", async () => {
    const other = join(dir, 'certs/clients/demo-mtls');
    const file = await config('mismatch.json', {
      ...base,
      tls: { ...base.tls, keyFile: join(other, 'key.pem') },
    });
    const { code, err } = await run('--config', file);
    expect(code).toBe(1);
    expect(err).toMatch(
      /tls\.certFile: .*demo-mtls\/key\.pem is not the private key of .*server\.pem/,
    );
  });
});
