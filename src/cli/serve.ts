/**
 * `tollgate serve [--config FILE] [--dev] [--workers N|auto]`: run the authorization server until SIGTERM or SIGINT.
 *
 * Without `--dev` the server trusts exactly what its configuration names: nothing is generated
 * and nothing under certs/ is read unless the config points there. `--dev` (what `npm start`
 * runs) layers the development PKI's files under the config and creates them when missing.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import {
  type Config,
  ConfigError,
  describeProblem,
  loadConfig,
  replayHeapProblems,
  servingMaterialProblems,
} from '../config/index.js';
import { ensureDevPki } from '../dev-ca/index.js';
import { createTollgate } from '../http/index.js';
import { ListenError, withClientShare } from '../http/server.js';
import { MemoryReplayStore } from '../replay/index.js';
import { IpcReplayStore } from '../replay/ipc.js';
import { ensureSigningKeyFile } from '../tokens/index.js';
import { parseCommandLine } from './args.js';
import {
  configProblemsReport,
  exitCodes,
  exitCodesHelp,
  type Io,
  isConfigurationError,
  usageError,
} from './io.js';
import { createServerLogger } from './logger.js';
import { fileProblems, serverIdentityProblems } from './preflight.js';
import { replaySinceVariable, runPrimary, workerReadyMessage } from './workers.js';

/** The most workers `--workers` accepts: far more than any machine's useful count. */
const maxWorkers = 256;

/** `--workers`: a count, or `auto` for the cores this process may use. */
export function parseWorkers(value: string | undefined): number | undefined {
  if (value === undefined) return 1;
  if (value === 'auto') return availableParallelism();
  if (!/^[1-9][0-9]*$/.test(value)) return undefined;
  const count = Number(value);
  return count <= maxWorkers ? count : undefined;
}

export const serveUsage = `Usage: tollgate serve [--config FILE] [--dev] [--workers N|auto]

Runs the authorization server until SIGTERM or SIGINT (in-flight requests finish first).
SIGHUP reloads the registry, signing keys, trust anchors and CRLs at once (they also reload
by themselves when their files change).

  -c, --config FILE   the configuration file (JSON); default $TOLLGATE_CONFIG. Settings
                      also come from TOLLGATE_* variables (see docs/configuration.md)
      --dev           development mode (what npm start runs): trust and, where missing,
                      generate a dev PKI, signing key and demo registry under certs/
      --workers N     run N processes (or auto: one per core) on the same listeners,
                      replay claims shared across them
  -h, --help          this help

${exitCodesHelp}`;

/** What `serve` (and `check-config`) say when given nothing to run on. */
export const noConfigurationHint = `no configuration given, and production has no defaults to trust.
  Production:   tollgate serve --config FILE   (what to put in FILE: docs/configuration.md)
  Development:  tollgate serve --dev           (or npm start: generates and trusts a dev PKI under certs/)
`;

