/**
 * `tollgate token`: get an access token with the client SDK (private_key_jwt, tls_client_auth,
 * self_signed_tls_client_auth, or a workload identity: spiffe_x509, spiffe_jwt, federated_jwt),
 * print the response, optionally decode the token.
 *
 * Exit codes: 0 token issued; 1 the server refused or answered something unusable (the OAuth
 * error is printed); 2 usage error, including unreadable or mismatched credential files; 3 the
 * server could not be reached (network or TLS).
 */
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import {
  type AccessToken,
  type ClientAuthentication,
  TokenClient,
  TokenClientError,
} from '../client/index.js';
import { describeFileError, parseCommandLine, UsageError } from './args.js';
import { exitCodes, type Io } from './io.js';

const usage = `Usage: tollgate token --client-id ID (--issuer URL | --token-endpoint URL [--issuer URL])
                      (--key PRIVATE_JWK_FILE [--cert FILE --cert-key FILE] | --cert FILE --cert-key FILE
                       | --spiffe-jwt FILE | --federated-token FILE)
                      [--method METHOD] [--scope "a b"] [--resource URI]... [--ca CA.pem]
                      [--dpop-key PRIVATE_JWK_FILE] [--decode] [--json]

Gets an access token with the client credentials grant (RFC 6749 §4.4).

  --client-id ID         the registered client_id
  --method METHOD        private_key_jwt (default with --key), tls_client_auth (default with
                         --cert alone), self_signed_tls_client_auth or spiffe_x509 (an
                         X.509-SVID as --cert/--cert-key)
  --spiffe-jwt FILE      a JWT-SVID (aud = the issuer) sent as a jwt-spiffe assertion
                         (spiffe_jwt); the file is read when the command runs
  --federated-token FILE a workload token, e.g. a projected Kubernetes service-account token
                         with audience = the issuer, sent as a jwt-bearer assertion
                         (federated_jwt)
  --key FILE             private JWK (with "d") for private_key_jwt: aud = the issuer,
                         typ client-authentication+jwt, fresh jti, 60 s lifetime
  --alg ALG              JWS algorithm, when the JWK has no "alg"
  --cert FILE            client certificate (PEM, intermediates may follow) for mutual TLS; with
                         --key it only binds the token (RFC 8705 §3)
  --cert-key FILE        the certificate's private key (PEM)
  --issuer URL           the issuer: its RFC 8414 metadata gives the token endpoint (and the mTLS
                         alias, used when a certificate is presented)
  --token-endpoint URL   skip discovery; private_key_jwt still needs --issuer (the assertion aud)
  --scope "a b"          requested scope (default: the client's registered scope)
  --resource URI         RFC 8707 resource indicator; repeat for several
  --ca FILE              trust this CA (PEM) for the server certificate
  --dpop-key FILE        ask for a DPoP-bound token (RFC 9449): proofs are signed with this
                         private JWK (see \`tollgate dev-ca dpop-key\`); the token's cnf.jkt is
                         that key's thumbprint, printed with --decode
  --decode               also print the token's header and claims (not verified)
  --json                 print one JSON object instead of text
  -h, --help             this help

Exit codes:
  0  token issued
  1  refused by the server (the OAuth error is printed), or an unusable answer
  2  usage error, or credential files that cannot be read or do not match
  3  server unreachable (connection, TLS handshake, timeout)
`;

interface TokenArgs {
  'client-id'?: string | undefined;
  method?: string | undefined;
  key?: string | undefined;
  'spiffe-jwt'?: string | undefined;
  'federated-token'?: string | undefined;
  alg?: string | undefined;
  cert?: string | undefined;
  'cert-key'?: string | undefined;
  issuer?: string | undefined;
  'token-endpoint'?: string | undefined;
  scope?: string | undefined;
  resource?: string[] | undefined;
  ca?: string | undefined;
  'dpop-key'?: string | undefined;
  decode?: boolean | undefined;
  json?: boolean | undefined;
  help?: boolean | undefined;
}

