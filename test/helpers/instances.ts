/**
 * N real Tollgate processes (`tollgate serve --config FILE`) sharing one Redis, one signing-key
 * file and one registry file, as behind a load balancer (DESIGN.md §4): each on its own
 * 127.0.0.1 port, all with one public issuer, TLS from a dev CA written to a temporary folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postTokenRequest, type TokenResult } from '../../src/client/token-request.js';
import type { ConfigInput } from '../../src/config/index.js';
import type { DevCa } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { freePort } from './net.js';
import { startGuardMs, watchOutput } from './process.js';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
// Each process compiles TypeScript through tsx at start: on a busy two-core machine (CI runs
// suites in parallel) that alone can take a minute (see ./process.ts). Start-up is waited for
// until the instance is ready or exits; this is only a guard against a hang.
const startTimeoutMs = startGuardMs;
const stopTimeoutMs = 5_000;
/**
 * A request's bound (token, readyz): a guard against a hang, not a budget; a process starved of
 * CPU on a busy machine answers slowly, and these tests are not about latency.
 */
const requestGuardMs = 60_000;

/** The issuer every instance shares: the name clients know, not any one instance's address. */
export const clusterIssuer = 'https://auth.tollgate.test';

export interface Instance {
  readonly name: string;
  /** https://127.0.0.1:<port> */
  readonly base: string;
  /** Posts a token request to this instance, optionally over mutual TLS. */
  token(
    params: Record<string, string | undefined>,
    identity?: { cert: string; key: string },
  ): Promise<TokenResult>;
  /** GET /readyz: status code and body. */
  readyz(): Promise<{ status: number; body: unknown }>;
  /** What the process wrote so far (for failure messages). */
  output(): string;
  /**
   * Resolves once the output has matched `pattern` `count` times: log lines are buffered and
   * flushed every second, on the process's own schedule. Rejects, with the output, when the
   * process exits first or after a guard.
   */
  waitForOutput(pattern: RegExp, count?: number): Promise<void>;
}

export interface Instances {
  readonly list: readonly Instance[];
  readonly dir: string;
  /** Stops every process (SIGTERM, then SIGKILL after a bound) and removes the folder. */
  dispose(): Promise<void>;
}

export async function startInstances(options: {
  ca: DevCa;
  count: number;
  clients: unknown[];
  /** Merged over the shared config (redis, replay, ...). */
  config: ConfigInput;
}): Promise<Instances> {
  const { ca } = options;
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-instances-'));
  const server = await ca.issueServer();
  const files = {
    root: join(dir, 'root.pem'),
    intermediate: join(dir, 'intermediate.pem'),
    crls: join(dir, 'crls.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server-key.pem'),
    signingKeys: join(dir, 'signing-keys.json'),
    registry: join(dir, 'registry.json'),
  };
  await writeFile(files.root, ca.root.certPem);
  await writeFile(files.intermediate, ca.intermediate.certPem);
  await writeFile(files.crls, (await ca.crls()).combinedPem);
  await writeFile(files.cert, server.chainPem);
  await writeFile(files.key, server.keyPem, { mode: 0o600 });
  const jwk = await generateSigningJwk('ES256');
  writeSigningKeyFile(files.signingKeys, { active_kid: jwk.kid as string, keys: [jwk] });
  await writeFile(files.registry, JSON.stringify({ clients: options.clients }));

  const children: ChildProcess[] = [];
  const list: Instance[] = [];
  try {
    for (let i = 0; i < options.count; i++) {
      const name = `tollgate-${i + 1}`;
      const port = await freePort();
      const config: ConfigInput = {
        issuer: clusterIssuer,
        tls: { host: '127.0.0.1', port, certFile: files.cert, keyFile: files.key },
        clientCertificates: {
          trustAnchorFiles: [files.root],
          intermediateFiles: [files.intermediate],
          crlFiles: [files.crls],
        },
        signingKeys: { file: files.signingKeys },
        registry: { file: files.registry, clients: [] },
        admin: { port: 0 },
        // Tests stop instances with SIGTERM: a short drain keeps them quick.
        shutdownDrainSeconds: 0,
        // A busy test machine lags; shedding is tested on its own (test/http/load-shedding.test.ts).
        underPressure: { maxEventLoopDelayMs: 0 },
        log: { level: 'warn' },
        ...options.config,
      };
      const configFile = join(dir, `${name}.json`);
      await writeFile(configFile, JSON.stringify(config, null, 2));
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configFile],
        {
          cwd: repoRoot,
          env: { ...process.env, NODE_ENV: 'test' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(child);
      const watched = watchOutput(child, name);
      const base = `https://127.0.0.1:${port}`;
      list.push({
        name,
        base,
        token: (params, identity) =>
          postTokenRequest({
            tokenEndpoint: `${base}/token`,
            params,
            ca: ca.root.certPem,
            timeoutMs: requestGuardMs,
            ...(identity === undefined ? {} : { cert: identity.cert, key: identity.key }),
          }),
        readyz: () => getJson(`${base}/readyz`, ca.root.certPem),
        output: watched.output,
        waitForOutput: (pattern, count) => watched.waitForOutput(pattern, count),
      });
    }
    // Start in parallel (each compiles TypeScript on the fly), wait for all to be ready.
    await Promise.all(
      list.map((instance, i) => waitReady(instance, children[i] as ChildProcess, startTimeoutMs)),
    );
  } catch (error) {
    await Promise.all(children.map(stopChild));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    list,
    dir,
    async dispose() {
      await Promise.all(children.map(stopChild));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls /readyz until `ready` (bounded): the server listens and its replay store is connected. */
async function waitReady(
  instance: Instance,
  child: ChildProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${instance.name} exited (${child.exitCode}):\n${instance.output()}`);
    }
    try {
      const { status, body } = await instance.readyz();
      if (status === 200 && (body as { status?: string }).status === 'ready') return;
      last = `${status} ${JSON.stringify(body)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `${instance.name} not ready after ${timeoutMs} ms (${last}):\n${instance.output()}`,
  );
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), stopTimeoutMs).unref(),
  );
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}

/** GET over HTTPS trusting `ca`; resolves with the status and the parsed JSON body. */
export function getJson(url: string, ca: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: requestGuardMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            body: text === '' ? undefined : JSON.parse(text),
          });
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
