/** `tollgate token` against a real Tollgate: both methods, output forms, and every exit code. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenCommand } from '../../src/cli/token.js';
import {
  createDevCa,
  type DevCa,
  type IssuedClientCertificate,
  tlsClientAuthEntry,
} from '../../src/dev-ca/index.js';
import { freePort } from '../helpers/net.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { type RunningTollgate, startTollgate, thumbprintOf, writeIdentity } from './harness.js';
import { startStub } from './stub-server.js';

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

describe('tollgate token', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let jwt: JwtClient;
  let cert: IssuedClientCertificate;
  let keyFile: string;
  let identity: { certFile: string; keyFile: string };

  beforeAll(async () => {
    ca = await createDevCa();
    jwt = await makeJwtClient('svc-cli');
    cert = await ca.issueClient({ clientId: 'svc-cli-mtls' });
    server = await startTollgate({
      ca,
      mtls: true,
      clients: [jwt.metadata, tlsClientAuthEntry('svc-cli-mtls', cert)],
    });
    keyFile = join(server.dir, 'svc-cli.jwk.json');
    await writeFile(keyFile, JSON.stringify(jwt.key.privateJwk), { mode: 0o600 });
    identity = await writeIdentity(server.dir, 'svc-cli-mtls', cert);
  });
  afterAll(() => server?.dispose());

  it('documents the exit codes in --help', async () => {
    const out = capture();
    expect(await tokenCommand(['--help'], out.io)).toBe(0);
    expect(out.stdout()).toMatch(
      /Exit codes:[\s\S]*0 {2}token issued[\s\S]*1 {2}refused[\s\S]*2 {2}usage[\s\S]*3 {2}server unreachable/,
    );
  });

  it('private_key_jwt: prints the response as JSON, decoded (exit 0)', async () => {
    const out = capture();
    const code = await tokenCommand(
      [
        '--client-id',
        'svc-cli',
        '--key',
        keyFile,
        '--issuer',
        server.issuer,
        '--ca',
        server.files.root,
        '--scope',
        'read',
        '--json',
        '--decode',
      ],
      out.io,
    );
    expect(code, out.stderr()).toBe(0);
    const printed = JSON.parse(out.stdout()) as {
      response: Record<string, unknown>;
      header: Record<string, unknown>;
      claims: Record<string, unknown>;
    };
    expect(printed.response.token_type).toBe('Bearer');
    expect(printed.header.typ).toBe('at+jwt');
    expect(printed.claims).toMatchObject({ sub: 'svc-cli', scope: 'read', iss: server.issuer });
  });

  it('private_key_jwt with an explicit token endpoint', async () => {
    const out = capture();
    const code = await tokenCommand(
      [
        '--client-id',
        'svc-cli',
        '--key',
        keyFile,
        '--issuer',
        server.issuer,
        '--token-endpoint',
        `${server.issuer}/token`,
        '--ca',
        server.files.root,
      ],
      out.io,
    );
    expect(code, out.stderr()).toBe(0);
    expect(out.stdout()).toMatch(/"access_token"/);
  });

  it('tls_client_auth with --cert and --cert-key: a bound token (exit 0)', async () => {
    const out = capture();
    const code = await tokenCommand(
      [
        '--client-id',
        'svc-cli-mtls',
        '--cert',
        identity.certFile,
        '--cert-key',
        identity.keyFile,
        '--issuer',
        server.issuer,
        '--ca',
        server.files.root,
        '--decode',
      ],
      out.io,
    );
    expect(code, out.stderr()).toBe(0);
    expect(out.stdout()).toContain(`presented certificate x5t#S256: ${thumbprintOf(cert.certPem)}`);
    expect(out.stdout()).toContain(`"x5t#S256": "${thumbprintOf(cert.certPem)}"`);
  });

  it('exit 1 when the server refuses, with the OAuth error', async () => {
    const out = capture();
    const code = await tokenCommand(
      [
        '--client-id',
        'svc-cli',
        '--key',
        keyFile,
        '--issuer',
        server.issuer,
        '--ca',
        server.files.root,
        '--scope',
        'admin',
      ],
      out.io,
    );
    expect(code).toBe(1);
    expect(out.stderr()).toMatch(/^error: invalid_scope \(HTTP 400\)/);
    const json = capture();
    expect(
      await tokenCommand(
        [
          '--client-id',
          'svc-nobody',
          '--method',
          'self_signed_tls_client_auth',
          '--cert',
          identity.certFile,
          '--cert-key',
          identity.keyFile,
          '--issuer',
          server.issuer,
          '--ca',
          server.files.root,
          '--json',
        ],
        json.io,
      ),
    ).toBe(1);
    expect(JSON.parse(json.stdout())).toMatchObject({
      error: 'invalid_client',
      status: 401,
      attempts: 1,
    });
  });

  // Regression: the token response (and --decode's claims) went out through JSON.stringify
  // alone, which leaves DEL, C1 controls (U+009B is CSI to xterm) and bidi overrides raw.
  it('prints what the server sent without terminal controls, as the same JSON', async () => {
    const scope = 'read\u009b2J\u202egnp.exe\u007f';
    const stub = await startStub(ca, () => ({
      status: 200,
      body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 60, scope },
    }));
    try {
      for (const json of [false, true]) {
        const out = capture();
        const argv = ['--client-id', 'svc-cli', '--key', keyFile, '--issuer', stub.origin];
        argv.push('--token-endpoint', `${stub.origin}/token`, '--ca', server.files.root);
        if (json) argv.push('--json');
        expect(await tokenCommand(argv, out.io), out.stderr()).toBe(0);
        expect(out.stdout()).not.toMatch(/[\u007f-\u009f\u202e]/);
        const printed = JSON.parse(out.stdout()) as { response?: unknown; scope?: unknown };
        expect(json ? printed.response : printed).toMatchObject({ scope });
      }
    } finally {
      await stub.close();
    }
  });

  it('exit 2 on usage errors and unreadable credentials', async () => {
    for (const argv of [
      ['--client-id', 'x'],
      ['--client-id', 'x', '--key', keyFile],
      ['--client-id', 'x', '--cert', identity.certFile, '--issuer', server.issuer],
      ['--client-id', 'x', '--key', keyFile, '--token-endpoint', `${server.issuer}/token`],
      [
        '--client-id',
        'x',
        '--key',
        keyFile,
        '--issuer',
        server.issuer,
        '--method',
        'client_secret_basic',
      ],
      ['--client-id', 'x', '--key', keyFile, '--issuer', 'http://127.0.0.1:1'],
      ['--client-id', 'x', '--bogus'],
      [
        '--client-id',
        'x',
        '--key',
        join(server.dir, 'missing.json'),
        '--issuer',
        server.issuer,
        '--ca',
        server.files.root,
      ],
    ]) {
      const out = capture();
      expect(await tokenCommand(argv, out.io), argv.join(' ')).toBe(2);
      expect(out.stderr()).toMatch(/^tollgate token: /);
      // Never parseArgs' own text or a bare errno code.
      expect(out.stderr()).not.toMatch(/ENOENT|ERR_PARSE_ARGS|To specify a positional/);
    }
  });

  it('exit 3 when the server cannot be reached (or its certificate is not trusted)', async () => {
    const port = await freePort();
    const out = capture();
    const code = await tokenCommand(
      [
        '--client-id',
        'svc-cli',
        '--key',
        keyFile,
        '--issuer',
        `https://127.0.0.1:${port}`,
        '--ca',
        server.files.root,
      ],
      out.io,
    );
    expect(code).toBe(3);
    expect(out.stderr()).toMatch(
      /^cannot reach the server: connection refused: is the server running/,
    );
    const untrusted = capture();
    expect(
      await tokenCommand(
        ['--client-id', 'svc-cli', '--key', keyFile, '--issuer', server.issuer],
        untrusted.io,
      ),
    ).toBe(3);
    // The fix, not OpenSSL's code: the CA is unknown to this machine, so --ca is the hint.
    expect(untrusted.stderr()).toMatch(/not trust\. Pass --ca with that CA's certificate/);
    expect(untrusted.stderr()).not.toMatch(/SELF_SIGNED|UNABLE_TO_|CERT_/);
  });
});
