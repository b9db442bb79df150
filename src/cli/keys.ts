/**
 * `tollgate keys`: the server signing-key file (private JWKS, mode 0600) and its rotation:
 * generate | add | activate | retire | remove | list. Running servers pick changes up on their
 * next reload (file poll or SIGHUP).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type AccessTokenAlg, accessTokenAlgs, defaults, devDefaults } from '../config/index.js';
import {
  activateKey,
  addKey,
  generateSigningJwk,
  jwksMaxAgeSeconds,
  KeyRotationError,
  keyStatus,
  type RotatingKeyFile,
  removeKey,
  retireKey,
  writeSigningKeyFile,
} from '../tokens/index.js';
import { exitCodes, type Io } from './io.js';

const usage = `Usage: tollgate keys <action> [options]

Actions:
  generate [--alg ALG] [--force]   write a new key file with one active key
  add [--alg ALG]                  add a key: published at the next reload, not signing yet
  activate KID [--force]           make KID the signing key (refused until ${jwksMaxAgeSeconds} s after add)
  retire KID                       stop KID from ever signing; it stays published so its tokens verify
  remove KID                       stop publishing a retired key (after its tokens have expired)
  list                             show every key and its status

Options:
  --file FILE    the key file (default: ${devDefaults.signingKeys.file}, the one serve --dev uses)
  --alg ALG      ${accessTokenAlgs.join(', ')} (default ${defaults.accessToken.signingAlg})
  --now ISO      the current time (for scripted rotations and tests)

Rotation without downtime: add, wait ${jwksMaxAgeSeconds} s (verifiers' JWKS caches), activate,
retire the old key, wait the access-token lifetime, remove it.
`;

export async function keysCommand(argv: string[], io: Io): Promise<number> {
  const [action, ...rest] = argv;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(rest);
  } catch (error) {
    io.stderr.write(`tollgate keys: ${(error as Error).message}\n\n${usage}`);
    return exitCodes.usage;
  }
  const { values, positionals } = parsed;
  const file = resolve(values.file ?? devDefaults.signingKeys.file);
  const now = values.now === undefined ? new Date() : new Date(values.now);
  if (Number.isNaN(now.getTime())) {
    io.stderr.write('tollgate keys: --now must be an ISO 8601 date\n');
    return exitCodes.usage;
  }
  const alg = (values.alg ?? defaults.accessToken.signingAlg) as AccessTokenAlg;
  if (!accessTokenAlgs.includes(alg)) {
    io.stderr.write(`tollgate keys: --alg must be one of ${accessTokenAlgs.join(', ')}\n`);
    return exitCodes.usage;
  }
  const kid = positionals[0];
  const needKid = () => {
    if (kid === undefined)
      throw new KeyRotationError(`${action} needs a KID (see: tollgate keys list)`);
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
        writeSigningKeyFile(file, next);
        io.stdout.write(
          `added ${alg} key ${added} to ${file}: published at the next reload, not signing.\n` +
            `next: after ${jwksMaxAgeSeconds} s, tollgate keys activate ${added}\n`,
        );
        return exitCodes.ok;
      }
      case 'activate': {
        const current = read(file);
        const previous = current.active_kid;
        writeSigningKeyFile(file, activateKey(current, needKid(), now, values.force === true));
        io.stdout.write(
          `${kid} is the active signing key.\nnext: tollgate keys retire ${previous}\n`,
        );
        return exitCodes.ok;
      }
      case 'retire':
        writeSigningKeyFile(file, retireKey(read(file), needKid()));
        io.stdout.write(
          `${kid} retired: still published until removed.\nnext: once its tokens have expired, tollgate keys remove ${kid}\n`,
        );
        return exitCodes.ok;
      case 'remove':
        writeSigningKeyFile(file, removeKey(read(file), needKid()));
        io.stdout.write(`${kid} removed: no longer published.\n`);
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
        io.stderr.write(usage);
        return action === '--help' || action === '-h' || action === 'help'
          ? exitCodes.ok
          : exitCodes.usage;
    }
  } catch (error) {
    if (error instanceof KeyRotationError || (error as NodeJS.ErrnoException).code !== undefined) {
      io.stderr.write(`tollgate keys: ${(error as Error).message}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}

function parse(args: string[]) {
  return parseArgs({
    args,
    options: {
      alg: { type: 'string' },
      file: { type: 'string' },
      force: { type: 'boolean' },
      now: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
}

function read(file: string): RotatingKeyFile {
  const document = JSON.parse(readFileSync(file, 'utf8')) as RotatingKeyFile;
  if (typeof document.active_kid !== 'string' || !Array.isArray(document.keys)) {
    throw new KeyRotationError(`${file} is not a signing key file`);
  }
  return document;
}
