/**
 * The `tollgate` command line as a user meets it: help everywhere (exit 0), --version, a top-level
 * help that lists every command and action, errors that name the option and the fix, the exit
 * codes, and key ids that begin with "-" (one thumbprint in 32 does; this is what made
 * test/http/reload.test.ts fail now and then).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';

/** Any readable file: the usage checks come before the contents are judged. */
const readableFile = fileURLToPath(new URL('../../package.json', import.meta.url));

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, {
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
  });
  return { code, out, err };
}

/** The lines of a help text's section, e.g. "Commands:", up to the next blank line. */
function section(text: string, title: string): string {
  const start = text.indexOf(`${title}\n`);
  expect(start, `${title} in\n${text}`).toBeGreaterThanOrEqual(0);
  const rest = text.slice(start + title.length + 1);
  const end = rest.search(/\n\s*\n/);
  return end === -1 ? rest : rest.slice(0, end);
}

const keysActions = ['generate', 'add', 'activate', 'retire', 'remove', 'list'];

describe('tollgate CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tollgate-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-v', 'version']) {
      const { code, out } = await run(flag);
      expect(code).toBe(0);
      expect(out).toBe(`tollgate ${pkg.version}\n`);
    }
  });

  it('the top-level help lists every command and every action of keys and dev-ca', async () => {
    const { code, out } = await run('--help');
    expect(code).toBe(0);
    const commands = section(out, 'Commands:');
    for (const command of ['serve', 'check-config', 'token', 'keys', 'dev-ca', 'thumbprint'])
      expect(commands).toMatch(new RegExp(`^  ${command} `, 'm'));
    for (const action of keysActions) expect(commands).toContain(action);
    // dev-ca's own help is the list of its commands: each must be named at the top level.
    const devCa = await run('dev-ca', '--help');
    const devCaCommands = [...section(devCa.out, 'Commands:').matchAll(/^ {2}([a-z-]+)\b/gm)].map(
      (m) => m[1] as string,
    );
    expect(devCaCommands.length).toBeGreaterThan(8);
    for (const command of devCaCommands) expect(commands).toMatch(new RegExp(`\\b${command}\\b`));
    expect(out).toMatch(
      /Exit codes:\n {2}0 {2}success\n {2}1 {2}refused[^\n]*\n {2}2 {2}usage[^\n]*\n {2}3 {2}unreachable/,
    );
  });

  it('--help and -h answer on every command and subcommand with exit 0', async () => {
    const devCa = await run('dev-ca', '--help');
    const devCaCommands = [...section(devCa.out, 'Commands:').matchAll(/^ {2}([a-z-]+)\b/gm)].map(
      (m) => m[1] as string,
    );
    const lines: string[][] = [
      ['help'],
      ['-h'],
      ...['serve', 'check-config', 'token', 'keys', 'dev-ca', 'thumbprint'].flatMap((c) => [
        [c, '--help'],
        [c, '-h'],
        ['help', c],
      ]),
      ...keysActions.flatMap((a) => [
        ['keys', a, '--help'],
        ['keys', a, '-h'],
      ]),
      ...devCaCommands.map((c) => ['dev-ca', c, '--help']),
      // help wins over an otherwise incomplete command line
      ['token', '--client-id', 'x', '--help'],
      ['serve', '--config', 'nowhere.json', '-h'],
    ];
    for (const argv of lines) {
      const { code, out, err } = await run(...argv);
      expect(code, `${argv.join(' ')}: ${err}`).toBe(0);
      expect(out, argv.join(' ')).toMatch(/Usage:/);
      expect(err, argv.join(' ')).toBe('');
    }
    expect((await run('keys', 'retire', '--help')).out).toMatch(/^Usage: tollgate keys retire KID/);
  });

  it('usage errors exit 2 and name the option and the fix, never parseArgs text', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /a command is required/],
      [['frobnicate'], /unknown command "frobnicate" \(commands: serve, token/],
      [['--config', 'x.json'], /unknown command "--config" \(options go after the command\)/],
      [['serve', '--confg', 'x.json'], /unknown option --confg \(did you mean --config\?\)/],
      [['check-config', '--config'], /--config needs a value/],
      [['serve', 'extra'], /unexpected argument "extra"/],
      [['keys', 'list', '--force=yes'], /--force takes no value/],
      [['keys', 'rotate'], /unknown action "rotate" \(actions: generate, add, activate/],
      [['keys', 'list', '--froce'], /unknown option --froce \(did you mean --force\?\)/],
      [['keys', 'generate', '--alg', 'HS256'], /--alg must be one of ES256/],
      [['keys', 'add', '--now', 'yesterday'], /--now must be an ISO 8601 date-time/],
      [
        ['keys', 'retire', '--fiel', 'k.json'],
        /unknown option --fiel \(did you mean --file\?.*goes after "--"/,
      ],
      [['token', '--client-id', 'a', '--client-id', 'b'], /--client-id may be given once/],
      [['token', '--bogus'], /unknown option --bogus/],
      [
        // curl's names for mutual TLS (both files exist: the names are judged first)
        ['token', '--client-id', 'x', '--issuer', 'https://localhost:1'].concat([
          '--cert',
          readableFile,
          '--key',
          readableFile,
        ]),
        /--cert needs --cert-key FILE, the certificate's private key \(PEM\); --key is the private_key_jwt signing key \(a JWK\)/,
      ],
      [['thumbprint', 'a.pem', 'b.pem'], /unexpected argument "b.pem"/],
      [['dev-ca', 'client', 'x', '--bogus'], /unknown option --bogus/],
      [['dev-ca', 'init', '--dir'], /--dir needs a value/],
    ];
    for (const [argv, message] of cases) {
      const { code, err } = await run(...argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(err, argv.join(' ')).toMatch(message);
      expect(err, argv.join(' ')).not.toMatch(
        /ERR_PARSE_ARGS|Unknown option '|To specify a positional|argument is ambiguous/,
      );
    }
  });

  it('file errors name the option or setting and the file, never a bare errno code', async () => {
    const missing = join(dir, 'missing.pem');
    const pemKey = join(dir, 'pem-key.pem');
    await writeFile(
      pemKey,
      '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n',
    );
    const cases: Array<[string[], number, RegExp]> = [
      [['thumbprint', missing], 2, /certificate file .*missing\.pem: no such file/],
      [['keys', 'list', '--file', missing], 1, /key file .*missing\.pem: no such file/],
      [
        ['token', '--client-id', 'x', '--key', missing, '--issuer', 'https://localhost:1'],
        2,
        /--key .*missing\.pem: no such file/,
      ],
      [
        ['check-config', '--config', missing],
        1,
        /cannot read .*missing\.pem: no such file \(check --config or \$TOLLGATE_CONFIG\)/,
      ],
      [['serve', '--config', missing], 1, /cannot read .*missing\.pem: no such file/],
      [['thumbprint', 'package.json'], 1, /package\.json holds no certificate/],
      [
        // A PEM key where the JWK goes (no discovery: the key is read before any request).
        ['token', '--client-id', 'x', '--issuer', 'https://localhost:1', '--key', pemKey].concat([
          '--token-endpoint',
          'https://localhost:1/token',
        ]),
        2,
        /pem-key\.pem is not JSON: --key wants the client's private JWK \(e\.g\. certs\/clients\/demo-jwt\/private\.jwk\.json\); a PEM private key goes with --cert, as --cert-key/,
      ],
    ];
    for (const [argv, exit, message] of cases) {
      const { code, err } = await run(...argv);
      expect(code, `${argv.join(' ')}: ${err}`).toBe(exit);
      expect(err, argv.join(' ')).toMatch(message);
      expect(err, argv.join(' ')).not.toMatch(/ENOENT|errno|error:[0-9A-F]{8}/);
    }
  });

  it('keys: a KID that begins with "-" is taken as the KID, bare or after "--"', async () => {
    // Real ES256 keys until two thumbprints begin with '-' (1 in 32 each; bounded at 2000).
    const dashed: Array<Awaited<ReturnType<typeof generateSigningJwk>>> = [];
    const first = await generateSigningJwk('ES256');
    for (let i = 0; i < 2000 && dashed.length < 2; i++) {
      const jwk = await generateSigningJwk('ES256');
      if ((jwk.kid as string).startsWith('-')) dashed.push(jwk);
    }
    expect(dashed).toHaveLength(2);
    const [a, b] = dashed as [(typeof dashed)[0], (typeof dashed)[0]];
    const file = join(dir, 'signing-keys.json');
    const long = '2020-01-01T00:00:00.000Z';
    writeSigningKeyFile(file, {
      active_kid: first.kid as string,
      keys: [first, a, b],
      added_at: { [first.kid as string]: long, [a.kid as string]: long, [b.kid as string]: long },
    } as Parameters<typeof writeSigningKeyFile>[1]);
    const kidA = a.kid as string;
    const kidB = b.kid as string;

    const activate = await run('keys', 'activate', kidA, '--file', file);
    expect(activate.code, activate.err).toBe(0);
    expect(activate.out).toContain(`${kidA} is the active signing key`);
    // the same with the KID after "--", options before it
    const retire = await run('keys', 'retire', '--file', file, '--', first.kid as string);
    expect(retire.code, retire.err).toBe(0);
    // options after the KID, KID given as --file's neighbour
    const activateB = await run('keys', 'activate', '--file', file, kidB);
    expect(activateB.code, activateB.err).toBe(0);
    const retireA = await run('keys', 'retire', '--file', file, '--', kidA);
    expect(retireA.code, retireA.err).toBe(0);
    // Removal waits until tokens the key signed have expired (default: the longest lifetime).
    const early = await run('keys', 'remove', kidA, '--file', file);
    expect(early.code).toBe(1);
    expect(early.err).toMatch(/tokens it signed may be valid for 86400 s .* \(or --force\)/);
    const removeA = await run(
      'keys',
      'remove',
      kidA,
      '--file',
      file,
      '--now',
      '2999-01-01T00:00:00Z',
    );
    expect(removeA.code, removeA.err).toBe(0);
    const list = await run('keys', 'list', '--file', file);
    expect(list.out).toContain(`${kidB}  ES256  active`);
    expect(list.out).not.toContain(kidA);
    // A value that begins with '-' is read as the option's value too.
    const listed = await run('keys', 'list', '--file', file, '--now', '-later');
    expect(listed.code).toBe(2); // no ISO date: reported as such, not as an unknown option
    expect(listed.err).toMatch(/--now must be an ISO 8601 date-time, got -later/);
  });
});
