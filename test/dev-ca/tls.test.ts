/**
 * A real node:tls server configured the way Tollgate's mTLS listener is (server chain, the dev
 * root as CA, the combined CRL file) accepts a good client and refuses a revoked one.
 */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createNegativeFixtures,
  type IssuedCertificate,
  runDevCaCli,
} from '../../src/dev-ca/index.js';
import { tempDir } from './helpers.js';

interface Outcome {
  readonly authorized: boolean;
  /** OpenSSL's verdict as Node reports it (`CERT_REVOKED`...), when the handshake completed. */
  readonly authorizationError: string | undefined;
  readonly peerSubject: string | undefined;
}

interface TlsFiles {
  readonly serverChain: string;
  readonly serverKey: string;
  readonly ca: string;
  /** One CRL per element: Node's `crl` option reads only the first CRL of each string. */
  readonly crl: string[];
}

/** Splits a PEM bundle into its blocks (what a consumer of ca/crl-chain.pem must do for Node). */
function pemBlocks(pem: string): string[] {
  return (pem.match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g) ?? []).map(
    (block) => `${block}\n`,
  );
}

/** Starts a server on 127.0.0.1:0 that records how each handshake ended. */
async function startServer(
  files: TlsFiles,
  rejectUnauthorized = true,
): Promise<{ server: Server; port: number; outcomes: Outcome[] }> {
  const outcomes: Outcome[] = [];
  const server = createServer(
    {
      cert: files.serverChain,
      key: files.serverKey,
      ca: files.ca,
      crl: files.crl,
      requestCert: true,
      rejectUnauthorized,
    },
    (socket: TLSSocket) => {
      // Node types it as Error, but at runtime it is OpenSSL's code as a string.
      const authorizationError: unknown = socket.authorizationError;
      const cn = socket.getPeerCertificate().subject?.CN;
      outcomes.push({
        authorized: socket.authorized,
        authorizationError: authorizationError ? String(authorizationError) : undefined,
        peerSubject: Array.isArray(cn) ? cn[0] : cn,
      });
      socket.end(socket.authorized ? 'ok' : 'refused');
    },
  );
  // With rejectUnauthorized, Node drops a failing handshake without saying why (the server sees
  // only ECONNRESET), so the reasons are asserted on a second server that does not reject:
  // exactly how Tollgate's mTLS listener works (DESIGN.md: failures become OAuth errors).
  server.on('tlsClientError', () => {
    outcomes.push({
      authorized: false,
      authorizationError: 'handshake aborted',
      peerSubject: undefined,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, outcomes };
}

/** Connects as a client and resolves with what the server sent, or the error. */
function tryClient(
  port: number,
  ca: string,
  cert: string,
  key: string,
): Promise<{ data?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, cert, key });
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString();
    });
    socket.on('end', () => resolve({ data }));
    socket.on('error', (error) => resolve({ error: error.message }));
  });
}

describe('node:tls with an in-memory PKI', () => {
  let rejecting: Awaited<ReturnType<typeof startServer>>;
  let reporting: Awaited<ReturnType<typeof startServer>>;
  let fixtures: Awaited<ReturnType<typeof createNegativeFixtures>>;
  let rootPem: string;
  let good: IssuedCertificate;

  beforeAll(async () => {
    const ca = await createDevCa();
    const serverCert = await ca.issueServer();
    good = await ca.issueClient({ clientId: 'good' });
    fixtures = await createNegativeFixtures(ca);
    const crls = await ca.crls();
    rootPem = ca.root.certPem;
    const files = {
      serverChain: serverCert.chainPem,
      serverKey: serverCert.keyPem,
      ca: rootPem,
      crl: pemBlocks(crls.combinedPem),
    };
    rejecting = await startServer(files, true);
    reporting = await startServer(files, false);
  });
  afterAll(async () => {
    rejecting.server.close();
    reporting.server.close();
  });

  it('accepts a good client that sends leaf + intermediate', async () => {
    const result = await tryClient(rejecting.port, rootPem, good.chainPem, good.keyPem);
    expect(result.data).toBe('ok');
    expect(rejecting.outcomes.at(-1)).toEqual({
      authorized: true,
      authorizationError: undefined,
      peerSubject: 'good',
    });
  });

  it('refuses the revoked client at the handshake', async () => {
    const revoked = fixtures.fixtures.revoked;
    const result = await tryClient(
      rejecting.port,
      rootPem,
      revoked.presentedChainPem,
      revoked.cert.keyPem,
    );
    expect(result.data ?? '').toBe('');
    expect(rejecting.outcomes.at(-1)?.authorized).toBe(false);
  });

  it('reports each bad chain for its own reason', async () => {
    const expected = {
      revoked: 'CERT_REVOKED',
      expired: 'CERT_HAS_EXPIRED',
      'not-yet-valid': 'CERT_NOT_YET_VALID',
      // The look-alike chain cannot reach our root; OpenSSL reports the last error it hit on the
      // way, which is the missing CRL of the foreign intermediate once CRL checking is on.
      'foreign-ca': /^(UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_GET_CRL)$/,
      // OpenSSL's X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: a lone leaf whose issuer is unknown.
      'leaf-without-intermediate': 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    } as const;
    for (const [kind, code] of Object.entries(expected)) {
      const fixture = fixtures.fixtures[kind as keyof typeof expected];
      const result = await tryClient(
        reporting.port,
        rootPem,
        fixture.presentedChainPem,
        fixture.cert.keyPem,
      );
      expect(result.data, kind).toBe('refused');
      if (typeof code === 'string')
        expect(reporting.outcomes.at(-1)?.authorizationError, kind).toBe(code);
      else expect(reporting.outcomes.at(-1)?.authorizationError, kind).toMatch(code);
    }
  });
});

describe('node:tls with the files `init` writes', () => {
  it('serves with server.pem, trusts ca/root.pem + ca/crl-chain.pem, and refuses demo-mtls once revoked', async () => {
    const { dir, cleanup } = await tempDir();
    const io = { stdout: { write: () => true }, stderr: { write: () => true } };
    try {
      expect(await runDevCaCli(['init', '--dir', dir], io)).toBe(0);
      const read = (path: string) => readFile(join(dir, path), 'utf8');
      const files = async (): Promise<TlsFiles> => ({
        serverChain: await read('server/server.pem'),
        serverKey: await read('server/server-key.pem'),
        ca: await read('ca/root.pem'),
        crl: pemBlocks(await read('ca/crl-chain.pem')),
      });
      const client = {
        chain: await read('clients/demo-mtls/chain.pem'),
        key: await read('clients/demo-mtls/key.pem'),
      };

      const before = await startServer(await files());
      try {
        const ok = await tryClient(
          before.port,
          await read('ca/root.pem'),
          client.chain,
          client.key,
        );
        expect(ok.data).toBe('ok');
        expect(before.outcomes.at(-1)?.peerSubject).toBe('demo-mtls');
      } finally {
        before.server.close();
      }

      expect(
        await runDevCaCli(['revoke', 'demo-mtls', '--reason', 'keyCompromise', '--dir', dir], io),
      ).toBe(0);
      const after = await startServer(await files());
      try {
        const refused = await tryClient(
          after.port,
          await read('ca/root.pem'),
          client.chain,
          client.key,
        );
        expect(refused.data ?? '').toBe('');
        expect(after.outcomes.at(-1)?.authorized).toBe(false);
      } finally {
        after.server.close();
      }
    } finally {
      await cleanup();
    }
  });
});
