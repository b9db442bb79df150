/**
 * `tollgate serve [--config FILE] [--dev]`: run the authorization server until SIGTERM or SIGINT.
 *
 * Without `--dev` the server trusts exactly what its configuration names: nothing is generated
 * and nothing under certs/ is read unless the config points there. `--dev` (what `npm start`
 * runs) layers the development PKI's files under the config and creates them when missing.
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { type Config, ConfigError, loadConfig, servingMaterialProblems } from '../config/index.js';
import { ensureDevPki } from '../dev-ca/index.js';
import { createTollgate } from '../http/index.js';
import { ensureSigningKeyFile } from '../tokens/index.js';
import { exitCodes, type Io, isConfigurationError } from './io.js';

const usageLine = 'Usage: tollgate serve [--config FILE] [--dev]';

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
  let values: { config?: string | undefined; dev?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' }, dev: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    io.stderr.write(`tollgate serve: ${(error as Error).message}\n${usageLine}\n`);
    return exitCodes.usage;
  }
  const dev = values.dev === true;
  const file = values.config ?? env.TOLLGATE_CONFIG;
  if (!dev && (file === undefined || file === '')) {
    io.stderr.write(`tollgate serve: ${noConfigurationHint}`);
    return exitCodes.usage;
  }
  let config: Config;
  try {
    config = loadConfig({ file, env, dev });
    // Outside dev mode this is where a config that forgot its TLS files or signing key stops;
    // in dev mode they are checked after the dev PKI has been generated.
    if (!dev) throwIfAny(servingMaterialProblems(config));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`${error.message}\n`);
    return exitCodes.failed;
  }
  // Logging must not block the event loop: lines are buffered and written asynchronously,
  // flushed synchronously on exit (so the last lines are never lost)...
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  process.once('exit', () => destination.flushSync());
  // ...and at least every second, so that a quiet server's lines (a failed reload) show up.
  setInterval(() => destination.flush(), 1000).unref();
  const logger = pino({ level: config.log.level, base: { service: 'tollgate' } }, destination);

  if (dev) {
    // Loud, once: this process trusts a CA whose keys sit on this disk.
    logger.warn(
      { devPkiDir: config.devPkiDir },
      'DEVELOPMENT MODE (--dev): trusting the development CA and generating the dev PKI, signing key and demo registry where missing; never use this in production',
    );
    const created = await ensureDevPki(config.devPkiDir, { issuer: config.issuer });
    if (created.length > 0) logger.info({ created }, 'dev PKI created');
    const keysFile = config.signingKeys.file;
    if (
      keysFile !== null &&
      (await ensureSigningKeyFile(keysFile, config.accessToken.signingAlg))
    ) {
      logger.info({ file: keysFile }, 'signing key generated');
    }
    const problems = servingMaterialProblems(config);
    if (problems.length > 0) {
      io.stderr.write(`${new ConfigError(problems).message}\n`);
      return exitCodes.failed;
    }
  }

  let tollgate: Awaited<ReturnType<typeof createTollgate>>;
  try {
    tollgate = await createTollgate(config, { logger, processMetrics: true });
  } catch (error) {
    if (isConfigurationError(error)) {
      io.stderr.write(`${error.message}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
  const addresses = await tollgate.listen();
  logger.info(
    { issuer: config.issuer, host: config.tls.host, port: config.tls.port, addresses },
    'tollgate listening',
  );
  if (dev) io.stdout.write(quickstart(config));

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