const methods = [
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
  'spiffe_x509',
  'spiffe_jwt',
  'federated_jwt',
] as const;

export async function tokenCommand(argv: string[], io: Io): Promise<number> {
  let values: TokenArgs;
  try {
    const line = parseCommandLine(argv, {
      options: {
        'client-id': { type: 'string' },
        method: { type: 'string' },
        key: { type: 'string' },
        'spiffe-jwt': { type: 'string' },
        'federated-token': { type: 'string' },
        alg: { type: 'string' },
        cert: { type: 'string' },
        'cert-key': { type: 'string' },
        issuer: { type: 'string' },
        'token-endpoint': { type: 'string' },
        scope: { type: 'string' },
        resource: { type: 'string', multiple: true },
        ca: { type: 'string' },
        'dpop-key': { type: 'string' },
        decode: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    });
    if (line.help) {
      io.stdout.write(usage);
      return exitCodes.ok;
    }
    values = line.values as TokenArgs;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usageError(io, error.message);
  }

  // Files first: a wrong path is the user's to fix, before any network round trip.
  for (const option of ['key', 'cert', 'cert-key', 'ca'] as const) {
    const file = values[option];
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      return usageError(io, describeFileError(error, `--${option}`) ?? (error as Error).message);
    }
  }

  let auth: ClientAuthentication;
  try {
    auth = authFrom(values);
  } catch (error) {
    return usageError(io, (error as Error).message);
  }
  let client: TokenClient;
  try {
    client = new TokenClient({
      ...(values.issuer === undefined ? {} : { issuer: values.issuer }),
      ...(values['token-endpoint'] === undefined
        ? {}
        : { tokenEndpoint: values['token-endpoint'] }),
      auth,
      ...(values.ca === undefined ? {} : { caFile: values.ca }),
      ...(values.scope === undefined ? {} : { scope: values.scope }),
      ...(values.resource === undefined ? {} : { resource: values.resource }),
      ...(values['dpop-key'] === undefined ? {} : { dpop: { key: values['dpop-key'] } }),
      // A person is waiting: a short retry budget, and no half-minute of silence.
      retry: { maxAttempts: 3, maxTotalMs: 10_000 },
    });
  } catch (error) {
    return usageError(io, (error as Error).message);
  }

  try {
    const token = await client.getToken();
    return printToken(token, values.decode === true, values.json === true, io);
  } catch (error) {
    if (error instanceof TokenClientError) return printError(error, values.json === true, io);
    // Unreadable files, a key that does not match its certificate, a JWK that cannot sign.
    io.stderr.write(`tollgate token: ${credentialProblem(error, values)}\n`);
    return exitCodes.usage;
  } finally {
    await client.close();
  }
}

