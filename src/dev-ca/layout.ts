/**
 * The on-disk layout of a dev PKI directory (default `certs/`). Tollgate's server defaults read
 * these paths, so they are a contract: change them only together with src/config.
 */
import { join } from 'node:path';

/** Paths relative to the PKI directory. */
export const layout = {
  rootCert: 'ca/root.pem',
  rootKey: 'ca/root-key.pem',
  intermediateCert: 'ca/intermediate.pem',
  intermediateKey: 'ca/intermediate-key.pem',
  /** Intermediate then root. */
  caChain: 'ca/chain.pem',
  rootCrl: 'ca/root.crl.pem',
  intermediateCrl: 'ca/intermediate.crl.pem',
  /** Both CRLs: Node's `crl` option needs one per CA of the chain. */
  crlChain: 'ca/crl-chain.pem',
  /** The trust domain's SPIFFE bundle (JWKS, `x509-svid` entries): written on demand. */
  spiffeBundle: 'ca/spiffe-bundle.json',
  /** Leaf then intermediate. */
  serverCert: 'server/server.pem',
  serverKey: 'server/server-key.pem',
  registry: 'registry.json',
  manifest: 'manifest.json',
  examples: 'EXAMPLES.md',
} as const;

/** Per-client files, under `clients/<client_id>/` (or `negative/<client_id>/` for fixtures). */
export const clientFiles = {
  cert: 'cert.pem',
  key: 'key.pem',
  /** Leaf then intermediate: what `curl --cert` should send. */
  chain: 'chain.pem',
  /** The PKCS#10 request a `sign` client sent (its key never leaves the client host). */
  csr: 'request.csr',
  p12: 'client.p12',
  p12Password: 'client.p12.password',
  privateJwk: 'private.jwk.json',
  publicJwk: 'public.jwk.json',
} as const;

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
