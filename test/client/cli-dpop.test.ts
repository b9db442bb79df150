/**
 * `tollgate dev-ca dpop-key` writes a DPoP key for a client; `tollgate token --dpop-key` gets a
 * DPoP-bound token with it against a real Tollgate, and `--decode` shows cnf.jkt, the key's
 * RFC 7638 thumbprint (computed here by jose).
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenCommand } from '../../src/cli/token.js';
import { createDevCa, type DevCa, runDevCaCli } from '../../src/dev-ca/index.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { type RunningTollgate, startTollgate } from './harness.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

describe('tollgate token --dpop-key', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let jwt: JwtClient;
  let keyFile: string;
  let dpopFile: string;

  beforeAll(async () => {
    ca = await createDevCa();
    jwt = await makeJwtClient('svc-cli-dpop', 'ES256', { dpop_bound_access_tokens: true });
    server = await startTollgate({ ca, clients: [jwt.metadata] });
    keyFile = join(server.dir, 'assertion.jwk.json');
    await writeFile(keyFile, JSON.stringify(jwt.key.privateJwk), { mode: 0o600 });
    const out = capture();
    const pki = join(server.dir, 'pki');
    expect(
      await runDevCaCli(['dpop-key', 'svc-cli-dpop', '--dir', pki], out.io),
      out.stderr(),
    ).toBe(0);
    dpopFile = join(pki, 'clients', 'svc-cli-dpop', 'dpop.jwk.json');
    // A key file: 0600, and a second run refuses to overwrite it.
    expect((await stat(dpopFile)).mode & 0o777).toBe(0o600);
    expect(await runDevCaCli(['dpop-key', 'svc-cli-dpop', '--dir', pki], capture().io)).not.toBe(0);
  });
  afterAll(() => server?.dispose());

  const run = async (extra: string[]) => {
    const out = capture();
    const code = await tokenCommand(
      [
        '--client-id',
        'svc-cli-dpop',
        '--key',
        keyFile,
        '--issuer',
        server.issuer,
        '--ca',
        server.files.root,
        ...extra,
      ],
      out.io,
    );
    return { code, out };
  };

  it('prints a DPoP token whose cnf.jkt is the key thumbprint (--json --decode)', async () => {
    const { code, out } = await run(['--dpop-key', dpopFile, '--json', '--decode']);
    expect(code, out.stderr()).toBe(0);
    const printed = JSON.parse(out.stdout()) as {
      response: { token_type: string };
      dpop: { jkt: string };
      claims: { cnf: { jkt: string } };
    };
    const { d: _d, ...publicJwk } = JSON.parse(await readFile(dpopFile, 'utf8')) as JWK;
    const jkt = await calculateJwkThumbprint(publicJwk);
    expect(printed.response.token_type).toBe('DPoP');
    expect(printed.dpop.jkt).toBe(jkt);
    expect(printed.claims.cnf.jkt).toBe(jkt);
  });

  it('prints the jkt in text form too', async () => {
    const { code, out } = await run(['--dpop-key', dpopFile, '--decode']);
    expect(code, out.stderr()).toBe(0);
    expect(out.stdout()).toMatch(/DPoP key jkt: [A-Za-z0-9_-]{43}\n/);
    expect(out.stdout()).toMatch(/"jkt": "[A-Za-z0-9_-]{43}"/);
  });

  it('without --dpop-key, a dpop_bound_access_tokens client is refused (exit 1)', async () => {
    const { code, out } = await run([]);
    expect(code).toBe(1);
    expect(out.stderr()).toMatch(/invalid_dpop_proof/);
  });

  it('an unreadable --dpop-key is a usage error (exit 2)', async () => {
    const { code } = await run(['--dpop-key', join(server.dir, 'missing.json')]);
    expect(code).toBe(2);
  });
});