/** The authentication the arguments describe; a TypeError says what is missing. */
function authFrom(values: TokenArgs): ClientAuthentication {
  const clientId = values['client-id'];
  if (clientId === undefined) throw new TypeError('--client-id is required');
  if (values.issuer === undefined && values['token-endpoint'] === undefined)
    throw new TypeError('--issuer or --token-endpoint is required');
  // curl's habit (--cert with --key) is the likely mistake: say which option is which.
  if (values.cert !== undefined && values['cert-key'] === undefined && values.key !== undefined)
    throw new TypeError(
      "--cert needs --cert-key FILE, the certificate's private key (PEM); --key is the private_key_jwt signing key (a JWK)",
    );
  if ((values.cert === undefined) !== (values['cert-key'] === undefined))
    throw new TypeError('--cert and --cert-key go together');
  const tokenFiles = [values['spiffe-jwt'], values['federated-token']].filter(
    (file) => file !== undefined,
  );
  if (tokenFiles.length > 1 || (tokenFiles.length === 1 && values.key !== undefined))
    throw new TypeError('give one of --key, --spiffe-jwt and --federated-token');
  const method =
    values.method ??
    (values['spiffe-jwt'] !== undefined
      ? 'spiffe_jwt'
      : values['federated-token'] !== undefined
        ? 'federated_jwt'
        : values.key !== undefined
          ? 'private_key_jwt'
          : values.cert !== undefined
            ? 'tls_client_auth'
            : undefined);
  if (method === undefined)
    throw new TypeError(
      '--key (private_key_jwt) or --cert and --cert-key (mutual TLS) is required',
    );
  if (!(methods as readonly string[]).includes(method))
    throw new TypeError(`--method must be one of ${methods.join(', ')}`);
  const certFile = values.cert;
  const keyFile = values['cert-key'];
  const certificate = certFile === undefined || keyFile === undefined ? {} : { certFile, keyFile };
  if (method === 'spiffe_jwt' || method === 'federated_jwt') {
    const tokenFile = method === 'spiffe_jwt' ? values['spiffe-jwt'] : values['federated-token'];
    if (tokenFile === undefined)
      throw new TypeError(
        `${method} needs ${method === 'spiffe_jwt' ? '--spiffe-jwt' : '--federated-token'}`,
      );
    return { method, clientId, tokenFile, ...certificate };
  }
  if (tokenFiles.length > 0)
    throw new TypeError(`${method} takes no --spiffe-jwt or --federated-token`);
  if (method === 'private_key_jwt') {
    if (values.key === undefined) throw new TypeError('private_key_jwt needs --key');
    return {
      method,
      clientId,
      key: values.key,
      ...(values.alg === undefined ? {} : { alg: values.alg }),
      ...certificate,
    };
  }
  if (values.key !== undefined)
    throw new TypeError(`${method} takes no --key (did you mean --cert-key?)`);
  if (certFile === undefined || keyFile === undefined)
    throw new TypeError(`${method} needs --cert and --cert-key`);
  return {
    method: method as 'tls_client_auth' | 'self_signed_tls_client_auth' | 'spiffe_x509',
    clientId,
    certFile,
    keyFile,
  };
}

function usageError(io: Io, message: string): number {
  io.stderr.write(`tollgate token: ${message}\nSee: tollgate token --help\n`);
  return exitCodes.usage;
}

/** A local credential failure in words, naming the option whose file it is. */
function credentialProblem(error: unknown, values: TokenArgs): string {
  const path = (error as NodeJS.ErrnoException).path;
  const option = (['key', 'cert', 'cert-key', 'ca'] as const).find(
    (name) =>
      values[name] !== undefined && path !== undefined && resolve(values[name]) === resolve(path),
  );
  const message =
    describeFileError(error, option === undefined ? 'file' : `--${option}`) ??
    (error as Error).message;
  // A PEM key given as --key (curl's name for it) is the likely mistake: say where it goes.
  return values.key !== undefined && message === `${values.key} is not JSON`
    ? `${message}: --key wants the client's private JWK (e.g. certs/clients/demo-jwt/private.jwk.json); a PEM private key goes with --cert, as --cert-key`
    : message;
}

// OpenSSL's verdicts on the server certificate, in words. The codes stay out of the text a
// person reads; --json keeps the raw description for scripts.
const serverCertificateProblems: ReadonlyArray<readonly [RegExp, string]> = [
  [
    /^(?:SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE)\b/,
    "the server's TLS certificate is issued by a CA this machine does not trust. Pass --ca with that CA's certificate (with the dev PKI: --ca certs/ca/root.pem)",
  ],
  [
    /^CERT_HAS_EXPIRED\b/,
    "the server's TLS certificate has expired (with the dev PKI: npm run dev-ca -- ensure, then restart the server)",
  ],
  [/^CERT_NOT_YET_VALID\b/, "the server's TLS certificate is not yet valid: check both clocks"],
  [
    /^(?:ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH)\b/,
    "the server's TLS certificate does not name the host in --issuer: use the host name it was issued for (the dev PKI's covers localhost and 127.0.0.1)",
  ],
  [
    /^ECONNREFUSED\b/,
    'connection refused: is the server running, and is --issuer the right host and port?',
  ],
  [/^(?:ENOTFOUND|EAI_AGAIN)\b/, 'the host in --issuer cannot be resolved'],
  [
    /^(?:ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|TimeoutError)\b/,
    'the server did not answer in time',
  ],
];

