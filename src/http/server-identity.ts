/**
 * The TLS listeners' certificate chain and private key (`tls.certFile`, `tls.keyFile`) and their
 * reload: certificates are renewed in place (cert-manager, ACME clients), so a running server
 * must pick the new pair up without a restart, and must never switch to a pair that would break
 * every handshake. A new pair is used only when the key is the leaf's and the leaf is valid now;
 * otherwise the previous pair keeps serving and the reload is reported.
 *
 * @see RFC 8446 §4.4.2 (the server's certificate), RFC 5280 §4.1.2.5 (validity)
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

/** The PEM chain (leaf first) and private key the TLS listeners present. */
export interface ServerIdentity {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A server certificate and key that cannot be served; the message names the file and why. */
export class ServerIdentityError extends Error {
  override readonly name = 'ServerIdentityError';
}

/** An OpenSSL verdict on a certificate and key tried together, as a sentence. */
export function describeServerIdentityError(
  error: unknown,
  certFile: string,
  keyFile: string,
): string {
  const text = (error as Error).message;
  if (/key values mismatch/i.test(text)) return `${keyFile} is not the private key of ${certFile}`;
  if (/no start line|bad base64|PEM|ASN1|DECODER/i.test(text))
    return `${certFile} and ${keyFile} must be PEM: a certificate chain (leaf first) and its private key`;
  return `the server certificate and key cannot be used together (${text.replace(/^error:[0-9A-F]+:/, '')})`;
}

/**
 * Reads a renewed server certificate chain and key and checks them: they must make a TLS
 * context together and the leaf must be valid at `now` (an expired or not-yet-valid leaf would
 * fail every client's handshake).
 *
 * @throws ServerIdentityError, or the file system's error when a file cannot be read
 */
export function loadServerIdentity(certFile: string, keyFile: string, now: Date): ServerIdentity {
  const cert = readFileSync(certFile);
  const key = readFileSync(keyFile);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new ServerIdentityError(
      `tls.certFile: ${describeServerIdentityError(error, certFile, keyFile)}`,
    );
  }
  // The leaf is the first certificate of the chain (X509Certificate reads the first PEM block).
  const leaf = new X509Certificate(cert);
  const from = Date.parse(leaf.validFrom);
  const to = Date.parse(leaf.validTo);
  if (!(now.getTime() >= from && now.getTime() <= to)) {
    throw new ServerIdentityError(
      `tls.certFile: ${certFile} is not valid now (valid from ${leaf.validFrom} to ${leaf.validTo})`,
    );
  }
  return { cert, key };
}
