/**
 * `tollgate token`: get an access token with private_key_jwt, print the response, optionally
 * decode the token.
 *
 * Exit codes: 0 token issued; 1 the server refused (the OAuth error is printed); 2 usage error;
 * 3 the server could not be reached (network or TLS).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { createClientAssertion, jwtBearerAssertionType } from '../client/assertion.js';
import { postTokenRequest, type TokenResult } from '../client/token-request.js';
import { exitCodes, type Io } from './io.js';

const usage = `Usage: tollgate token --client-id ID --key PRIVATE_JWK_FILE (--issuer URL | --token-endpoint URL)
                      [--scope "a b"] [--resource URI]... [--ca CA.pem] [--decode] [--json]

Gets an access token with the client credentials grant, authenticating with private_key_jwt
(aud = the issuer, typ client-authentication+jwt, fresh jti, 60 s lifetime).

  --issuer URL           the issuer; the token endpoint is <issuer>/token
  --token-endpoint URL   the token endpoint, when it is not <issuer>/token (also needs --issuer for aud)
  --ca FILE              trust this CA (PEM) for the server certificate
  --decode               print the token's header and claims
  --json                 print one JSON object instead of text

Exit codes: 0 issued, 1 refused by the server, 2 usage error, 3 server unreachable.
`;

export async function tokenCommand(argv: string[], io: Io): Promise<number> {
  let values: {
    'client-id'?: string | undefined;
    key?: string | undefined;
    issuer?: string | undefined;
    'token-endpoint'?: string | undefined;
    scope?: string | undefined;
    resource?: string[] | undefined;
    ca?: string | undefined;
    decode?: boolean | undefined;
    json?: boolean | undefined;
    help?: boolean | undefined;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'client-id': { type: 'string' },
        key: { type: 'string' },
        issuer: { type: 'string' },
        'token-endpoint': { type: 'string' },
        scope: { type: 'string' },
        resource: { type: 'string', multiple: true },
        ca: { type: 'string' },
        decode: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    io.stderr.write(`tollgate token: ${(error as Error).message}\n\n${usage}`);
    return exitCodes.usage;
  }
  if (values.help === true) {
    io.stdout.write(usage);
    return exitCodes.ok;
  }
  const clientId = values['client-id'];
  const issuer = values.issuer;
  if (clientId === undefined || values.key === undefined || issuer === undefined) {
    io.stderr.write(`tollgate token: --client-id, --key and --issuer are required\n\n${usage}`);
    return exitCodes.usage;
  }
  let key: JWK;
  let ca: Buffer | undefined;
  try {
    key = JSON.parse(readFileSync(values.key, 'utf8')) as JWK;
    ca = values.ca === undefined ? undefined : readFileSync(values.ca);
  } catch (error) {
    io.stderr.write(`tollgate token: ${(error as Error).message}\n`);
    return exitCodes.usage;
  }
  if (typeof key.d !== 'string') {
    io.stderr.write('tollgate token: --key must be a private JWK (with "d")\n');
    return exitCodes.usage;
  }

  let result: TokenResult;
  try {
    const assertion = await createClientAssertion({ clientId, audience: issuer, key });
    result = await postTokenRequest({
      tokenEndpoint: values['token-endpoint'] ?? `${issuer}/token`,
      params: {
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: assertion,
        scope: values.scope,
        resource: values.resource,
      },
      ...(ca === undefined ? {} : { ca }),
    });
  } catch (error) {
    io.stderr.write(`tollgate token: cannot reach the server: ${(error as Error).message}\n`);
    return exitCodes.unreachable;
  }
  return printResult(result, values.decode === true, values.json === true, io);
}

export function printResult(result: TokenResult, decode: boolean, json: boolean, io: Io): number {
  if (!result.ok) {
    if (json)
      io.stdout.write(`${JSON.stringify({ status: result.status, response: result.body })}\n`);
    else
      io.stderr.write(
        `error: ${result.error} (HTTP ${result.status})${result.errorDescription ? `: ${result.errorDescription}` : ''}\n`,
      );
    return exitCodes.failed;
  }
  const decoded = decode
    ? { header: decodeProtectedHeader(result.accessToken), claims: decodeJwt(result.accessToken) }
    : undefined;
  if (json) {
    io.stdout.write(
      `${JSON.stringify({ status: result.status, response: result.body, ...(decoded ?? {}) })}\n`,
    );
  } else {
    io.stdout.write(`${JSON.stringify(result.body, null, 2)}\n`);
    if (decoded !== undefined) {
      io.stdout.write(
        `header: ${JSON.stringify(decoded.header, null, 2)}\nclaims: ${JSON.stringify(decoded.claims, null, 2)}\n`,
      );
    }
  }
  return exitCodes.ok;
}
