/**
 * `tollgate keys`: the server signing-key file (private JWKS, mode 0600) and its rotation:
 * generate | add | activate | retire | remove | list. Running servers pick changes up on their
 * next reload (file poll or SIGHUP).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AccessTokenAlg, accessTokenAlgs, defaults, devDefaults } from '../config/index.js';
import {
  activateKey,
  addKey,
  generateSigningJwk,
  jwksMaxAgeSeconds,
  KeyRotationError,
  keyStatus,
  longestTokenLifetimeSeconds,
  pruneForcedKids,
  type RotatingKeyFile,
  removeKey,
  retireKey,
  writeSigningKeyFile,
} from '../tokens/index.js';
import { describeFileError, parseCommandLine, parseNowOption, UsageError } from './args.js';
import { exitCodes, exitCodesHelp, type Io, usageError } from './io.js';

const usage = `Usage: tollgate keys <action> [options]
       tollgate keys <action> --help

Actions:
  generate [--alg ALG] [--force]   write a new key file with one active key
  add [--alg ALG]                  add a key: published at the next reload, not signing yet
  activate KID [--force]           make KID the signing key (refused until ${jwksMaxAgeSeconds} s after add)
  retire KID                       stop KID from ever signing; it stays published so its tokens verify
  remove KID [--token-lifetime S]  stop publishing a retired key (refused until S seconds after retire)
  list                             show every key and its status

Options:
  --file FILE    the key file (default: ${devDefaults.signingKeys.file}, the one serve --dev uses)
  --alg ALG      ${accessTokenAlgs.join(', ')} (default ${defaults.accessToken.signingAlg})
  --now ISO      the current time (for scripted rotations and tests)
  --token-lifetime S
                 remove: the longest lifetime of a token the key may have signed, seconds
                 (default ${longestTokenLifetimeSeconds}, the most any configuration allows; set it to your
                 longest accessToken.lifetimeSeconds / access_token_lifetime)

Rotation without downtime: add, wait ${jwksMaxAgeSeconds} s (verifiers' JWKS caches), activate,
retire the old key, wait the access-token lifetime (remove refuses earlier), remove it.

A KID is the key's RFC 7638 thumbprint (base64url); one that begins with "-" can be given as it
is (tollgate keys retire -AbC...) or after "--" (tollgate keys retire -- -AbC...).

${exitCodesHelp}`;

/** One line of help per action, shown by \`tollgate keys <action> --help\`. */
const actionHelp: Readonly<Record<string, string>> = {
  generate:
    'tollgate keys generate [--alg ALG] [--file FILE] [--force]\n  Writes a new key file (mode 0600) with one active key. Refuses to replace an existing file without --force.',
  add: 'tollgate keys add [--alg ALG] [--file FILE] [--now ISO]\n  Adds a key: published at the next reload, not signing yet.',
  activate: `tollgate keys activate KID [--file FILE] [--force] [--now ISO]\n  Makes KID the signing key; refused until ${jwksMaxAgeSeconds} s after it was added (verifiers' JWKS caches), unless --force.`,
  retire:
    'tollgate keys retire KID [--file FILE] [--now ISO]\n  Stops KID from ever signing; it stays published so the tokens it signed still verify.',
  remove: `tollgate keys remove KID [--file FILE] [--token-lifetime S] [--force] [--now ISO]\n  Stops publishing a retired key; refused until S seconds (default ${longestTokenLifetimeSeconds}) after it was retired, while tokens it signed may be valid, unless --force (recorded in the file's forced_kids, which running servers honour; later steps drop the entry ${longestTokenLifetimeSeconds} s after).`,
  list: 'tollgate keys list [--file FILE]\n  Shows every key, its algorithm, status and when it was added.',
};

