/** `tollgate keys generate`: write a new server signing key file (private JWKS, mode 0600). */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type AccessTokenAlg, accessTokenAlgs, defaults } from '../config/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../tokens/index.js';
import { exitCodes, type Io } from './io.js';

const usage = `Usage: tollgate keys generate [--alg ${accessTokenAlgs.join('|')}] [--file FILE] [--force]

Writes a private JWKS with one active key (kid = RFC 7638 thumbprint), mode 0600.
Default file: ${defaults.signingKeys.file}
`;

export async function keysCommand(argv: string[], io: Io): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'generate') {
    io.stderr.write(usage);
    return action === '--help' || action === '-h' ? exitCodes.ok : exitCodes.usage;
  }
  let values: { alg?: string | undefined; file?: string | undefined; force?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { alg: { type: 'string' }, file: { type: 'string' }, force: { type: 'boolean' } },
      strict: true,
    }));
  } catch (error) {
    io.stderr.write(`tollgate keys: ${(error as Error).message}\n${usage}`);
    return exitCodes.usage;
  }
  const alg = (values.alg ?? defaults.accessToken.signingAlg) as AccessTokenAlg;
  if (!accessTokenAlgs.includes(alg)) {
    io.stderr.write(`tollgate keys: --alg must be one of ${accessTokenAlgs.join(', ')}\n`);
    return exitCodes.usage;
  }
  const file = resolve(values.file ?? defaults.signingKeys.file);
  if (existsSync(file) && values.force !== true) {
    io.stderr.write(
      `tollgate keys: ${file} exists; use --force to replace it (the old keys stop verifying)\n`,
    );
    return exitCodes.failed;
  }
  const jwk = await generateSigningJwk(alg);
  writeSigningKeyFile(file, { active_kid: jwk.kid as string, keys: [jwk] });
  io.stdout.write(`wrote ${file} (mode 0600): ${alg} key ${jwk.kid}, active\n`);
  return exitCodes.ok;
}
