/**
 * The on-disk layout of a dev PKI directory (default `certs/`). Tollgate's server defaults read
 * these paths, so they are a contract: change them only together with src/config.
 */
import { join } from 'node:path';

/** Every file of the PKI directory: its path (relative to the directory) and its role. */
const files = {
  rootCert: ['ca/root.pem', 'root CA certificate (trust anchor; curl --cacert)'],
  rootKey: ['ca/root-key.pem', 'root CA private key'],
  intermediateCert: ['ca/intermediate.pem', 'intermediate CA certificate (issues every leaf)'],
  intermediateKey: ['ca/intermediate-key.pem', 'intermediate CA private key'],
  caChain: ['ca/chain.pem', 'CA chain: intermediate then root'],
  rootCrl: ['ca/root.crl.pem', 'root CRL'],
  intermediateCrl: ['ca/intermediate.crl.pem', 'intermediate CRL'],
  // Node's `crl` option needs one CRL per CA of the chain.
  crlChain: ['ca/crl-chain.pem', 'both CRLs (Node tls `crl`)'],
  // Written on demand (`client --spiffe-id`, `spiffe-bundle`).
  spiffeBundle: [
    'ca/spiffe-bundle.json',
    'SPIFFE bundle of the trust domain (JWKS, use x509-svid)',
  ],
  serverCert: ['server/server.pem', 'server certificate chain: leaf then intermediate'],
  serverKey: ['server/server-key.pem', 'server private key'],
  registry: ['registry.json', 'client registry (RFC 7591 metadata)'],
  manifest: ['manifest.json', 'manifest'],
  examples: ['EXAMPLES.md', 'curl examples'],
} as const;

/** Per-client files, under `clients/<client_id>/` (or `negative/<client_id>/` for fixtures). */
const perClient = {
  cert: ['cert.pem', 'certificate'],
  key: ['key.pem', 'private key'],
  // What `curl --cert` should send.
  chain: ['chain.pem', 'certificate chain presented in TLS'],
  // A `sign` client's request: its key never leaves the client host.
  csr: ['request.csr', 'PKCS#10 request it was signed from (the key stays with the client)'],
  p12: ['client.p12', 'PKCS#12 bundle'],
  p12Password: ['client.p12.password', 'PKCS#12 password'],
  privateJwk: ['private.jwk.json', 'private signing JWK'],
  publicJwk: ['public.jwk.json', 'public JWK'],
} as const;

const pathsOf = <T extends Record<string, readonly [string, string]>>(table: T) =>
  Object.fromEntries(Object.entries(table).map(([name, [path]]) => [name, path])) as {
    readonly [K in keyof T]: T[K][0];
  };

/** Paths relative to the PKI directory. */
export const layout = pathsOf(files);
/** File names in a client's folder. */
export const clientFiles = pathsOf(perClient);
/** The role of each file the dev CA makes, by path. */
export const roles: ReadonlyMap<string, string> = new Map(Object.values(files));
/** The role of each file in a client's folder, by file name. */
export const clientRoles: ReadonlyMap<string, string> = new Map(Object.values(perClient));

export const clientsFolder = 'clients';
export const negativeFolder = 'negative';
/** The look-alike CA of the `foreign-ca` fixture. */
export const foreignCaFolder = 'negative/foreign-ca';

/** Key files: 0600. Everything else: 0644 inside 0700 folders. */
export const privateMode = 0o600;
export const publicMode = 0o644;
export const folderMode = 0o700;

/** `clients/<id>/<file>` (or under `negative/`). */
export function clientPath(
  clientId: string,
  file: keyof typeof clientFiles,
  folder = clientsFolder,
): string {
  return join(folder, clientId, clientFiles[file]);
}

/** client_ids become folder names: keep them to a safe, portable alphabet. */
export function assertSafeClientId(clientId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(clientId) || clientId.includes('..')) {
    throw new TypeError(
      `dev-ca: client_id ${JSON.stringify(clientId)} must be 1-128 of A-Z a-z 0-9 . _ - (it names a folder)`,
    );
  }
}
