/**
 * The dev-ca command line: `npm run dev-ca -- <command>` and `tollgate dev-ca <command>` both
 * call {@link runDevCaCli}. Parsing and printing live here; the work is in the library.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { describeParseArgsError } from '../cli/args.js';
import { encodePem, PkiError } from '../pki/index.js';
import {
  assertionCommand,
  type CommandOptions,
  clientCommand,
  crlCommand,
  negativeCommand,
  readClientSpecs,
  revokeCommand,
  serverCommand,
  spiffeBundleCommand,
} from './commands.js';
import { isRevocationReason, type RevocationReason, revocationReasons } from './crl.js';
import { runDoctor } from './doctor.js';
import { dpopKeyAlgs, dpopKeyCommand, isDpopKeyAlg } from './dpop-key.js';
import { type CommandResult, ensureDevPkiReport, initDevPki } from './ensure.js';
import { isSigningJwkAlg, signingJwkAlgs } from './jwk.js';
import { type DevKeyType, devKeyTypes, isDevKeyType } from './keys.js';
import { isMtlsBinding, mtlsBindings } from './registry.js';
import { ConflictError } from './store.js';
import type { ClientSpec } from './workspace.js';

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

const options = {
  dir: { type: 'string' },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  now: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'key-type': { type: 'string' },
  permit: { type: 'string', multiple: true },
  san: { type: 'string', multiple: true },
  'keep-root-key': { type: 'boolean' },
  p12: { type: 'boolean' },
  'p12-legacy': { type: 'boolean' },
  issuer: { type: 'string' },
  subject: { type: 'string' },
  'san-dns': { type: 'string', multiple: true },
  'san-uri': { type: 'string', multiple: true },
  'san-ip': { type: 'string', multiple: true },
  'san-email': { type: 'string', multiple: true },
  bind: { type: 'string' },
  file: { type: 'string' },
  scope: { type: 'string' },
  alg: { type: 'string' },
  reason: { type: 'string' },
  days: { type: 'string' },
  lifetime: { type: 'string' },
  csr: { type: 'string' },
  'client-id': { type: 'string' },
  'spiffe-id': { type: 'string' },
  eku: { type: 'string' },
} as const;

/** Which flags each command accepts beyond the global ones. */
const commandFlags: Readonly<Record<string, readonly string[]>> = {
  init: ['key-type', 'permit', 'san', 'keep-root-key', 'p12', 'issuer'],
  ensure: ['key-type', 'permit', 'san', 'keep-root-key', 'p12', 'issuer'],
  server: ['key-type', 'san'],
  client: [
    'key-type',
    'subject',
    'san-dns',
    'san-uri',
    'san-ip',
    'san-email',
    'bind',
    'file',
    'p12',
    'p12-legacy',
    'scope',
    'days',
    'spiffe-id',
  ],
  sign: [
    'csr',
    'client-id',
    'subject',
    'san-dns',
    'san-uri',
    'san-ip',
    'san-email',
    'spiffe-id',
    'bind',
    'eku',
    'scope',
    'days',
  ],
  'spiffe-bundle': [],
  'self-signed': ['key-type', 'subject', 'scope', 'days'],
  jwk: ['alg', 'scope'],
  'dpop-key': ['alg'],
  revoke: ['reason'],
  crl: ['days'],
  negative: [],
  assertion: ['issuer', 'lifetime'],
  doctor: [],
};
const globalFlags = ['dir', 'json', 'force', 'now', 'help'];

class UsageError extends Error {}

/** Runs one dev-ca command; resolves to the process exit code. */
export async function runDevCaCli(argv: string[], io: DevCaIo = process): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr.write(`dev-ca: ${describeParseArgsError(error)}\nSee: dev-ca --help\n`);
    return exit.usage;
  }
  const { command, positionals, values } = parsed;
  if (values.help === true || command === undefined || command === 'help') {
    io.stdout.write(usage);
    return command === undefined && values.help !== true ? exit.usage : exit.ok;
  }
  const json = values.json === true;
  try {
    const displayDir = values.dir ?? 'certs';
    const now = parseNow(values.now);
    const ctx: CommandOptions = {
      dir: displayDir,
      displayDir,
      now,
      force: values.force === true,
      ...(values.issuer === undefined ? {} : { issuer: parseIssuer(values.issuer) }),
    };
    if (command === 'doctor') return await doctor(ctx, json, io);
    const result = await dispatch(command, positionals, values, ctx);
    if (command === 'assertion') {
      const data = result.data as { assertion: string };
      io.stdout.write(json ? `${JSON.stringify(result.data)}\n` : `${data.assertion}\n`);
      return exit.ok;
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

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    options,
    allowPositionals: true,
    strict: true,
  });
  const [command, ...rest] = positionals;
  if (command !== undefined && command !== 'help') {
    const allowed = commandFlags[command];
    if (allowed === undefined) throw new Error(`unknown command ${command}`);
    for (const key of Object.keys(values)) {
      if (!globalFlags.includes(key) && !allowed.includes(key))
        throw new Error(`--${key} does not apply to ${command}`);
    }
  }
  return { command, positionals: rest, values };
}