/** A network failure in words, with the fix when there is a known one. */
export function describeNetworkFailure(description: string | undefined): string | undefined {
  if (description === undefined) return undefined;
  for (const [pattern, words] of serverCertificateProblems)
    if (pattern.test(description)) return words;
  return description;
}

/**
 * JSON for a terminal: what the server sent (the token response, the token's claims) is printed
 * as it came, and JSON.stringify escapes only C0 controls. DEL, C1 controls (U+009B is CSI to
 * xterm) and format characters (bidirectional overrides) are escaped too, so a response cannot
 * drive or disguise the terminal; the output stays JSON with the same value.
 */
export function terminalJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(/[\u007f-\u009f\p{Cf}]/gu, (char) => {
    let escaped = '';
    for (let i = 0; i < char.length; i++) {
      escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    }
    return escaped;
  });
}

/** Prints an issued token; returns exit code 0. */
export function printToken(token: AccessToken, decode: boolean, json: boolean, io: Io): number {
  const decoded = decode ? decodeToken(token.accessToken) : undefined;
  if (json) {
    io.stdout.write(
      `${terminalJson({
        response: token.response,
        ...(token.certificateThumbprint === undefined
          ? {}
          : { certificate: { 'x5t#S256': token.certificateThumbprint } }),
        ...(token.dpopJkt === undefined ? {} : { dpop: { jkt: token.dpopJkt } }),
        ...(decoded ?? {}),
      })}\n`,
    );
    return exitCodes.ok;
  }
  io.stdout.write(`${terminalJson(token.response, 2)}\n`);
  if (token.certificateThumbprint !== undefined)
    io.stdout.write(`presented certificate x5t#S256: ${token.certificateThumbprint}\n`);
  if (token.dpopJkt !== undefined) io.stdout.write(`DPoP key jkt: ${token.dpopJkt}\n`);
  if (decoded !== undefined) {
    io.stdout.write(
      `header: ${terminalJson(decoded.header, 2)}\nclaims: ${terminalJson(decoded.claims, 2)}\n`,
    );
  }
  return exitCodes.ok;
}

function decodeToken(accessToken: string): { header: unknown; claims: unknown } | undefined {
  // An opaque token (another server) is not an error here: there is just nothing to decode.
  try {
    return { header: decodeProtectedHeader(accessToken), claims: decodeJwt(accessToken) };
  } catch {
    return undefined;
  }
}

/** Prints a refusal or a network failure; returns exit code 1 or 3. */
export function printError(error: TokenClientError, json: boolean, io: Io): number {
  const code = error.isNetworkError ? exitCodes.unreachable : exitCodes.failed;
  if (json) {
    io.stdout.write(
      `${terminalJson({
        error: error.error,
        ...(error.errorDescription === undefined
          ? {}
          : { error_description: error.errorDescription }),
        ...(error.status === undefined ? {} : { status: error.status }),
        attempts: error.attempts,
      })}\n`,
    );
    return code;
  }
  const where = error.status === undefined ? '' : ` (HTTP ${error.status})`;
  if (error.error === 'network_error') {
    const words = describeNetworkFailure(error.errorDescription);
    io.stderr.write(`cannot reach the server: ${words ?? 'no answer'}\n`);
    return code;
  }
  io.stderr.write(
    `error: ${error.error}${where}${error.errorDescription === undefined ? '' : `: ${error.errorDescription}`}\n`,
  );
  return code;
}
