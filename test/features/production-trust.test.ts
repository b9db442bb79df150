/**
 * Production trusts nothing by default, over real `tollgate` processes started the way a
 * container starts them: NODE_ENV unset, in a folder of their own.
 *
 * - `tollgate serve` with nothing answers with the `--dev` hint and exit 2, writing nothing;
 * - `tollgate serve --config prod.json` writes nothing and trusts only the CA the file names;
 * - a config that omits `clientCertificates`, started where a dev PKI sits under certs/ (where
 *   `npm start` once ran), is refused at start naming the client, instead of trusting the dev CA
 *   (the code before this change trusted certs/ca/root.pem and issued the token);
 * - `serve --dev` (what `npm start` runs) still generates the dev PKI and serves in one command;
 *   restarted, it reuses that PKI and says so; a second one on the same port says what to do.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, ensureDevPki } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { getJson } from '../helpers/instances.js';
import { freePort } from '../helpers/net.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnTollgate,
  waitForHttps,
} from '../helpers/process.js';
import { makeJwtClient } from '../helpers/tollgate.js';

const repoRoot = new URL('../..', import.meta.url).pathname;
const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

/**
 * A token request's bound: a guard (the default 10 s of postTokenRequest is a budget that a
 * process starved of CPU on a busy machine can exceed), not a measurement.
 */
const requestGuardMs = 120_000;

/**
 * Load shedding off for `serve --dev`, which has no config file to say so (test/helpers/
 * serve-dir.ts does it for the others): with its default (100 ms of event-loop delay) a busy
 * test machine made the token route answer 503 `overloaded` instead of the token read here.
 */
const noShedding = { TOLLGATE_UNDER_PRESSURE__MAX_EVENT_LOOP_DELAY_MS: '0' };

/** Every file under `dir` with its size and mtime: any write shows up as a difference. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        out.push(`${relative(dir, path)}/`);
        walk(path);
      } else {
        const stat = statSync(path);
        out.push(`${relative(dir, path)} ${stat.size} ${stat.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out.sort();
}

/** Waits for the process to exit (its output read to the end); killed past the guard. */
function exitOf(serve: ServeProcess): Promise<number | null> {
  return serve.waitForExit();
}

