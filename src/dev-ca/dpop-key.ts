/**
 * `dev-ca dpop-key ID`: a DPoP (RFC 9449) key pair for a client, written as a private JWK (0600)
 * under `clients/<ID>/dpop.jwk.json`, for `tollgate token --dpop-key` and the client SDK. A DPoP
 * key is not registered anywhere (the proof carries it); the registry only says whether the client
 * must use one (`dpop_bound_access_tokens`). It is never the client's assertion key: a token bound
 * to the key that also authenticates the client would bind nothing new.
 *
 * @see RFC 9449 §4.1, §5.2
 */
import { join } from 'node:path';
import { jwkThumbprint } from '../dpop/index.js';
import type { CommandResult } from './ensure.js';
import { generateSigningJwk, type SigningJwkAlg } from './jwk.js';
import { assertSafeClientId, clientsFolder, privateMode } from './layout.js';
import { commitFiles } from './store.js';
import type { CommandContext } from './workspace.js';

/** DPoP key algorithms the dev CA writes (what Tollgate's fapi2 profile also accepts). */
export const dpopKeyAlgs = ['ES256', 'EdDSA', 'PS256'] as const;
export type DpopKeyAlg = (typeof dpopKeyAlgs)[number];

export function isDpopKeyAlg(value: unknown): value is DpopKeyAlg {
  return typeof value === 'string' && (dpopKeyAlgs as readonly string[]).includes(value);
}

/** Where a client's DPoP key lives, relative to the PKI folder. */
export function dpopKeyPath(clientId: string): string {
  return join(clientsFolder, clientId, 'dpop.jwk.json');
}

/** Writes a new DPoP private JWK for `clientId`; refuses to overwrite one without `force`. */
export async function dpopKeyCommand(
  ctx: CommandContext,
  clientId: string,
  alg: DpopKeyAlg = 'ES256',
): Promise<CommandResult> {
  assertSafeClientId(clientId);
  const generated = await generateSigningJwk(alg as SigningJwkAlg);
  // No kid or use: the proof's jwk header carries the public members only.
  const { kid: _kid, use: _use, ...privateJwk } = generated.privateJwk;
  const jkt = jwkThumbprint(generated.publicJwk as Record<string, unknown>) as string;
  const path = dpopKeyPath(clientId);
  const written = await commitFiles(
    ctx.dir,
    [
      {
        path,
        content: `${JSON.stringify(privateJwk, null, 2)}\n`,
        mode: privateMode,
        kind: 'create',
      },
    ],
    { force: ctx.force },
  );
  return {
    command: 'dpop-key',
    dir: ctx.dir,
    summary: `DPoP key for ${clientId} (${alg}); tokens bound to it carry cnf.jkt ${jkt}`,
    files: [{ path, role: 'DPoP private JWK (0600)' }],
    written,
    next: [`tollgate token --client-id ${clientId} ... --dpop-key ${join(ctx.dir, path)} --decode`],
    warnings: [],
  };
}
