#!/usr/bin/env node
/**
 * `tollgate <command>`: serve | token | dev-ca | keys | check-config | thumbprint.
 *
 * Every command answers `--help` (exit 0) and uses the same exit codes (see {@link exitCodes}).
 */
// First, so that an old Node.js is named before anything else loads (see node-version.ts).
import './node-version.js';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';
import { checkConfigCommand } from './check-config.js';
import { devCaCommand } from './dev-ca.js';
import { exitCodes, exitCodesHelp, type Io } from './io.js';
import { keysCommand } from './keys.js';
import { serveCommand } from './serve.js';
import { thumbprintCommand } from './thumbprint.js';
import { tokenCommand } from './token.js';

const usage = `Usage: tollgate <command> [options]
       tollgate <command> --help      help for one command (or: tollgate help <command>)
       tollgate --version

Commands:
  serve          run the authorization server     [--config FILE | --dev (local dev PKI)]
  check-config   validate the configuration, registry, keys and trust store without starting;
                 reports every problem at once     [--config FILE | --dev]
  token          get an access token (private_key_jwt, tls_client_auth,
                 self_signed_tls_client_auth)
  keys           server signing keys:
                   generate | add | activate KID | retire KID | remove KID | list
  dev-ca         development PKI:
                   init | ensure | server | client ID | sign (a CSR) | spiffe-bundle |
                   self-signed ID | jwk ID | dpop-key ID | revoke TARGET | crl | negative |
                   assertion ID | doctor
  thumbprint     print the RFC 8705 x5t#S256 of a PEM certificate file

Configuration: --config FILE or $TOLLGATE_CONFIG; every setting can also come from the
environment as TOLLGATE_ + its path in capitals, "__" between levels
(rateLimits.perClient = TOLLGATE_RATE_LIMITS__PER_CLIENT). See docs/configuration.md.

${exitCodesHelp}`;

const commands: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  serve: serveCommand,
  token: tokenCommand,
  'dev-ca': devCaCommand,
  keys: keysCommand,
  'check-config': checkConfigCommand,
  thumbprint: thumbprintCommand,
};

/** The package version (package.json sits two folders up from both src/cli and dist/cli). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Runs the CLI; returns the process exit code. */
export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    io.stdout.write(`tollgate ${version()}\n`);
    return exitCodes.ok;
  }
  if (name === '--help' || name === '-h') {
    io.stdout.write(usage);
    return exitCodes.ok;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(usage);
      return exitCodes.ok;
    }
    const command = commands[topic];
    if (command === undefined) return unknownCommand(topic, io);
    return command(['--help'], io);
  }
  if (name === undefined) {
    io.stderr.write(`tollgate: a command is required\n\n${usage}`);
    return exitCodes.usage;
  }
  const command = commands[name];
  if (command === undefined) return unknownCommand(name, io);
  try {
    return await command(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`tollgate ${name}: ${error.message}\nSee: tollgate ${name} --help\n`);
      return exitCodes.usage;
    }
    throw error;
  }
}

function unknownCommand(name: string, io: Io): number {
  const hint = name.startsWith('-')
    ? 'options go after the command'
    : `commands: ${Object.keys(commands).join(', ')}`;
  io.stderr.write(
    `tollgate: unknown command ${JSON.stringify(name)} (${hint})\nSee: tollgate --help\n`,
  );
  return exitCodes.usage;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      // A server that has shut down exits now, whatever handles (sockets, timers) linger.
      if (process.argv[2] === 'serve') process.exit(code);
      process.exitCode = code;
    },
    (error: unknown) => {
      // A bug, not a user error: say so, with the stack for the report.
      process.stderr.write(
        `tollgate: unexpected error (please report it): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = exitCodes.failed;
    },
  );
}
