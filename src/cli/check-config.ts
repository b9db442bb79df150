/**
 * `tollgate check-config [--config FILE] [--dev]`: the start-up verdict, without starting.
 * Same inputs as `serve`: without `--dev` nothing has a default to fall back on.
 */
import { getHeapStatistics } from 'node:v8';
import {
  type Config,
  ConfigError,
  describeProblem,
  loadConfig,
  replayHeapProblems,
  servingMaterialProblems,
} from '../config/index.js';
import { deploymentProblems, loadConfiguredRegistry, loadTrustStore } from '../http/index.js';
import { RegistryError } from '../registry/index.js';
import { loadSigningKeys } from '../tokens/index.js';
import { parseCommandLine } from './args.js';
import {
  configProblemsReport,
  exitCodes,
  exitCodesHelp,
  type Io,
  isConfigurationError,
  usageError,
} from './io.js';
import { fileProblems, serverIdentityProblems } from './preflight.js';
import { noConfigurationHint } from './serve.js';

export const checkConfigUsage = `Usage: tollgate check-config [--config FILE] [--dev]

Loads the configuration, the client registry, the signing keys and the trust store exactly as
\`tollgate serve\` would, and reports every problem found at once (each with the setting or
file it concerns) without starting a listener.

  -c, --config FILE   the configuration file (JSON); default $TOLLGATE_CONFIG.
                      TOLLGATE_* variables apply as for serve
      --dev           check what \`tollgate serve --dev\` would run (the dev PKI under certs/;
                      files it generates at start are notes, not problems)
  -h, --help          this help

${exitCodesHelp}`;

export async function checkConfigCommand(
  argv: string[],
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let values: { config?: string | undefined; dev?: boolean | undefined };
  try {
    const line = parseCommandLine(argv, {
      options: { config: { type: 'string', short: 'c' }, dev: { type: 'boolean' } },
    });
    if (line.help) {
      io.stdout.write(checkConfigUsage);
      return exitCodes.ok;
    }
    values = line.values as typeof values;
  } catch (error) {
    return usageError(io, 'check-config', error);
  }
  const dev = values.dev === true;
  const file = values.config ?? env.TOLLGATE_CONFIG;
  if (!dev && (file === undefined || file === '')) {
    io.stderr.write(`tollgate check-config: ${noConfigurationHint}`);
    return exitCodes.usage;
  }
  let config: Config;
  try {
    config = loadConfig({ file, env, dev });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return report(io, file, error.problems.map(describeProblem), []);
  }
  const problems: string[] = [
    ...servingMaterialProblems(config),
    ...replayHeapProblems(config, getHeapStatistics().heap_size_limit),
  ].map(describeProblem);
  const notes: string[] = [];
  // Dev mode makes what is missing at start: a missing file is then a note, not a problem.
  const generated = dev;
  const missing = new Set<string>();
  for (const problem of fileProblems(config)) {
    missing.add(problem.path.replace(/\.\d+$/, ''));
    if (generated && /no such file/.test(problem.message)) {
      notes.push(`${problem.path}: missing, generated at start (serve --dev)`);
    } else {
      problems.push(describeProblem(problem));
    }
  }
  // Each part loads on its own, so one broken file does not hide the problems of another.
  const registry = missing.has('registry.file')
    ? undefined
    : collect(problems, () => loadConfiguredRegistry(config));
  const trustStoreFiles = [
    'clientCertificates.trustAnchorFiles',
    'clientCertificates.intermediateFiles',
    'clientCertificates.crlFiles',
  ];
  // null: could not be loaded (reported); undefined: no trust anchor configured (valid).
  const trustStore = trustStoreFiles.some((setting) => missing.has(setting))
    ? null
    : await collectAsync(problems, () => loadTrustStore(config));
  if (registry !== undefined && trustStore !== null)
    problems.push(...deploymentProblems(config, registry, trustStore).map(describeProblem));
  const keysFile = config.signingKeys.file;
  if (keysFile !== null && !missing.has('signingKeys.file'))
    collect(problems, () => loadSigningKeys(keysFile, config.accessToken.signingAlg));
  if (
    config.tls.certFile !== null &&
    config.tls.keyFile !== null &&
    !missing.has('tls.certFile') &&
    !missing.has('tls.keyFile')
  )
    problems.push(...serverIdentityProblems(config).map(describeProblem));
  // Valid, but a first production config that forgot its registry would refuse every client.
  if (registry !== undefined && registry.size === 0) {
    notes.push(
      'no client is registered: every token request will be refused (invalid_client); set registry.file or registry.clients (docs/configuration.md)',
    );
  }
  if (problems.length > 0) return report(io, file, problems, notes);
  io.stdout.write(
    `configuration OK: issuer ${config.issuer}, ${registry?.size ?? 0} client(s), ${trustStore?.anchors.length ?? 0} trust anchor(s)\n`,
  );
  for (const note of notes) io.stdout.write(`note: ${note}\n`);
  return exitCodes.ok;
}

/** Prints every problem (exit 1). */
function report(
  io: Io,
  file: string | undefined,
  problems: readonly string[],
  notes: readonly string[],
): number {
  io.stderr.write(configProblemsReport(file, problems));
  for (const note of notes) io.stderr.write(`note: ${note}\n`);
  return exitCodes.failed;
}

/** Runs `load`; a configuration error becomes lines in `problems` and the result undefined. */
function collect<T>(problems: string[], load: () => T): T | undefined {
  try {
    return load();
  } catch (error) {
    problems.push(...configurationProblems(error));
    return undefined;
  }
}

async function collectAsync<T>(problems: string[], load: () => Promise<T>): Promise<T | null> {
  try {
    return await load();
  } catch (error) {
    problems.push(...configurationProblems(error));
    return null;
  }
}

function configurationProblems(error: unknown): string[] {
  if (error instanceof ConfigError) return error.problems.map(describeProblem);
  if (error instanceof RegistryError) return error.problems.map((p) => `registry: ${p}`);
  if (isConfigurationError(error)) return [error.message];
  throw error;
}
