/**
 * The Python, Go and Java guides of docs/clients.md, run unmodified (the blocks are read from the
 * page) against a real Tollgate over TLS, with the issuer, CA and client files given in the
 * environment variables the snippets read. Each must get a token; the test then checks the token.
 *
 * Runtimes: /usr/bin/python3 with authlib, PyJWT and requests; go with
 * golang.org/x/oauth2 from /usr/share/gocode (GOPATH mode, offline); Java 17. Outside CI a missing
 * runtime skips its guide with a notice; in CI (CI set) it is a failure: .ci/run installs them.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createPkcs12,
  type DevCa,
  generateSigningJwk,
  type IssuedClientCertificate,
  type SigningJwk,
  tlsClientAuthEntry,
} from '../../src/dev-ca/index.js';
import type { ClientMetadata } from '../../src/registry/metadata.js';
import {
  type RunningTollgate,
  startTollgate,
  thumbprintOf,
  verifyAccessToken,
} from '../client/harness.js';
import { fencedBlocks } from '../docs/markdown.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

const guide = await readFile(
  fileURLToPath(new URL('../../docs/clients.md', import.meta.url)),
  'utf8',
);

function block(tag: string, index: number): string {
  const found = fencedBlocks(guide, tag)[index];
  if (found === undefined) throw new Error(`docs/clients.md has no ${tag} block #${index + 1}`);
  return found;
}

/** Whether a runtime is here; in CI its absence is an error (like test/helpers/redis.ts). */
function available(name: string, probe: () => boolean, install: string): boolean {
  if (probe()) return true;
  if (process.env.CI) throw new Error(`${name} is missing (CI): .ci/run should have installed it`);
  console.warn(`${name} not found: skipping its client guide (${install})`);
  return false;
}

const python = '/usr/bin/python3';
const hasPython = available(
  'Python 3 with authlib, PyJWT and requests',
  () => spawnSync(python, ['-c', 'import authlib, jwt, requests']).status === 0,
  'apt-get install python3-authlib python3-jwt python3-requests',
);
const gopath = '/usr/share/gocode';
const hasGo = available(
  'Go with golang.org/x/oauth2',
  () =>
    spawnSync('go', ['version']).status === 0 &&
    spawnSync('test', ['-d', `${gopath}/src/golang.org/x/oauth2/clientcredentials`]).status === 0,
  'apt-get install golang-go golang-golang-x-oauth2-dev',
);
const hasJava = available(
  'Java 17',
  () => spawnSync('java', ['-version']).status === 0,
  'apt-get install openjdk-17-jdk-headless',
);

/** A bound, not an expectation: compiling Go or Java on a shared machine can take minutes. */
const timeout = 300_000;

interface Run {
  readonly code: number | null;
  readonly output: string;
}

