/**
 * What `tollgate dev-ca` tells a user after reading the registry docs: `--bind` takes the
 * registry's own field names, revoke and crl say the server picks CRLs up by itself (they used to
 * say "restart"), and a missing --file is named, not an ENOENT. `--issuer` applies the issuer rule
 * `tollgate serve` applies (RFC 8414 §2), with the same reason: it used to keep its own copy,
 * which let user information and a bare "?" through, so the dev CA wrote EXAMPLES.md and
 * assertions for an issuer the server refuses.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
  });
  return { code, out, err };
}

describe('tollgate dev-ca messages', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-dev-ca-cli-'));
    const init = await run('dev-ca', 'init', '--dir', dir);
    expect(init.code, init.err).toBe(0);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('--bind accepts the registry field names as well as the short ones', async () => {
    const long = await run(
      'dev-ca',
      'client',
      'svc-long',
      '--san-dns',
      'svc-long.test',
      '--bind',
      'tls_client_auth_san_dns',
      '--dir',
      dir,
    );
    expect(long.code, long.err).toBe(0);
    const short = await run(
      'dev-ca',
      'client',
      'svc-short',
      '--san-uri',
      'spiffe://example.test/svc',
      '--bind',
      'san_uri',
      '--dir',
      dir,
    );
    expect(short.code, short.err).toBe(0);
    const registry = JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8')) as {
      clients: Array<Record<string, unknown>>;
    };
    const byId = new Map(registry.clients.map((c) => [c.client_id, c]));
    expect(byId.get('svc-long')).toMatchObject({ tls_client_auth_san_dns: 'svc-long.test' });
    expect(byId.get('svc-short')).toMatchObject({
      tls_client_auth_san_uri: 'spiffe://example.test/svc',
    });
    const bad = await run(
      'dev-ca',
      'client',
      'svc-bad',
      '--bind',
      'tls_client_auth_dn',
      '--dir',
      dir,
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--bind is one of subject_dn \(tls_client_auth_subject_dn\)/);
  });

  it('revoke and crl say CRLs reload by themselves, never "restart"', async () => {
    for (const argv of [
      ['dev-ca', 'revoke', 'svc-long', '--dir', dir],
      ['dev-ca', 'crl', '--dir', dir],
    ]) {
      const { code, out, err } = await run(...argv);
      expect(code, err).toBe(0);
      expect(out).toMatch(/picks up the new CRLs by itself/);
      expect(out).not.toMatch(/restart/i);
    }
  });
});

describe('tollgate dev-ca --issuer and tollgate serve agree on the issuer', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-dev-ca-issuer-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it.each([
    ['https://user@localhost:8443', 'must not have user information'],
    ['https://user:pw@localhost:8443', 'must not have user information'],
    ['https://localhost:8443?', 'must not have a query'],
    ['https://localhost:8443/?a=1', 'must not have a query'],
    ['https://localhost:8443#', 'must not have a fragment'],
    ['https://localhost:8443/#top', 'must not have a fragment'],
    ['http://localhost:8443', 'must use the https scheme (RFC 8414 §2)'],
    ['localhost:8443', 'must use the https scheme (RFC 8414 §2)'],
    ['not a url', 'must be an absolute URL'],
  ])('%s: both refuse it, saying %s', async (issuer, reason) => {
    const config = join(dir, 'tollgate.json');
    await writeFile(config, JSON.stringify({ issuer }));
    const serve = await run('serve', '--config', config);
    expect(serve.code, serve.err).toBe(1);
    expect(serve.err).toContain(`  - issuer: ${reason}\n`);

    const workspace = join(dir, 'ca');
    const init = await run('dev-ca', 'init', '--dir', workspace, '--issuer', issuer);
    expect(init.code).toBe(2);
    expect(init.err.split('\n')[0]).toBe(`dev-ca init: --issuer: ${reason}`);
    // Refused before anything was written.
    await expect(readdir(workspace)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('accepts what serve accepts (one trailing "/" is dropped, as before)', async () => {
    const workspace = join(dir, 'good');
    const init = await run(
      'dev-ca',
      'init',
      '--dir',
      workspace,
      '--issuer',
      'https://a.test:9443/t/',
    );
    expect(init.code, init.err).toBe(0);
    const assertion = await run('dev-ca', 'assertion', 'demo-jwt', '--dir', workspace);
    expect(assertion.code, assertion.err).toBe(0);
    const payload = JSON.parse(
      Buffer.from(assertion.out.trim().split('.')[1] ?? '', 'base64url').toString(),
    ) as { aud: unknown };
    expect(payload.aud).toBe('https://a.test:9443/t');
  });
});
