/** `tollgate check-config [--config FILE]`: the start-up verdict, without starting. */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.js';
import { deploymentProblems, loadConfiguredRegistry, loadTrustStore } from '../http/index.js';
import { loadSigningKeys } from '../tokens/index.js';
import { exitCodes, type Io, isConfigurationError } from './io.js';

export async function checkConfigCommand(argv: string[], io: Io): Promise<number> {
  let values: { config?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string', short: 'c' } },
      strict: true,
    }));
  } catch (error) {
    io.stderr.write(
      `tollgate check-config: ${(error as Error).message}\nUsage: tollgate check-config [--config FILE]\n`,
    );
    return exitCodes.usage;
  }
  try {
    const config = loadConfig({ file: values.config });
    const registry = loadConfiguredRegistry(config);
    const trustStore = await loadTrustStore(config);
    const problems = deploymentProblems(config, registry, trustStore);
    if (problems.length > 0) throw new ConfigError(problems);
    const missingKeyFile = config.unsafeDevDefaults
      ? tryLoadKeys(config.signingKeys.file, config.accessToken.signingAlg)
      : undefined;
    if (!config.unsafeDevDefaults)
      loadSigningKeys(config.signingKeys.file, config.accessToken.signingAlg);
    io.stdout.write(
      `configuration OK: issuer ${config.issuer}, ${registry.size} client(s), ${trustStore?.anchors.length ?? 0} trust anchor(s)\n`,
    );
    if (missingKeyFile !== undefined)
      io.stdout.write(`note: ${missingKeyFile} (generated at start: unsafeDevDefaults)\n`);
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
