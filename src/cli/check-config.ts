/**
 * `tollgate check-config [--config FILE] [--dev]`: the start-up verdict, without starting.
 * Same inputs as `serve`: without `--dev` nothing has a default to fall back on.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, servingMaterialProblems } from '../config/index.js';
import { deploymentProblems, loadConfiguredRegistry, loadTrustStore } from '../http/index.js';
import { loadSigningKeys } from '../tokens/index.js';
import { exitCodes, type Io, isConfigurationError } from './io.js';
import { noConfigurationHint } from './serve.js';

export async function checkConfigCommand(
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
    io.stderr.write(
      `tollgate check-config: ${(error as Error).message}\nUsage: tollgate check-config [--config FILE] [--dev]\n`,
    );
    return exitCodes.usage;
  }
  const dev = values.dev === true;
  const file = values.config ?? env.TOLLGATE_CONFIG;
  if (!dev && (file === undefined || file === '')) {
    io.stderr.write(`tollgate check-config: ${noConfigurationHint}`);
    return exitCodes.usage;
  }
  try {
    const config = loadConfig({ file, env, dev });
    const material = servingMaterialProblems(config);
    if (material.length > 0) throw new ConfigError(material);
    const registry = loadConfiguredRegistry(config);
    const trustStore = await loadTrustStore(config);
    const problems = deploymentProblems(config, registry, trustStore);
    if (problems.length > 0) throw new ConfigError(problems);
    const keysFile = config.signingKeys.file as string;
    // In dev mode `serve` generates a missing key file; otherwise it must load now.
    const missingKeyFile = dev ? tryLoadKeys(keysFile, config.accessToken.signingAlg) : undefined;
    if (!dev) loadSigningKeys(keysFile, config.accessToken.signingAlg);
    io.stdout.write(
      `configuration OK: issuer ${config.issuer}, ${registry.size} client(s), ${trustStore?.anchors.length ?? 0} trust anchor(s)\n`,
    );
    if (missingKeyFile !== undefined)
      io.stdout.write(`note: ${missingKeyFile} (generated at start: serve --dev)\n`);
    return exitCodes.ok;
  } catch (error) {
    if (isConfigurationError(error)) {
      io.stderr.write(`${error.message}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}

function tryLoadKeys(file: string, alg: Parameters<typeof loadSigningKeys>[1]): string | undefined {
  try {
    loadSigningKeys(file, alg);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
