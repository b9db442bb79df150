/** `tollgate serve [--config FILE]`: run the authorization server until SIGTERM or SIGINT. */
import { relative } from 'node:path';
import { pino } from 'pino';
import { type Config, ConfigError, loadConfig } from '../config/index.js';
import { ensureDevPki } from '../dev-ca/index.js';
import { createTollgate } from '../http/index.js';
import { ensureSigningKeyFile } from '../tokens/index.js';
import { parseCommandLine } from './args.js';
import { exitCodes, exitCodesHelp, type Io, isConfigurationError, usageError } from './io.js';
import { createServerLogger } from './logger.js';
import { fileProblems, serverIdentityProblems } from './preflight.js';

export const serveUsage = `Usage: tollgate serve [--config FILE]

Runs the authorization server until SIGTERM or SIGINT (in-flight requests finish first).
SIGHUP reloads the registry, signing keys, trust anchors and CRLs at once (they also reload
by themselves when their files change).

  -c, --config FILE   the configuration file (JSON); default $TOLLGATE_CONFIG, else the
                      embedded defaults. Settings also come from TOLLGATE_* variables
                      (see docs/configuration.md)
  -h, --help          this help

${exitCodesHelp}`;

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  let values: { config?: string | undefined };
  try {
    const line = parseCommandLine(argv, { options: { config: { type: 'string', short: 'c' } } });
    if (line.help) {
      io.stdout.write(serveUsage);
      return exitCodes.ok;
    }
    values = line.values as typeof values;
  } catch (error) {
    return usageError(io, 'serve', error);
  }
  let config: Config;
  try {
    config = loadConfig({ file: values.config });
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
  const logger = createServerLogger(config.log, destination);

  if (config.unsafeDevDefaults) {
    logger.warn(
      'unsafeDevDefaults is on: generating the dev PKI, signing key and demo registry where missing; never use this in production',
    );
    const created = await ensureDevPki(config.devPkiDir, { issuer: config.issuer });
    if (created.length > 0) logger.info({ created }, 'dev PKI created');
    if (await ensureSigningKeyFile(config.signingKeys.file, config.accessToken.signingAlg)) {
      logger.info({ file: config.signingKeys.file }, 'signing key generated');
    }
  }

  // Missing files and a certificate that does not fit its key are named here, by setting, not
  // found later as a raw ENOENT or OpenSSL code.
  const missingFiles = fileProblems(config);
  const preflight = missingFiles.length > 0 ? missingFiles : serverIdentityProblems(config);
  if (preflight.length > 0) {
    io.stderr.write(`${new ConfigError(preflight).message}\n`);
    return exitCodes.failed;
  }

  let tollgate: Awaited<ReturnType<typeof createTollgate>>;
  try {
    tollgate = await createTollgate(config, {
      logger,
      processMetrics: config.metrics.processMetrics,
    });
  } catch (error) {
    if (isConfigurationError(error)) {
      io.stderr.write(`${error.message}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
  await tollgate.listen();
  logger.info(
    { issuer: config.issuer, host: config.tls.host, port: config.tls.port },
    'tollgate listening',
  );
  if (config.unsafeDevDefaults) io.stdout.write(quickstart(config));

  return new Promise((resolve) => {
    let closing = false;
    const stop = (signal: string) => {
      if (closing) return;
      closing = true;
      logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
      const bound = setTimeout(() => {
        logger.error(
          { seconds: config.shutdownTimeoutSeconds },
          'shutdown timed out: in-flight requests abandoned',
        );
        resolve(exitCodes.failed);
      }, config.shutdownTimeoutSeconds * 1000);
      bound.unref();
      tollgate.close().then(
        () => {
          clearTimeout(bound);
          logger.info('shut down cleanly');
          resolve(exitCodes.ok);
        },
        (error: unknown) => {
          clearTimeout(bound);
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
