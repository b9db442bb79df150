/**
 * Two test suites on one machine (two checkouts, as on a shared development host) must never meet
 * on a port. The docs sandbox claims its ports with `freePort` minutes before its servers listen
 * on them (`localhost`, as the documents print), so the claim must hold machine-wide: each suite
 * runs with a TMPDIR of its own (test/global-setup.ts), and a lock kept under it bound nobody
 * else. Seen as the examples/README.md walkthrough's `client-service.ts` failing with
 * UNABLE_TO_GET_ISSUER_CERT_LOCALLY while another suite ran: its API could not bind the port,
 * the readiness probe met the other suite's server there, and so did the client, which does not
 * trust that suite's CA.
 *
 * Here the other suite is a real second process with its own TMPDIR, as its global setup gives
 * it, that claims the same port and serves on it with a certificate of another CA; this suite's
 * server then listens on `localhost` and a client calls it by that name.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { claimPort, freePort } from '../helpers/net.js';
import { processTestTimeoutMs, startGuardMs, watchOutput } from '../helpers/process.js';

const netHelper = pathToFileURL(fileURLToPath(new URL('../helpers/net.ts', import.meta.url))).href;
const tsxLoader = fileURLToPath(new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url));

/** The other suite's worker: claims `port` as any test does, and serves on it if it got it. */
const otherSuite = `
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { claimPort } from ${JSON.stringify(netHelper)};
const [port, certFile, keyFile] = process.argv.slice(2);
if (!(await claimPort(Number(port)))) {
  console.log('refused');
} else {
  const server = createServer(
    { cert: readFileSync(certFile), key: readFileSync(keyFile) },
    (_req, res) => res.end('the other suite'),
  );
  server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
}
`;

/** GET https://localhost:port/ trusting `ca` only: the body, or the error's code. */
function callLocalhost(port: number, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(`https://localhost:${port}/`, { ca, timeout: startGuardMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

describe('test ports: two suites on one machine', () => {
  let ours: DevCa;
  let theirs: DevCa;
  let dir: string;

  beforeAll(async () => {
    [ours, theirs] = await Promise.all([createDevCa(), createDevCa()]);
    dir = await mkdtemp(join(tmpdir(), 'tollgate-two-suites-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a port one suite claimed is refused to another suite with its own TMPDIR', {
    timeout: processTestTimeoutMs,
  }, async () => {
    // Claimed now, listened on later: what the docs sandbox does.
    const port = await freePort();

    const theirServer = await theirs.issueServer();
    const script = join(dir, 'other-suite.mts');
    await writeFile(script, otherSuite);
    await writeFile(join(dir, 'cert.pem'), theirServer.chainPem);
    await writeFile(join(dir, 'key.pem'), theirServer.keyPem, { mode: 0o600 });
    // Its own scratch folder, as test/global-setup.ts gives every suite.
    const theirScratch = await mkdtemp(join(dir, 'tollgate-suite-'));
    const child = spawn(
      process.execPath,
      ['--import', tsxLoader, script, String(port), join(dir, 'cert.pem'), join(dir, 'key.pem')],
      { env: { ...process.env, TMPDIR: theirScratch }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const watched = watchOutput(child, 'the other suite');
    const ourCert = await ours.issueServer();
    const app = Fastify({
      https: { cert: ourCert.chainPem, key: ourCert.keyPem },
      forceCloseConnections: true,
    });
    app.get('/', async () => 'this suite');
    try {
      await watched.waitForOutput(/^(refused|listening)$/m);
      // As the documents' servers do (examples/protected-api.ts, `serve --dev`).
      const listened = await app.listen({ host: 'localhost', port }).then(
        () => 'listening',
        (error: NodeJS.ErrnoException) => error.code ?? error.message,
      );
      const answer = await callLocalhost(port, ours.root.certPem);
      expect({ other: watched.output().trim(), listened, answer }).toEqual({
        other: 'refused',
        listened: 'listening',
        answer: 'this suite',
      });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await watched.closed;
      await app.close();
    }
  });

  it('a port another process listens on, on ::1 only, is not claimed', async () => {
    const foreign = createServer();
    const bound = await new Promise<string>((resolve) => {
      foreign.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      foreign.listen(0, '::1', () => resolve('listening'));
    });
    // A machine without IPv6 loopback cannot have this collision; this one must have ::1.
    expect(bound).toBe('listening');
    try {
      const { port } = foreign.address() as { port: number };
      expect(await claimPort(port)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => foreign.close(() => resolve()));
    }
  });
});
