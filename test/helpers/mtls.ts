/**
 * A Tollgate serving real TLS on 127.0.0.1 with a dev CA's server certificate, trust anchor,
 * intermediate and CRLs written to a temporary folder, plus a client that presents certificates.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postTokenRequest, type TokenResult } from '../../src/client/token-request.js';
import type { ConfigInput } from '../../src/config/index.js';
import type { DevCa } from '../../src/dev-ca/index.js';
import type { TollgateOptions } from '../../src/http/index.js';
import { freePort } from './net.js';
import { makeTollgate, type TestTollgate } from './tollgate.js';

export interface MtlsTollgate {
  readonly tg: TestTollgate;
  readonly issuer: string;
  /** https://127.0.0.1:<port> of the TLS listener. */
  readonly base: string;
  /** The mTLS alias listener, when enabled. */
  readonly mtlsBase: string | undefined;
  /** The plain listener, when enabled. */
  readonly plainBase: string | undefined;
  readonly files: {
    readonly root: string;
    readonly intermediate: string;
    readonly crls: string;
    readonly dir: string;
  };
  /** Posts a token request, optionally presenting a certificate chain and key (PEM). */
  token(
    params: Record<string, string | string[] | undefined>,
    identity?: { cert: string; key: string },
    base?: string,
  ): Promise<TokenResult>;
  dispose(): Promise<void>;
}

export async function startMtlsTollgate(options: {
  ca: DevCa;
  clients: unknown[];
  /** A registry file besides the inline clients (for reload tests). */
  registryFile?: string;
  config?: ConfigInput;
  /** Configure the intermediate, so leaf-only clients work (default true). */
  intermediates?: boolean;
  /** Write the CA's CRLs (default true). */
  crls?: boolean;
  mtls?: boolean;
  plain?: boolean;
  /** A path for the issuer (`/tenants/a`): RFC 8414 §3 issuers with a path component. */
  issuerPath?: string;
  /** Extra Tollgate options (clock, workload transport, a capturing logger). */
  tollgate?: Partial<TollgateOptions>;
}): Promise<MtlsTollgate> {
  const { ca } = options;
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-mtls-'));
  const server = await ca.issueServer();
  const files = {
    dir,
    root: join(dir, 'root.pem'),
    intermediate: join(dir, 'intermediate.pem'),
    crls: join(dir, 'crls.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server-key.pem'),
  };
  await writeFile(files.root, ca.root.certPem);
  await writeFile(files.intermediate, ca.intermediate.certPem);
  await writeFile(files.crls, (await ca.crls()).combinedPem);
  await writeFile(files.cert, server.chainPem);
  await writeFile(files.key, server.keyPem, { mode: 0o600 });

  const port = await freePort();
  const mtlsPort = options.mtls === true ? await freePort() : undefined;
  const plainPort = options.plain === true ? await freePort() : undefined;
  const issuer = `https://localhost:${port}${options.issuerPath ?? ''}`;
  const tg = await makeTollgate({
    clients: options.clients,
    ...(options.registryFile === undefined ? {} : { registryFile: options.registryFile }),
    tollgate: { ...options.tollgate, tls: true },
    config: {
      issuer,
      tls: { host: '127.0.0.1', port, certFile: files.cert, keyFile: files.key },
      clientCertificates: {
        trustAnchorFiles: [files.root],
        intermediateFiles: options.intermediates === false ? [] : [files.intermediate],
        crlFiles: options.crls === false ? [] : [files.crls],
      },
      ...(mtlsPort === undefined
        ? {}
        : {
            mtls: {
              enabled: true,
              host: '127.0.0.1',
              port: mtlsPort,
              publicUrl: `https://localhost:${mtlsPort}`,
            },
          }),
      ...(plainPort === undefined
        ? {}
        : { plain: { enabled: true, host: '127.0.0.1', port: plainPort } }),
      ...options.config,
    },
  });
  await tg.listen();
  const base = `https://127.0.0.1:${port}`;
  return {
    tg,
    issuer,
    base,
    mtlsBase: mtlsPort === undefined ? undefined : `https://127.0.0.1:${mtlsPort}`,
    plainBase: plainPort === undefined ? undefined : `http://127.0.0.1:${plainPort}`,
    files,
    token: (params, identity, at = base) =>
      postTokenRequest({
        tokenEndpoint: `${at}/token`,
        params,
        ca: ca.root.certPem,
        ...(identity === undefined ? {} : { cert: identity.cert, key: identity.key }),
      }),
    dispose: async () => {
      await tg.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `x5t#S256` computed independently of src/pki: SHA-256 over the DER node:crypto decodes. */
export function thumbprintOf(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('base64url');
}

/** The claims of a JWT, unverified (for tests that verify elsewhere). */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}
