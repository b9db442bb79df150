#!/usr/bin/env node
/**
 * `tollgate <command>`: serve | token | dev-ca | keys | check-config | thumbprint.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkConfigCommand } from './check-config.js';
import { devCaCommand } from './dev-ca.js';
import type { Io } from './io.js';
import { keysCommand } from './keys.js';
import { serveCommand } from './serve.js';
import { thumbprintCommand } from './thumbprint.js';
import { tokenCommand } from './token.js';

const usage = `Usage: tollgate <command> [options]

Commands:
  serve          run the authorization server (--config FILE, or --dev for a local dev PKI)
  token          get an access token (see: tollgate token --help)
  dev-ca         development PKI: init, ensure, client, ... (see: tollgate dev-ca --help)
  keys           server signing keys: generate (see: tollgate keys --help)
  check-config   validate the configuration and registry (--config FILE or --dev)
  thumbprint     print the x5t#S256 of a PEM certificate file
`;

const commands: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  serve: serveCommand,
  token: tokenCommand,
  'dev-ca': devCaCommand,
  keys: keysCommand,
  'check-config': checkConfigCommand,
  thumbprint: thumbprintCommand,
};

/** Runs the CLI; returns the process exit code. */
export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr.write(`tollgate: unknown command ${JSON.stringify(name)}\n\n${usage}`);
    return 2;
  }
  return command(rest, io);
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
      process.stderr.write(`tollgate: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
