/**
 * curl (the Debian binary) against a real Tollgate with `--cert`: tls_client_auth over the main
 * TLS listener and over the RFC 8705 §5 mTLS alias, each token bound to the certificate.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  type DevCa,
  type IssuedClientCertificate,
  tlsClientAuthEntry,
} from '../../src/dev-ca/index.js';
import {
  type RunningTollgate,
  startTollgate,
  thumbprintOf,
  verifyAccessToken,
  writeIdentity,
} from '../client/harness.js';

const curl = '/usr/bin/curl';

function runCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(curl, args, { timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!existsSync(curl))('interop: curl --cert', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let cert: IssuedClientCertificate;
  let files: { certFile: string; keyFile: string };

  beforeAll(async () => {
    ca = await createDevCa();
    cert = await ca.issueClient({ clientId: 'svc-curl' });
    server = await startTollgate({
      ca,
      mtls: true,
      clients: [tlsClientAuthEntry('svc-curl', cert)],
    });
    files = await writeIdentity(server.dir, 'svc-curl', cert);
  });
  afterAll(() => server?.dispose());

  async function tokenWithCurl(origin: string): Promise<Record<string, unknown>> {
    const result = await runCurl([
      '--silent',
      '--show-error',
      '--max-time',
      '10',
      '--cacert',
      server.files.root,
      '--cert',
      files.certFile,
      '--key',
      files.keyFile,
      '--data-urlencode',
      'grant_type=client_credentials',
      '--data-urlencode',
      'client_id=svc-curl',
      '--data-urlencode',
      'scope=read',
      `${origin}/token`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  it('gets a bound token from the main TLS listener', async () => {
    const body = await tokenWithCurl(server.issuer);
    expect(body.token_type).toBe('Bearer');
    const claims = await verifyAccessToken(server, body.access_token as string);
    expect(claims.sub).toBe('svc-curl');
    expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(cert.certPem) });
  });

  it('gets a bound token from the mTLS alias', async () => {
    const body = await tokenWithCurl(server.mtlsBase as string);
    const claims = await verifyAccessToken(server, body.access_token as string);
    expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(cert.certPem) });
    expect(server.counts.mtls).toBe(1);
  });
});