export async function keysCommand(argv: string[], io: Io): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    (action === undefined ? io.stderr : io.stdout).write(usage);
    return action === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const help = actionHelp[action];
  if (help === undefined) {
    return usageError(
      io,
      'keys',
      new UsageError(
        `unknown action ${JSON.stringify(action)} (actions: ${Object.keys(actionHelp).join(', ')})`,
      ),
    );
  }
  let values: {
    alg?: string;
    file?: string;
    force?: boolean;
    now?: string;
    'token-lifetime'?: string;
  };
  let kid: string | undefined;
  let now = new Date();
  try {
    const line = parse(rest, ['activate', 'retire', 'remove'].includes(action));
    if (line.help) {
      io.stdout.write(`Usage: ${help}\n\n${usage.slice(usage.indexOf('Options:'))}`);
      return exitCodes.ok;
    }
    values = line.values as typeof values;
    kid = line.positionals[0];
    now = parseNowOption(values.now) ?? now;
    const lifetime = values['token-lifetime'];
    if (lifetime !== undefined && !/^[1-9][0-9]{0,5}$/.test(lifetime))
      throw new UsageError(`--token-lifetime must be a whole number of seconds, got ${lifetime}`);
    const algValue = values.alg ?? defaults.accessToken.signingAlg;
    if (!(accessTokenAlgs as readonly string[]).includes(algValue))
      throw new UsageError(`--alg must be one of ${accessTokenAlgs.join(', ')}`);
  } catch (error) {
    return usageError(io, `keys ${action}`, error);
  }
  const file = resolve(values.file ?? devDefaults.signingKeys.file);
  const alg = (values.alg ?? defaults.accessToken.signingAlg) as AccessTokenAlg;
  // Every rotation step also forgets the forced removals no server needs any more.
  const save = (next: RotatingKeyFile) => writeSigningKeyFile(file, pruneForcedKids(next, now));
  const needKid = () => {
    if (kid === undefined)
      throw new KeyRotationError(`${action} needs a KID (see: tollgate keys list --file ${file})`);
    return kid;
  };

  try {
    switch (action) {
      case 'generate': {
        if (existsSync(file) && values.force !== true) {
          io.stderr.write(
            `tollgate keys: ${file} exists; use --force to replace it (its tokens stop verifying)\n`,
          );
          return exitCodes.failed;
        }
        const jwk = await generateSigningJwk(alg);
        const kidOf = jwk.kid as string;
        writeSigningKeyFile(file, {
          active_kid: kidOf,
          keys: [jwk],
          added_at: { [kidOf]: now.toISOString() },
        } as RotatingKeyFile);
        io.stdout.write(`wrote ${file} (mode 0600): ${alg} key ${kidOf}, active\n`);
        return exitCodes.ok;
      }
      case 'add': {
        const { file: next, kid: added } = await addKey(read(file), alg, now);
        save(next);
        io.stdout.write(
          `added ${alg} key ${added} to ${file}: published at the next reload, not signing.\n` +
            `next: after ${jwksMaxAgeSeconds} s, tollgate keys activate ${added}\n`,
        );
        return exitCodes.ok;
      }
      case 'activate': {
        const current = read(file);
        const previous = current.active_kid;
        save(activateKey(current, needKid(), now, values.force === true));
        io.stdout.write(
          `${kid} is the active signing key.\nnext: tollgate keys retire ${previous}\n`,
        );
        return exitCodes.ok;
      }
      case 'retire':
        save(retireKey(read(file), needKid(), now));
        io.stdout.write(
          `${kid} retired: still published until removed.\nnext: once its tokens have expired, tollgate keys remove ${kid}\n`,
        );
        return exitCodes.ok;
      case 'remove':
        save(
          removeKey(
            read(file),
            needKid(),
            now,
            Number(values['token-lifetime'] ?? longestTokenLifetimeSeconds),
            values.force === true,
          ),
        );
        io.stdout.write(
          values.force === true
            ? `${kid} removed: no longer published. Forced: recorded in forced_kids, so running servers drop it at their next reload even while its tokens are valid.\n`
            : `${kid} removed: no longer published.\n`,
        );
        return exitCodes.ok;
      case 'list': {
        const current = read(file);
        for (const key of current.keys) {
          const id = key.kid as string;
          io.stdout.write(
            `${id}  ${key.alg}  ${keyStatus(current, id)}  added ${current.added_at?.[id] ?? 'unknown'}\n`,
          );
        }
        return exitCodes.ok;
      }
      default:
        return exitCodes.usage;
    }
  } catch (error) {
    const fileProblem = describeFileError(error, 'key file');
    if (fileProblem !== undefined || error instanceof KeyRotationError) {
      io.stderr.write(`tollgate keys ${action}: ${fileProblem ?? (error as Error).message}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}

function parse(args: string[], takesKid: boolean) {
  return parseCommandLine(args, {
    options: {
      alg: { type: 'string' },
      file: { type: 'string' },
      force: { type: 'boolean' },
      now: { type: 'string' },
      'token-lifetime': { type: 'string' },
    },
    maxPositionals: takesKid ? 1 : 0,
    idPositionals: takesKid,
  });
}

function read(file: string): RotatingKeyFile {
  const text = readFileSync(file, 'utf8');
  let document: RotatingKeyFile;
  try {
    document = JSON.parse(text) as RotatingKeyFile;
  } catch {
    throw new KeyRotationError(`${file} is not JSON: is --file the signing key file?`);
  }
  if (typeof document?.active_kid !== 'string' || !Array.isArray(document.keys)) {
    throw new KeyRotationError(
      `${file} is not a signing key file (expected {"active_kid": ..., "keys": [...]}); create one with tollgate keys generate`,
    );
  }
  return document;
}
