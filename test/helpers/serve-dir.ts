/**
 * A folder with everything `tollgate serve --config FILE` needs, for tests that run the server as
 * a real child process: a server certificate from the test's dev CA, one ES256 signing key, a
 * registry file and a `tollgate.json` that binds 127.0.0.1 on a free port.
 *
 * The config's defaults are what every spawned-server test needs, each for a reason:
 * - `admin.port: 0`: the default admin port (9464) may be another test's;
 * - load shedding off: on a busy test machine the event-loop triggers would answer 503 instead of
 *   the verdicts a test reads (shedding has its own test, test/http/load-shedding.test.ts);
 * - no client-certificate trust unless the test asks for the dev CA (`trustDevCa`).
 * A test states only what it is about, in `config`, merged over these.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigInput } from '../../src/config/index.js';
import type { DevCa, IssuedCertificate } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { freePort } from './net.js';

export interface ServeDirOptions {
  readonly ca: DevCa;
  /** The certificate the server presents; default a fresh `ca.issueServer()`. */
  readonly server?: IssuedCertificate;
  /** Written to `registry.json`. */
  readonly clients?: readonly unknown[];
  /**
   * Write `root.pem` and `intermediate.pem` and trust the dev CA for client certificates;
   * default: trust nothing (private_key_jwt tests).
   */
  readonly trustDevCa?: boolean;
  /** Merged over the defaults (objects merged key by key, anything else replaced). */
  readonly config?: ConfigInput;
  /** The folder name's prefix under the test run's TMPDIR. */
  readonly prefix?: string;
}

export interface ServeDir {
  readonly dir: string;
  /** The TLS port (free when chosen; bound once the server starts). */
  readonly port: number;
  /** `https://localhost:<port>` unless `config.issuer` says otherwise. */
  readonly issuer: string;
  /** `<dir>/tollgate.json`, for `spawnServe`. */
  readonly configFile: string;
  /** Replaces `registry.json` (a running server picks it up on reload). */
  writeRegistry(clients: readonly unknown[]): Promise<void>;
}

/** Makes the folder and writes its files. Removed with the test run's TMPDIR. */
export async function prepareServeDir(options: ServeDirOptions): Promise<ServeDir> {
  const { ca } = options;
  const dir = await mkdtemp(join(tmpdir(), options.prefix ?? 'tollgate-serve-'));
  const server = options.server ?? (await ca.issueServer());
  const port = await freePort();
  const key = await generateSigningJwk('ES256');
  writeSigningKeyFile(join(dir, 'keys.json'), { active_kid: key.kid as string, keys: [key] });
  await writeFile(join(dir, 'server.pem'), server.chainPem);
  await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
  const trust = options.trustDevCa === true;
  if (trust) {
    await writeFile(join(dir, 'root.pem'), ca.root.certPem);
    await writeFile(join(dir, 'intermediate.pem'), ca.intermediate.certPem);
  }
  const writeRegistry = (clients: readonly unknown[]) =>
    writeFile(join(dir, 'registry.json'), JSON.stringify({ clients }));
  await writeRegistry(options.clients ?? []);
  const defaults: ConfigInput = {
    issuer: `https://localhost:${port}`,
    tls: { host: '127.0.0.1', port, certFile: 'server.pem', keyFile: 'server-key.pem' },
    signingKeys: { file: 'keys.json' },
    registry: { file: 'registry.json' },
    clientCertificates: {
      trustAnchorFiles: trust ? ['root.pem'] : [],
      intermediateFiles: trust ? ['intermediate.pem'] : [],
      crlFiles: [],
    },
    admin: { port: 0 },
    underPressure: { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0 },
    log: { level: 'warn' },
  };
  const config = merge(defaults, options.config ?? {}) as ConfigInput;
  const configFile = join(dir, 'tollgate.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const issuer = typeof config.issuer === 'string' ? config.issuer : `https://localhost:${port}`;
  return { dir, port, issuer, configFile, writeRegistry };
}

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = merge(base[key], value);
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
