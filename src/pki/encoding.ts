/**
 * Byte helpers shared by the PKI module: hex, base64url, SHA-256 thumbprints.
 */
import { createHash } from 'node:crypto';

/** Lower-case hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** base64url without padding (RFC 4648 §5), as JOSE and RFC 8705 use it. */
export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** base64url(SHA-256(bytes)). */
export function sha256Base64url(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url');
}

/** Constant-shape byte comparison (lengths first); not for secrets, just for equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) {
    if (a[index] !== b[index]) return false;
  }
  return true;
}

/** A standalone copy of `bytes` as a Buffer (so views into a larger input do not pin it). */
export function copyBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes);
}