/** Runs a program to completion (bounded), collecting its output. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('client guides (docs/clients.md) in other languages', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let dir: string;
  let es256: JwtClient;
  let rsa: SigningJwk;
  let mtls: IssuedClientCertificate;
  /** The authlib registration as docs/clients.md prints it, with this test's key and dates. */
  let authlibEntry: ClientMetadata;

  beforeAll(async () => {
    ca = await createDevCa();
    dir = await mkdtemp(join(tmpdir(), 'tollgate-guides-'));
    es256 = await makeJwtClient('svc-guide-jwt', 'ES256', {
      token_endpoint_auth_signing_alg: 'ES256',
    });
    rsa = await generateSigningJwk('RS256');
    mtls = await ca.issueClient({ clientId: 'svc-guide-mtls' });
    const printed = JSON.parse(
      fencedBlocks(guide, 'json').find((text) => text.includes('"py-authlib"')) ?? 'null',
    ) as ClientMetadata;
    authlibEntry = {
      ...printed,
      jwks: { keys: [rsa.publicJwk] },
      // The page's date is an example; the test must not expire with it.
      legacy_audience: { until: new Date(Date.now() + 86_400_000).toISOString() },
    };
    const rsaClient = (clientId: string, extra: Partial<ClientMetadata> = {}): ClientMetadata => ({
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [rsa.publicJwk] },
      grant_types: ['client_credentials'],
      scope: 'read',
      ...extra,
    });
    server = await startTollgate({
      ca,
      clients: [
        es256.metadata,
        authlibEntry,
        tlsClientAuthEntry('svc-guide-mtls', mtls),
        // authlib's defaults against registrations that lack one setting each.
        { ...es256.metadata, client_id: 'py-authlib-ec' },
        rsaClient('py-authlib-no-legacy', { max_assertion_lifetime: 3600 }),
        rsaClient('py-authlib-no-lifetime', {
          legacy_audience: { until: new Date(Date.now() + 86_400_000).toISOString() },
        }),
      ],
    });
    await writeFile(join(dir, 'es256.jwk.json'), JSON.stringify(es256.key.privateJwk), {
      mode: 0o600,
    });
    await writeFile(join(dir, 'rsa.jwk.json'), JSON.stringify(rsa.privateJwk), { mode: 0o600 });
    // The CA bundle $REQUESTS_CA_BUNDLE names on many machines: it does not hold the dev root.
    await writeFile(join(dir, 'unrelated-ca.pem'), (await createDevCa()).root.certPem);
    const password = 'guide-test-password';
    await writeFile(
      join(dir, 'client.p12'),
      await createPkcs12({ keyPem: mtls.keyPem, certsPem: mtls.chainPem, password }),
      { mode: 0o600 },
    );
    await writeFile(join(dir, 'client.p12.password'), `${password}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await server?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? dir,
    TOLLGATE_ISSUER: server.issuer,
    TOLLGATE_CA: server.files.root,
    // Set on many machines (Debian and CI images, corporate proxies): requests lets them override
    // a session's `verify`, so a guide that trusts the dev CA must say so per request.
    REQUESTS_CA_BUNDLE: join(dir, 'unrelated-ca.pem'),
    CURL_CA_BUNDLE: join(dir, 'unrelated-ca.pem'),
    ...extra,
  });

  describe.skipIf(!hasPython)('Python', () => {
    it('requests + PyJWT: an assertion built as the guide says gets a token', {
      timeout,
    }, async () => {
      await writeFile(join(dir, 'pyjwt.py'), block('python', 0));
      const result = await run(python, [join(dir, 'pyjwt.py')], {
        cwd: dir,
        env: env({ CLIENT_ID: es256.clientId, CLIENT_KEY: join(dir, 'es256.jwk.json') }),
        timeoutMs: 60_000,
      });
      expect(result.output).toMatch(/^Bearer \d+\n$/);
      expect(result.code).toBe(0);
    });

    it("authlib with its defaults gets a token under the guide's registration", {
      timeout,
    }, async () => {
      await writeFile(join(dir, 'authlib_client.py'), block('python', 1));
      const result = await run(python, [join(dir, 'authlib_client.py')], {
        cwd: dir,
        env: env({ CLIENT_ID: 'py-authlib', CLIENT_KEY: join(dir, 'rsa.jwk.json') }),
        timeoutMs: 60_000,
      });
      expect(result.output).toMatch(/^Bearer \d+\n$/);
      expect(result.code).toBe(0);
    });
  });

  it.skipIf(!hasPython)(
    "authlib's defaults against registrations without what they need: each refusal names its fix",
    { timeout },
    async () => {
      await writeFile(join(dir, 'authlib_client.py'), block('python', 1));
      const attempt = (clientId: string) =>
        run(python, [join(dir, 'authlib_client.py')], {
          cwd: dir,
          env: env({ CLIENT_ID: clientId, CLIENT_KEY: join(dir, 'rsa.jwk.json') }),
          timeoutMs: 60_000,
        });
      const ec = await attempt('py-authlib-ec');
      expect(ec.code).not.toBe(0);
      expect(ec.output).toMatch(
        /invalid_client: client_assertion alg must be ES256 for this client \(set the library's signing algorithm/,
      );
      const audience = await attempt('py-authlib-no-legacy');
      expect(audience.code).not.toBe(0);
      expect(audience.output).toMatch(
        /not the token endpoint URL \(for a library that sends that, register the client with legacy_audience\)/,
      );
      const lifetime = await attempt('py-authlib-no-lifetime');
      expect(lifetime.code).not.toBe(0);
      expect(lifetime.output).toMatch(
        /must be at most 300 seconds: shorten the assertion's exp, or register max_assertion_lifetime/,
      );
    },
  );

  describe.skipIf(!hasGo)('Go', () => {
    it('x/oauth2/clientcredentials: one Config per token, two tokens in a row', {
      timeout,
    }, async () => {
      await writeFile(join(dir, 'main.go'), block('go', 0));
      const result = await run('go', ['run', join(dir, 'main.go')], {
        cwd: dir,
        env: env({
          CLIENT_ID: es256.clientId,
          CLIENT_KEY: join(dir, 'es256.jwk.json'),
          // Offline, from Debian's packaged sources.
          GO111MODULE: 'off',
          GOPATH: gopath,
          GOFLAGS: '-mod=mod',
          GOPROXY: 'off',
          GOCACHE: join(dir, 'gocache'),
        }),
        timeoutMs: 180_000,
      });
      expect(result.output).toMatch(/^Bearer \S+\nBearer \S+\n$/);
      expect(result.code).toBe(0);
    });
  });

  describe.skipIf(!hasJava)('Java', () => {
    it("HttpClient over mutual TLS with the dev CA's PKCS#12 gets a bound token", {
      timeout,
    }, async () => {
      await writeFile(join(dir, 'TokenOverMtls.java'), block('java', 0));
      const result = await run('java', [join(dir, 'TokenOverMtls.java')], {
        cwd: dir,
        env: env({ CLIENT_ID: 'svc-guide-mtls', CLIENT_P12: join(dir, 'client.p12') }),
        timeoutMs: 180_000,
      });
      expect(result.code, result.output).toBe(0);
      const body = JSON.parse(result.output) as { access_token: string; token_type: string };
      expect(body.token_type).toBe('Bearer');
      const claims = await verifyAccessToken(server, body.access_token);
      expect(claims).toMatchObject({ client_id: 'svc-guide-mtls', scope: 'read' });
      expect(claims.cnf).toEqual({ 'x5t#S256': thumbprintOf(mtls.certPem) });
    });
  });
});