async function dispatch(
  command: string,
  positionals: string[],
  values: Values,
  ctx: CommandOptions,
): Promise<CommandResult> {
  const keyType = parseKeyType(values['key-type']);
  const common = {
    now: ctx.now,
    displayDir: ctx.displayDir,
    ...(keyType === undefined ? {} : { keyType }),
    ...(values.permit === undefined ? {} : { permit: values.permit }),
    ...(values.san === undefined ? {} : { serverSans: values.san }),
    ...(values['keep-root-key'] === true ? { keepRootKey: true } : {}),
    ...(values.p12 === true ? { p12: true } : {}),
    ...(ctx.issuer === undefined ? {} : { issuer: ctx.issuer }),
  };
  const one = (what: string): string => {
    if (positionals.length !== 1 || positionals[0] === undefined)
      throw new UsageError(`expects exactly one ${what}`);
    return positionals[0];
  };
  const none = (): void => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  };
  switch (command) {
    case 'init':
      none();
      return initDevPki(ctx.dir, { ...common, force: ctx.force });
    case 'ensure':
      none();
      return ensureDevPkiReport(ctx.dir, common);
    case 'server':
      none();
      return serverCommand(ctx, {
        sans: values.san ?? [],
        ...(keyType === undefined ? {} : { keyType }),
      });
    case 'client': {
      if (values.file !== undefined) {
        none();
        if (values['p12-legacy'] === true)
          throw new UsageError('with --file, set "p12": "legacy" per client in the file');
        return clientCommand(ctx, await readClientSpecs(values.file, process.cwd()));
      }
      return clientCommand(ctx, [
        {
          ...certificateOptions(values),
          clientId: one('client_id (or --file)'),
          // --p12-legacy replaces the modern bundle (one client.p12 either way).
          ...(values['p12-legacy'] === true
            ? { p12: 'legacy' as const }
            : values.p12 === true
              ? { p12: true }
              : {}),
          ...(keyType === undefined ? {} : { keyType }),
        },
      ]);
    }
    case 'sign': {
      none();
      if (values.csr === undefined || values['client-id'] === undefined)
        throw new UsageError('needs --csr FILE and --client-id ID');
      const csr = await readFile(values.csr).catch(() => {
        throw new TypeError(`cannot read ${values.csr}`);
      });
      const spec: ClientSpec = {
        ...certificateOptions(values),
        clientId: values['client-id'],
        // DER is armoured here so the request is stored (request.csr) in one form.
        csrPem: csr.includes('-----BEGIN')
          ? csr.toString('latin1')
          : encodePem('CERTIFICATE REQUEST', csr),
        ...(values.eku === undefined ? {} : { eku: values.eku.split(',') }),
      };
      return clientCommand(ctx, [spec], 'sign');
    }
    case 'spiffe-bundle':
      none();
      return spiffeBundleCommand(ctx);
    case 'self-signed':
      return clientCommand(ctx, [
        {
          clientId: one('client_id'),
          method: 'self_signed_tls_client_auth',
          ...(values.subject === undefined ? {} : { subject: values.subject }),
          ...(keyType === undefined ? {} : { keyType }),
          ...(values.scope === undefined ? {} : { scope: values.scope }),
          ...(values.days === undefined
            ? {}
            : { validityDays: parsePositive(values.days, '--days') }),
        },
      ]);
    case 'jwk': {
      const alg = values.alg ?? 'ES256';
      if (!isSigningJwkAlg(alg))
        throw new UsageError(`--alg is one of ${signingJwkAlgs.join(', ')}`);
      return clientCommand(ctx, [
        {
          clientId: one('client_id'),
          method: 'private_key_jwt',
          alg,
          ...(values.scope === undefined ? {} : { scope: values.scope }),
        },
      ]);
    }
    case 'dpop-key': {
      const alg = values.alg ?? 'ES256';
      if (!isDpopKeyAlg(alg)) throw new UsageError(`--alg is one of ${dpopKeyAlgs.join(', ')}`);
      return dpopKeyCommand(ctx, one('client_id'), alg);
    }
    case 'revoke': {
      const reason = values.reason ?? 'unspecified';
      if (!isRevocationReason(reason)) {
        throw new UsageError(`--reason is one of ${Object.keys(revocationReasons).join(', ')}`);
      }
      return revokeCommand(ctx, {
        target: one('target (client_id, server, serial or .pem)'),
        reason: reason as RevocationReason,
      });
    }
    case 'crl':
      none();
      return crlCommand(
        ctx,
        values.days === undefined ? {} : { days: parsePositive(values.days, '--days') },
      );
    case 'negative':
      none();
      return negativeCommand(ctx);
    case 'assertion':
      return assertionCommand(ctx, {
        clientId: one('client_id'),
        ...(values.lifetime === undefined
          ? {}
          : { lifetimeSeconds: Math.floor(parsePositive(values.lifetime, '--lifetime')) }),
      });
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

/** The tls_client_auth options `client` and `sign` share: names, binding, scope, validity. */
function certificateOptions(values: Values): Omit<ClientSpec, 'clientId'> {
  // The registry field names (tls_client_auth_san_dns) are accepted as well as the short ones.
  const bind = values.bind?.replace(/^tls_client_auth_/, '');
  if (bind !== undefined && !isMtlsBinding(bind))
    throw new UsageError(
      `--bind is one of ${mtlsBindings.map((b) => `${b} (tls_client_auth_${b})`).join(', ')}`,
    );
  return {
    method: 'tls_client_auth',
    ...(values.subject === undefined ? {} : { subject: values.subject }),
    ...(values['san-dns'] === undefined ? {} : { sanDns: values['san-dns'] }),
    ...(values['san-uri'] === undefined ? {} : { sanUri: values['san-uri'] }),
    ...(values['san-ip'] === undefined ? {} : { sanIp: values['san-ip'] }),
    ...(values['san-email'] === undefined ? {} : { sanEmail: values['san-email'] }),
    ...(values['spiffe-id'] === undefined ? {} : { spiffeId: values['spiffe-id'] }),
    ...(bind === undefined ? {} : { bind }),
    ...(values.scope === undefined ? {} : { scope: values.scope }),
    ...(values.days === undefined ? {} : { validityDays: parsePositive(values.days, '--days') }),
  };
}

async function doctor(ctx: CommandOptions, json: boolean, io: DevCaIo): Promise<number> {
  const checks = await runDoctor(ctx.dir, ctx.now());
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  if (json) {
    io.stdout.write(
      `${JSON.stringify({ command: 'doctor', dir: ctx.dir, ok: failed === 0, checks }, null, 2)}\n`,
    );
  } else {
    const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
    for (const check of checks)
      io.stdout.write(`${mark[check.status]}  ${check.subject}: ${check.message}\n`);
    io.stdout.write(
      failed === 0
        ? `\ndev-ca doctor: ${ctx.dir} is healthy (${checks.length} checks, ${warned} warnings).\nNext: npm start\n`
        : `\ndev-ca doctor: ${failed} problem(s) in ${ctx.dir}.\nNext: npm run dev-ca -- ensure${ctx.displayDir === 'certs' ? '' : ` --dir ${ctx.displayDir}`} (or fix the files named above)\n`,
    );
  }
  return failed === 0 ? exit.ok : exit.failed;
}

function render(result: CommandResult): string {
  const lines = [`dev-ca ${result.command}: ${result.summary}`];
  const width = Math.max(0, ...result.files.map((f) => f.path.length));
  for (const file of result.files) {
    const details = [
      file.role,
      file.subject === undefined ? undefined : file.subject,
      file.serial === undefined ? undefined : `serial ${file.serial}`,
      file.notAfter === undefined ? undefined : `until ${file.notAfter.toISOString()}`,
    ].filter((part) => part !== undefined);
    lines.push(
      `  ${`${result.dir}/${file.path}`.padEnd(width + result.dir.length + 1)}  ${details.join('; ')}`,
    );
  }
  for (const warning of result.warnings) lines.push(`  note: ${warning}`);
  if (result.next.length > 0) lines.push('Next:', ...result.next.map((n) => `  ${n}`));
  return `${lines.join('\n')}\n`;
}

function toJson(result: CommandResult): unknown {
  return {
    command: result.command,
    dir: result.dir,
    summary: result.summary,
    files: result.files.map((f) => ({
      ...f,
      ...(f.notAfter === undefined ? {} : { notAfter: f.notAfter.toISOString() }),
    })),
    written: result.written,
    next: result.next,
    warnings: result.warnings,
  };
}

function parseNow(value: string | undefined): () => Date {
  if (value === undefined) return () => new Date();
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UsageError(`--now must be an ISO 8601 date-time, got ${value}`);
  return () => new Date(date.getTime());
}

function parseIssuer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--issuer must be an https URL, got ${value}`);
  }
  if (url.protocol !== 'https:' || url.search !== '' || url.hash !== '') {
    throw new UsageError('--issuer must be an https URL without query or fragment (RFC 8414 §2)');
  }
  return value.replace(/\/$/, '');
}

function parseKeyType(value: string | undefined): DevKeyType | undefined {
  if (value === undefined) return undefined;
  if (!isDevKeyType(value)) throw new UsageError(`--key-type is one of ${devKeyTypes.join(', ')}`);
  return value;
}

function parsePositive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number`);
  return n;
}
