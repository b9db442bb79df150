import { ConfigError } from '../config/index.js';
import { TrustStoreError } from '../pki/index.js';
import { RegistryError } from '../registry/index.js';
import { SigningKeyError } from '../tokens/index.js';

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

/** A configuration problem (config, registry, keys, trust store): its message names the field. */
export function isConfigurationError(error: unknown): error is Error {
  return (
    error instanceof ConfigError ||
    error instanceof RegistryError ||
    error instanceof SigningKeyError ||
    error instanceof TrustStoreError
  );
}
