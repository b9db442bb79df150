/**
 * The dev-ca command line: `npm run dev-ca -- <command>` and `tollgate dev-ca <command>` both
 * call {@link runDevCaCli}. Parsing and printing live here; the commands are in commands.ts.
 */
import { parseCommandLine, parseNowOption, UsageError } from '../cli/args.js';
import { issuerProblem } from '../config/issuer.js';
import { PkiError } from '../pki/index.js';
import { type Command, commands, globalFlags, options, type Values } from './commands.js';
import { devKeyTypes } from './keys.js';
import { ConflictError } from './store.js';
import { type CommandResult, Workspace } from './workspace.js';

/** Where the CLI writes; defaults to the process streams. */
export interface DevCaIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const exit = { ok: 0, failed: 1, usage: 2 } as const;

const usage = `Usage: dev-ca <command> [options]

Commands:
  init                 root + intermediate CA, server cert, demo clients, CRLs, registry, EXAMPLES.md
  ensure               create only what is missing or expiring soon (idempotent)
  server               re-issue the server certificate            [--san NAME]... [--key-type T]
  client ID            issue a tls_client_auth certificate          [--subject DN] [--san-dns N]...
                       [--san-uri U]... [--san-ip A]... [--san-email E]... [--bind FIELD]
                       [--p12 | --p12-legacy] [--spiffe-id spiffe://TD/PATH (an X.509-SVID)]
  sign --csr F --client-id ID
                       sign a PKCS#10 request (PEM or DER) made where the key lives, and register
                       the client as \`client\` does; same --subject, --san-*, --spiffe-id, --bind,
                       plus --eku E,... to allow EKUs besides clientAuth. Refuses CA:TRUE, weak keys
  spiffe-bundle        write ca/spiffe-bundle.json: the trust domain's SPIFFE bundle (x509-svid JWKS)
  client --file F      create clients from a JSON file {"clients": [{client_id, method?, subject?, ...}]}
  self-signed ID       self-signed certificate + JWK with x5c      [--subject DN] [--key-type T]
  jwk ID               private_key_jwt signing key pair            [--alg ES256|EdDSA|PS256|RS256|...]
  dpop-key ID          DPoP (RFC 9449) private JWK for a client    [--alg ES256|EdDSA|PS256]
  revoke TARGET        revoke a client_id, "server", a serial or a .pem   [--reason R]
  crl                  re-sign both CRLs (fresh nextUpdate)        [--days N]
  negative             expired, not-yet-valid, revoked, wrong-EKU, foreign-CA, mismatch fixtures
  assertion ID         print a client assertion for curl           [--issuer URL] [--lifetime S]
  doctor               verify chains, keys, modes, expiry, CRLs, registry

Global options:
  --dir DIR            PKI directory (default: certs)
  --json               machine-readable output
  --force              overwrite existing files (otherwise nothing is changed)
  --now ISO-8601       pretend the current time is this (validity, CRLs, assertions)
  --key-type T         ${devKeyTypes.join(' | ')} (default p256)
  --permit NAME        extra name-constraint subtree for a new CA (DNS name, .suffix, IP/prefix)
  --san NAME           extra server SAN (init, ensure, server)
  --keep-root-key      keep ca/root-key.pem (init, ensure)
  --p12                also write a PKCS#12 bundle (init: for demo-mtls): PBES2, AES-256-CBC,
                       SHA-256 MAC, any key type; what OpenSSL 3, curl, browsers and current Java read
  --p12-legacy         client: write the PKCS#12 in the legacy form instead (3DES, SHA-1 MAC),
                       for importers that reject the modern one: macOS Keychain (security import,
                       Keychain Access) and Java before 8u301 / 11.0.12. RSA only: needs a PKI made
                       with init --key-type rsa2048 (or rsa3072); written with node-forge
  --issuer URL         issuer for assertions and EXAMPLES.md (default https://localhost:8443)
`;

