/**
 * A real Tollgate for client-side tests: TLS on 127.0.0.1 with a dev CA server certificate, the
 * issuer on the IP (no DNS), optionally the RFC 8705 §5 mTLS alias listener, and a count of the
 * token requests that reached it. Also writes client certificates to files, as the SDK reads them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { ConfigInput } from '../../src/config/index.js';
import type { DevCa, IssuedCertificate } from '../../src/dev-ca/index.js';
import { freePort } from '../helpers/net.js';
import { makeTollgate, type TestTollgate } from '../helpers/tollgate.js';

export interface RunningTollgate {
  readonly tg: TestTollgate;
  /** `https://127.0.0.1:<port>`: the issuer identifier and the TLS listener. */
  readonly issuer: string;
  /** The mTLS alias origin, when enabled. */
  readonly mtlsBase: string | undefined;
  readonly dir: string;
  readonly files: { readonly root: string; readonly intermediate: string };
  /** POST /token requests received, per listener. */
  readonly counts: { tls: number; mtls: number };
  dispose(): Promise<void>;
}

export async function startTollgate(options: {
  ca: DevCa;
  clients: unknown[];
  mtls?: boolean;
  config?: ConfigInput;
}): Promise<RunningTollgate> {
  const { ca } = options;
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-client-'));
  const server = await ca.issueServer();
  const files = {
    root: join(dir, 'root.pem'),
    intermediate: join(dir, 'intermediate.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server-key.pem'),
  };
  await writeFile(files.root, ca.root.certPem);
  await writeFile(files.intermediate, ca.intermediate.certPem);
  await writeFile(files.cert, server.chainPem);
  await writeFile(files.key, server.keyPem, { mode: 0o600 });
  const port = await freePort();
  const mtlsPort = options.mtls === true ? await freePort() : undefined;
  const issuer = `https://127.0.0.1:${port}`;
  const mtlsBase = mtlsPort === undefined ? undefined : `https://127.0.0.1:${mtlsPort}`;
  const tg = await makeTollgate({
    clients: options.clients,
    tollgate: { tls: true },
    config: {
      issuer,
      tls: { host: '127.0.0.1', port, certFile: files.cert, keyFile: files.key },
      clientCertificates: {
        trustAnchorFiles: [files.root],
        intermediateFiles: [files.intermediate],
        crlFiles: [],
      },
      ...(mtlsPort === undefined
        ? {}
        : {
            mtls: {
              enabled: true,
              host: '127.0.0.1',
              port: mtlsPort,
              publicUrl: mtlsBase as string,
            },
          }),
      ...options.config,
    },
  });
  const counts = { tls: 0, mtls: 0 };
  tg.app.addHook('onRequest', async (request) => {
    if (request.method === 'POST' && request.url.endsWith('/token')) counts.tls++;
  });
  tg.mtlsApp?.addHook('onRequest', async (request) => {
    if (request.method === 'POST' && request.url.endsWith('/token')) counts.mtls++;
  });
  await tg.listen();
  return {
    tg,
    issuer,
    mtlsBase,
    dir,
    files,
    counts,
    dispose: async () => {
      await tg.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a certificate chain and key where a client reads them; returns the paths. */
export async function writeIdentity(
  dir: string,
  name: string,
  cert: Pick<IssuedCertificate, 'keyPem'> & { chainPem?: string; certPem: string },
): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  await writeFile(certFile, cert.chainPem ?? cert.certPem);
  await writeFile(keyFile, cert.keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

/** The thumbprint and claim readers shared with the other TLS tests (independent of src/pki). */
export { claimsOf, thumbprintOf } from '../helpers/mtls.js';

/** Verifies an access token's signature and RFC 9068 shape against the server's published keys. */
export async function verifyAccessToken(
  server: RunningTollgate,
  token: string,
): Promise<Record<string, unknown>> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(server.tg.serverPublicJwks), {
    issuer: server.issuer,
    typ: 'at+jwt',
  });
  return payload as Record<string, unknown>;
}
