/**
 * PEM (RFC 7468 textual encoding) for certificates and CRLs.
 *
 * Decoding is strict about what matters: every block must carry the expected label with a
 * matching END line, the body must be canonical base64 (padding only at the end), and the count
 * and size of blocks are capped before anything is decoded. Explanatory text between blocks is
 * allowed for files (OpenSSL writes it) and refused for proxy headers.
 *
 * @see RFC 7468 §2–§3, §5 (certificates), §6 (CRLs)
 */
import { PkiError } from './errors.js';

/** Caps and leniency for {@link decodePem}. */
export interface PemOptions {
  /** Most blocks accepted; default 100. */
  readonly maxBlocks?: number;
  /** Most characters of input accepted; default 1 MiB. */
  readonly maxLength?: number;
  /** Accept text outside the blocks (RFC 7468 explanatory text); default true. */
  readonly allowExplanatoryText?: boolean;
}

const beginLine = /^-----BEGIN ([\x21-\x2c\x2e-\x7e](?:[- ]?[\x21-\x2c\x2e-\x7e])*)?-----$/;
const base64Body = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes every PEM block of `text`, all of which must carry `label` (e.g. `CERTIFICATE`,
 * `X509 CRL`); throws {@link PkiError} `malformed` or `too_large`.
 */
export function decodePem(text: unknown, label: string, options: PemOptions = {}): Buffer[] {
  if (typeof text !== 'string') throw new PkiError('malformed', 'PEM input must be a string');
  if (text.length > (options.maxLength ?? 1024 * 1024)) {
    throw new PkiError('too_large', 'PEM input too large');
  }
  const maxBlocks = options.maxBlocks ?? 100;
  const allowText = options.allowExplanatoryText ?? true;
  const blocks: Buffer[] = [];
  const lines = text.split(/\r?\n/);
  let body: string[] | undefined;
  for (const rawLine of lines) {
    const line = rawLine.replace(/[ \t]+$/, '');
    if (body === undefined) {
      const begin = beginLine.exec(line);
      if (begin !== null) {
        if (begin[1] !== label) throw new PkiError('malformed', `unexpected PEM label`);
        if (blocks.length >= maxBlocks) throw new PkiError('too_large', 'too many PEM blocks');
        body = [];
      } else if (line.trim() !== '' && !allowText) {
        throw new PkiError('malformed', 'text outside PEM blocks');
      } else if (line.startsWith('-----')) {
        throw new PkiError('malformed', 'stray PEM boundary');
      }
      continue;
    }
    if (line === `-----END ${label}-----`) {
      const base64 = body.join('');
      if (base64 === '' || !base64Body.test(base64)) {
        throw new PkiError('malformed', 'PEM body is not canonical base64');
      }
      blocks.push(Buffer.from(base64, 'base64'));
      body = undefined;
      continue;
    }
    if (line.startsWith('-----')) throw new PkiError('malformed', 'mismatched PEM boundary');
    // RFC 7468 §3 lax parsing: whitespace inside the body is ignored.
    body.push(line.replace(/[ \t]/g, ''));
  }
  if (body !== undefined) throw new PkiError('malformed', 'unterminated PEM block');
  return blocks;
}

/** Encodes DER as a PEM block with 64-character lines. @see RFC 7468 §2 */
export function encodePem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