export async function serveCommand(
  argv: string[],
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let values: {
    config?: string | undefined;
    dev?: boolean | undefined;
    workers?: string | undefined;
  };
  try {
    const line = parseCommandLine(argv, {
      options: {
        config: { type: 'string', short: 'c' },
        dev: { type: 'boolean' },
        workers: { type: 'string' },
      },
    });
    if (line.help) {
      io.stdout.write(serveUsage);
      return exitCodes.ok;
    }
    values = line.values as typeof values;
  } catch (error) {
    return usageError(io, 'serve', error);
  }
  const dev = values.dev === true;
  const file = values.config ?? env.TOLLGATE_CONFIG;
  if (!dev && (file === undefined || file === '')) {
    io.stderr.write(`tollgate serve: ${noConfigurationHint}`);
    return exitCodes.usage;
  }
  const workers = parseWorkers(values.workers);
  if (workers === undefined) {
    io.stderr.write(
      `tollgate serve: --workers must be a whole number from 1 to ${maxWorkers}, or auto\n`,
    );
    return exitCodes.usage;
  }
  // A worker of `--workers N` (forked by the primary below with the same arguments).
  const isWorker = cluster.isWorker;
  let config: Config;
  try {
    config = loadConfig({ file, env, dev });
    // Outside dev mode this is where a config that forgot its TLS files or signing key stops;
    // in dev mode they are checked after the dev PKI has been generated.
    if (!dev) throwIfAny(servingMaterialProblems(config));
    // A memory replay store that could outgrow the heap would end in an out-of-memory crash.
    throwIfAny(replayHeapProblems(config, getHeapStatistics().heap_size_limit));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(configProblemsReport(file, error.problems.map(describeProblem)));
    return exitCodes.failed;
  }
  // Logging must not block the event loop: lines are buffered and written asynchronously,
  // flushed synchronously on exit (so the last lines are never lost)...
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  process.once('exit', () => destination.flushSync());
  // ...and at least every second, so that a quiet server's lines (a failed reload) show up.
  setInterval(() => destination.flush(), 1000).unref();
  // Workers name their process, so that N workers' lines can be told apart.
  const logger = createServerLogger(config.log, destination, isWorker ? { pid: process.pid } : {});

  if (dev && !isWorker) {
    // Loud, once: this process trusts a CA whose keys sit on this disk.
    logger.warn(
      { devPkiDir: config.devPkiDir },
      'DEVELOPMENT MODE (--dev): trusting the development CA and generating the dev PKI, signing key and demo registry where missing; never use this in production',
    );
    const created = await ensureDevPki(config.devPkiDir, { issuer: config.issuer });
    if (created.length > 0) logger.info({ created }, 'dev PKI created');
    // A restart says so too: the same CA, clients and keys as before, nothing regenerated.
    else
      logger.info(
        { devPkiDir: config.devPkiDir },
        'dev PKI reused: every file present and valid, nothing generated (npm run dev-ca -- doctor checks it, dev-ca init --force starts over)',
      );
    const keysFile = config.signingKeys.file;
    if (
      keysFile !== null &&
      (await ensureSigningKeyFile(keysFile, config.accessToken.signingAlg))
    ) {
      logger.info({ file: keysFile }, 'signing key generated');
    }
    const problems = servingMaterialProblems(config);
    if (problems.length > 0) {
      io.stderr.write(configProblemsReport(file, problems.map(describeProblem)));
      return exitCodes.failed;
    }
  }

  // Missing files and a certificate that does not fit its key are named here, by setting, not
  // found later as a raw ENOENT or OpenSSL code.
  const missingFiles = fileProblems(config);
  const preflight = missingFiles.length > 0 ? missingFiles : serverIdentityProblems(config);
  if (preflight.length > 0) {
    io.stderr.write(configProblemsReport(file, preflight.map(describeProblem)));
    return exitCodes.failed;
  }

  if (workers > 1 && !isWorker) {
    // The primary: one memory replay store for every worker (Redis, when configured, is
    // shared by the workers directly), forks, signals; it serves no request itself.
    logger.info({ workers }, 'starting workers');
    if (dev) io.stdout.write(quickstart(config));
    const code = await runPrimary({
      workers,
      replayStore:
        config.replay.store === 'memory'
          ? withClientShare(new MemoryReplayStore({ maxEntries: config.replay.maxEntries }), config)
          : undefined,
      shutdownTimeoutSeconds: config.shutdownTimeoutSeconds,
      log: (level, fields, message) => logger[level](fields, message),
      io,
    });
    logger.info({ code }, 'every worker has stopped');
    return code;
  }

  let tollgate: Awaited<ReturnType<typeof createTollgate>>;
  try {
    tollgate = await createTollgate(config, {
      logger,
      processMetrics: config.metrics.processMetrics,
      ...(isWorker
        ? {
            clusterWorker: true,
            ...(config.replay.store === 'memory'
              ? {
                  replayStore: new IpcReplayStore(
                    {
                      send: (message) => process.send?.(message) ?? false,
                      on: (event, listener) => process.on(event, listener),
                      off: (event, listener) => process.off(event, listener),
                      isOpen: () => process.connected === true,
                    },
                    { rememberedSinceMs: sinceOf(process.env[replaySinceVariable]) },
                  ),
                }
              : {}),
          }
        : {}),
    });
  } catch (error) {
    if (isConfigurationError(error)) {
      io.stderr.write(
        error instanceof ConfigError
          ? configProblemsReport(file, error.problems.map(describeProblem))
          : `${error.message}\n`,
      );
      return exitCodes.failed;
    }
    throw error;
  }
  let addresses: string[];
  try {
    addresses = await tollgate.listen();
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    // The listeners that did open are closed again: nothing serves without signal handling.
    io.stderr.write(`${error.message}\n`);
    if (dev && error.listener === 'tls' && isAddressInUse(error.cause)) {
      io.stderr.write(devPortInUseHint(config.tls.port));
    }
    await tollgate.close();
    return exitCodes.failed;
  }
  logger.info(
    { issuer: config.issuer, host: config.tls.host, port: config.tls.port, addresses },
    'tollgate listening',
  );
  // Tells the primary that every listener of this worker is up (see workers.ts).
  if (isWorker) process.send?.({ type: workerReadyMessage });
  if (dev && !isWorker) io.stdout.write(quickstart(config));

  return new Promise((resolve) => {
    let closing = false;
    const stop = (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info(
        { signal, drainSeconds: config.shutdownDrainSeconds },
        'shutting down: /readyz answers 503 for the drain window, then no new connections; finishing the requests received',
      );
      tollgate.shutdown().then(
        ({ clean }) => {
          if (clean) logger.info('shut down cleanly');
          else
            logger.error(
              { seconds: config.shutdownTimeoutSeconds },
              'shutdown timed out: requests still running were abandoned',
            );
          resolve(clean ? exitCodes.ok : exitCodes.failed);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(exitCodes.failed);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      logger.info('SIGHUP: reloading registry, keys and trust store');
      tollgate
        .reload(true)
        .catch((error: unknown) => logger.error({ err: error }, 'reload failed'));
    });
  });
}

/** The primary's replay-record start, as it handed it over (undefined when absent or bad). */
function sinceOf(value: string | undefined): number | undefined {
  const ms = Number(value);
  return value !== undefined && Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

function isAddressInUse(cause: unknown): boolean {
  return (cause as { code?: unknown } | undefined)?.code === 'EADDRINUSE';
}

/**
 * `npm start` twice: the first server (or another program) holds the port, and the admin port
 * too. The issuer follows `tls.port` unless it was set (../config/load.ts).
 */
export function devPortInUseHint(port: number): string {
  const other = port === 8543 ? 8643 : 8543;
  return `Is another server (an earlier npm start?) running? Stop it, or run this one on other ports (the issuer follows):
  TOLLGATE_PORT=${other} TOLLGATE_ADMIN_PORT=0 npm start
`;
}

function quickstart(config: Config): string {
  const dir = relative(process.cwd(), config.devPkiDir) || '.';
  return `
Tollgate is serving ${config.issuer}  (metadata: ${config.issuer}/.well-known/oauth-authorization-server)

Get a token with private_key_jwt:
  node dist/cli/main.js token --issuer ${config.issuer} --client-id demo-jwt \\
    --key ${dir}/clients/demo-jwt/private.jwk.json --ca ${dir}/ca/root.pem --decode

More (curl, mutual TLS): ${dir}/EXAMPLES.md
`;
}

function throwIfAny(problems: ReturnType<typeof servingMaterialProblems>): void {
  if (problems.length > 0) throw new ConfigError(problems);
}
