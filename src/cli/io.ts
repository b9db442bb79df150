import { ConfigError } from '../config/index.js';
import { TrustStoreError } from '../pki/index.js';
import { RegistryError } from '../registry/index.js';
import { SigningKeyError } from '../tokens/index.js';
import { UsageError } from './args.js';

/** Where CLI commands write; injectable for tests. */
export interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/** Exit codes shared by every command. */
export const exitCodes = {
  ok: 0,
  /** The operation failed (a protocol error, a check that did not pass). */
  failed: 1,
  /** The command line is wrong. */
  usage: 2,
  /** A network or TLS error: the server could not be reached. */
  unreachable: 3,
} as const;

/** The exit codes as every command's help prints them. */
export const exitCodesHelp = `Exit codes:
  0  success
  1  refused or failed: the server said no, a check did not pass, the configuration is invalid
  2  usage: a wrong command line, or a file named on it that cannot be read
  3  unreachable: the server could not be reached (connection, TLS handshake, timeout)
`;

/**
 * Reports a wrong command line (exit 2): the message names the option, then where the help is.
 * Anything that is not a {@link UsageError} is a bug and propagates.
 */
export function usageError(io: Io, command: string, error: unknown): number {
  if (!(error instanceof UsageError)) throw error;
  io.stderr.write(`tollgate ${command}: ${error.message}\nSee: tollgate ${command} --help\n`);
  return exitCodes.usage;
}

/**
 * The report of configuration problems, the same for `serve` and `check-config`: a header that
 * names the config file (`--config` or `$TOLLGATE_CONFIG`, as given) and counts the problems,
 * then one line each.
 */
export function configProblemsReport(
  file: string | undefined,
  problems: readonly string[],
): string {
  const source = file === undefined || file === '' ? '' : ` in ${file}`;
  const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
  return `invalid configuration${source} (${count}):\n${problems.map((p) => `  - ${p}\n`).join('')}`;
}

/** A configuration problem (config, registry, keys, trust store): its message names the field. */
export function isConfigurationError(error: unknown): error is Error {
  return (
    error instanceof ConfigError ||
    error instanceof RegistryError ||
    error instanceof SigningKeyError ||
    error instanceof TrustStoreError
  );
}