/** Runs one dev-ca command; resolves to the process exit code. */
export async function runDevCaCli(argv: string[], io: DevCaIo = process): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr.write(`dev-ca: ${(error as Error).message}\nSee: dev-ca --help\n`);
    return exit.usage;
  }
  const { command, args, values, help } = parsed;
  if (help || command === undefined || command === 'help') {
    io.stdout.write(usage);
    return command === undefined && !help ? exit.usage : exit.ok;
  }
  const json = values.json === true;
  try {
    const ws = new Workspace({
      dir: values.dir ?? 'certs',
      displayDir: values.dir ?? 'certs',
      now: parseNowOption(values.now),
      force: values.force === true,
      issuer: values.issuer === undefined ? undefined : parseIssuer(values.issuer),
    });
    // parse() refused unknown commands.
    const spec = commands[command] as Command;
    const result = await spec.run({ ws, arg: argumentOf(spec, args, values), values });
    if ('text' in result) {
      io.stdout.write(json ? result.json : result.text);
      return result.code;
    }
    io.stdout.write(json ? `${JSON.stringify(toJson(result), null, 2)}\n` : render(result));
    return exit.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`dev-ca ${command}: ${error.message}\n\n${usage}`);
      return exit.usage;
    }
    if (error instanceof ConflictError) {
      const message = `dev-ca ${command}: ${error.message}\nNothing was changed. Re-run with --force to replace them, or use \`ensure\` to fill in only what is missing.\n`;
      if (json)
        io.stdout.write(`${JSON.stringify({ command, error: 'conflict', paths: error.paths })}\n`);
      io.stderr.write(message);
      return exit.failed;
    }
    if (error instanceof TypeError || error instanceof SyntaxError || error instanceof PkiError) {
      if (json) io.stdout.write(`${JSON.stringify({ command, error: error.message })}\n`);
      io.stderr.write(`dev-ca ${command}: ${error.message.replace(/^dev-ca: /, '')}\n`);
      return exit.failed;
    }
    throw error;
  }
}

/** src/cli's parser (as every `tollgate` command), then each option against the command's list. */
function parse(argv: string[]) {
  const line = parseCommandLine(argv, { options, maxPositionals: Number.POSITIVE_INFINITY });
  const values = line.values as Values;
  const [command, ...args] = line.positionals;
  if (command !== undefined && command !== 'help') {
    const flags = commands[command]?.flags;
    if (flags === undefined) throw new UsageError(`unknown command ${command}`);
    for (const key of Object.keys(values)) {
      if (!globalFlags.includes(key) && !flags.split(' ').includes(key))
        throw new UsageError(`--${key} does not apply to ${command}`);
    }
  }
  return { command, args, values, help: line.help };
}

/** The command's argument, checked against its {@link Command.argument} (`--file` replaces it). */
function argumentOf(command: Command, args: readonly string[], values: Values): string {
  if (command.argument === undefined || values.file !== undefined) {
    if (args.length > 0) throw new UsageError(`unexpected argument ${args[0]}`);
    return '';
  }
  if (args.length !== 1 || args[0] === undefined)
    throw new UsageError(`expects exactly one ${command.argument}`);
  return args[0];
}

function render(result: CommandResult): string {
  const lines = [`dev-ca ${result.command}: ${result.summary}`];
  const width = Math.max(0, ...result.files.map((f) => f.path.length));
  for (const file of result.files) {
    const details = [
      file.role,
      file.subject,
      file.serial === undefined ? undefined : `serial ${file.serial}`,
      file.notAfter === undefined ? undefined : `until ${file.notAfter.toISOString()}`,
    ].filter((part) => part !== undefined);
    const path = `${result.dir}/${file.path}`.padEnd(width + result.dir.length + 1);
    lines.push(`  ${path}  ${details.join('; ')}`);
  }
  for (const warning of result.warnings) lines.push(`  note: ${warning}`);
  if (result.next.length > 0) lines.push('Next:', ...result.next.map((n) => `  ${n}`));
  return `${lines.join('\n')}\n`;
}

function toJson(result: CommandResult): unknown {
  const files = result.files.map((f) => ({ ...f, notAfter: f.notAfter?.toISOString() }));
  return { ...result, files };
}

/** Serve's own issuer rule (src/config/issuer.ts), after dropping one trailing "/". */
function parseIssuer(value: string): string {
  const issuer = value.replace(/\/$/, '');
  const problem = issuerProblem(issuer);
  if (problem !== undefined) throw new UsageError(`--issuer: ${problem}`);
  return issuer;
}
