/**
 * What `tollgate dev-ca` tells a user after reading the registry docs: `--bind` takes the
 * registry's own field names, revoke and crl say the server picks CRLs up by itself (they used to
 * say "restart"), and a missing --file is named, not an ENOENT.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