describe('production trusts nothing by default (real processes, NODE_ENV unset)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const tempDir = async (name: string) => {
    const dir = await mkdtemp(join(tmpdir(), `tollgate-${name}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const start = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
    const serve = spawnTollgate(args, { cwd, env });
    cleanups.push(() => serve.kill());
    return serve;
  };

  it(
    '`tollgate serve` with nothing names --dev and docs/configuration.md, exits 2 and writes nothing',
    async () => {
      const dir = await tempDir('empty');
      const runs = [start(['serve'], dir), start(['check-config'], dir)];
      for (const run of runs) {
        expect(await exitOf(run), run.output()).toBe(2);
        expect(run.output()).toMatch(/tollgate serve --dev/);
        expect(run.output()).toMatch(/docs\/configuration\.md/);
      }
      expect(snapshot(dir)).toEqual([]);
    },
    processTestTimeoutMs,
  );

  it(
    '`serve --config prod.json` in an empty folder writes nothing and trusts only the CA it names',
    async () => {
      const dir = await tempDir('prod');
      const productionCa = await createDevCa();
      const otherCa = await createDevCa();
      const server = await productionCa.issueServer();
      const member = await productionCa.issueClient({ clientId: 'svc-mtls' });
      // Same subject, another CA: a look-alike the configuration never named.
      const stranger = await otherCa.issueClient({ clientId: 'svc-mtls' });
      const jwtClient = await makeJwtClient('svc-jwt');
      const port = await freePort();
      const issuer = `https://localhost:${port}`;
      const key = await generateSigningJwk('ES256');
      writeSigningKeyFile(join(dir, 'signing-keys.json'), {
        active_kid: key.kid as string,
        keys: [key],
      });
      await writeFile(join(dir, 'server.pem'), server.chainPem);
      await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
      await writeFile(join(dir, 'client-ca.pem'), productionCa.root.certPem);
      await writeFile(join(dir, 'client-intermediate.pem'), productionCa.intermediate.certPem);
      await writeFile(
        join(dir, 'registry.json'),
        JSON.stringify({
          clients: [
            jwtClient.metadata,
            {
              client_id: 'svc-mtls',
              token_endpoint_auth_method: 'tls_client_auth',
              tls_client_auth_subject_dn: member.subject,
              scope: 'read',
            },
          ],
        }),
      );
      await writeFile(
        join(dir, 'prod.json'),
        JSON.stringify({
          issuer,
          tls: { host: '127.0.0.1', port, certFile: 'server.pem', keyFile: 'server-key.pem' },
          clientCertificates: {
            trustAnchorFiles: ['client-ca.pem'],
            intermediateFiles: ['client-intermediate.pem'],
          },
          signingKeys: { file: 'signing-keys.json' },
          registry: { file: 'registry.json' },
          // The admin listener on a port the OS picks: test servers run side by side.
          admin: { port: 0 },
          // No load shedding: on a loaded machine it would answer 503 instead of the verdicts read here.
          underPressure: { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0 },
          log: { level: 'warn' },
        }),
      );
      const before = snapshot(dir);

      const serve = start(['serve', '--config', 'prod.json'], dir);
      await waitForHttps(
        `https://127.0.0.1:${port}/healthz`,
        productionCa.root.certPem,
        undefined,
        serve,
      );
      const token = (params: Record<string, string>, identity?: { cert: string; key: string }) =>
        postTokenRequest({
          tokenEndpoint: `https://127.0.0.1:${port}/token`,
          params: { grant_type: 'client_credentials', ...params },
          ca: productionCa.root.certPem,
          timeoutMs: requestGuardMs,
          ...(identity === undefined ? {} : identity),
        });

      const viaJwt = await token({
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await createClientAssertion({
          clientId: 'svc-jwt',
          audience: issuer,
          key: jwtClient.key.privateJwk,
        }),
      });
      expect(viaJwt.ok, serve.output()).toBe(true);
      const viaMember = await token(
        { client_id: 'svc-mtls' },
        { cert: member.chainPem, key: member.keyPem },
      );
      expect(viaMember.ok, serve.output()).toBe(true);
      const viaStranger = await token(
        { client_id: 'svc-mtls' },
        { cert: stranger.chainPem, key: stranger.keyPem },
      );
      expect(viaStranger.ok).toBe(false);
      expect(viaStranger.status).toBe(401);

      serve.kill('SIGTERM');
      expect(await exitOf(serve)).toBe(0);
      // No dev PKI, no generated key, no certs/ folder: the folder is exactly as it was.
      expect(snapshot(dir)).toEqual(before);
      expect(serve.output()).not.toMatch(/DEVELOPMENT MODE|dev PKI created|signing key generated/);
    },
    processTestTimeoutMs,
  );

  it(
    'refuses at start, naming the client, a config that omits clientCertificates beside a dev PKI',
    async () => {
      const dir = await tempDir('leftover');
      const port = await freePort();
      const issuer = `https://localhost:${port}`;
      // What `npm start` left behind in this folder: a dev CA, its keys, demo clients.
      await ensureDevPki(join(dir, 'certs'), { issuer });
      const devRegistry = JSON.parse(readFileSync(join(dir, 'certs/registry.json'), 'utf8')) as {
        clients: { client_id: string }[];
      };
      const demoMtls = devRegistry.clients.find((client) => client.client_id === 'demo-mtls');
      expect(demoMtls).toBeDefined();
      const productionCa = await createDevCa();
      const server = await productionCa.issueServer();
      const key = await generateSigningJwk('ES256');
      writeSigningKeyFile(join(dir, 'keys.json'), { active_kid: key.kid as string, keys: [key] });
      await writeFile(join(dir, 'server.pem'), server.chainPem);
      await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
      await writeFile(
        join(dir, 'prod.json'),
        JSON.stringify({
          issuer,
          tls: { host: '127.0.0.1', port, certFile: 'server.pem', keyFile: 'server-key.pem' },
          signingKeys: { file: 'keys.json' },
          registry: { file: null, clients: [demoMtls] },
        }),
      );
      const before = snapshot(dir);

      const runs = ['serve', 'check-config'].map((command) =>
        start([command, '--config', 'prod.json'], dir),
      );
      for (const run of runs) {
        expect(await exitOf(run), run.output()).toBe(1);
        expect(run.output()).toMatch(
          /clientCertificates\.trustAnchorFiles: tls_client_auth client\(s\) "demo-mtls" need a trust anchor/,
        );
      }
      expect(snapshot(dir)).toEqual(before);
    },
    processTestTimeoutMs,
  );

  it(
    'names each missing file a production config needs',
    async () => {
      const dir = await tempDir('incomplete');
      await writeFile(join(dir, 'prod.json'), JSON.stringify({ issuer: 'https://as.example' }));
      const run = start(['serve', '--config', 'prod.json'], dir);
      expect(await exitOf(run)).toBe(1);
      for (const field of ['tls.certFile', 'tls.keyFile', 'signingKeys.file']) {
        expect(run.output()).toContain(`${field}: is required`);
      }
      expect(snapshot(dir)).toEqual([expect.stringMatching(/^prod\.json /)]);
    },
    processTestTimeoutMs,
  );

  it(
    '`serve --dev` (npm start) generates the dev PKI in an empty folder and serves the demo clients',
    async () => {
      expect(packageJson.scripts.start).toMatch(/ serve --dev$/);
      const dir = await tempDir('dev');
      const port = await freePort();
      const issuer = `https://localhost:${port}`;
      const serve = start(['serve', '--dev'], dir, {
        TOLLGATE_PORT: String(port),
        TOLLGATE_ISSUER: issuer,
        // The admin listener on a port the OS picks: test servers run side by side.
        TOLLGATE_ADMIN_PORT: '0',
        ...noShedding,
      });
      // In dev mode the server prints its quickstart once every listener is up: by then the dev
      // PKI it generated is complete on disk.
      await serve.waitForOutput(/Tollgate is serving/);
      const root = readFileSync(join(dir, 'certs/ca/root.pem'), 'utf8');
      await waitForHttps(`${issuer}/healthz`, root, undefined, serve);
      // Log lines are buffered and flushed every second, on their own schedule: wait for it.
      await serve.waitForOutput(/DEVELOPMENT MODE \(--dev\)/);
      const privateJwk = JSON.parse(
        readFileSync(join(dir, 'certs/clients/demo-jwt/private.jwk.json'), 'utf8'),
      ) as Parameters<typeof createClientAssertion>[0]['key'];
      const result = await postTokenRequest({
        tokenEndpoint: `${issuer}/token`,
        params: {
          grant_type: 'client_credentials',
          client_assertion_type: jwtBearerAssertionType,
          client_assertion: await createClientAssertion({
            clientId: 'demo-jwt',
            audience: issuer,
            key: privateJwk,
          }),
        },
        ca: root,
        timeoutMs: requestGuardMs,
      });
      expect(result.ok, `${JSON.stringify(result)}\n${serve.output()}`).toBe(true);
      // Buffered like the warning: wait for it too.
      await serve.waitForOutput(/"msg":"dev PKI created"/);
      serve.kill('SIGTERM');
      expect(await exitOf(serve)).toBe(0);

      // Restarted, it keeps the same PKI and says so (before, it said nothing about it). Only the
      // port is given this time: the issuer follows it, so every metadata URL names this port.
      const env = { TOLLGATE_PORT: String(port), TOLLGATE_ADMIN_PORT: '0', ...noShedding };
      const again = start(['serve', '--dev'], dir, env);
      await waitForHttps(`${issuer}/healthz`, root, undefined, again);
      const metadata = await getJson(`${issuer}/.well-known/oauth-authorization-server`, root);
      expect(metadata.body).toMatchObject({ issuer, token_endpoint: `${issuer}/token` });
      await again.waitForOutput(/dev PKI reused/);
      expect(again.output()).toMatch(/"msg":"dev PKI reused: every file present and valid/);
      expect(again.output()).not.toMatch(/dev PKI created|signing key generated/);
      expect(readFileSync(join(dir, 'certs/ca/root.pem'), 'utf8')).toBe(root);

      // npm start a second time while the first runs: the port is taken; the hint says by what
      // (probably) and how to run elsewhere without leaving the issuer on the old port.
      const third = start(['serve', '--dev'], dir, env);
      expect(await exitOf(third)).toBe(1);
      expect(third.output()).toContain(`the tls listener cannot listen on localhost:${port}`);
      expect(third.output()).toMatch(
        /Is another server \(an earlier npm start\?\) running\? Stop it, or run this one on other ports \(the issuer follows\):\n {2}TOLLGATE_PORT=8543 TOLLGATE_ADMIN_PORT=0 npm start\n/,
      );
      again.kill('SIGTERM');
      expect(await exitOf(again)).toBe(0);
    },
    processTestTimeoutMs,
  );
});
