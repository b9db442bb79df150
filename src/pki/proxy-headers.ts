/**
 * Client certificates forwarded by a TLS-terminating proxy, in the three header forms Tollgate
 * reads: RFC 9440 `Client-Cert` / `Client-Cert-Chain`, nginx `$ssl_client_escaped_cert`, and
 * Envoy `x-forwarded-client-cert` (XFCC).
 *
 * These functions only decode; whether the header may be read at all (the peer address is a
 * trusted proxy) is decided by the caller, and the certificate is validated afterwards like any
 * other. Sizes are capped on the raw header before any decoding, every syntax error is a
 * {@link PkiError}, and a singleton header that arrives as several values is `duplicate`.
 *
 * Absence: an absent header, an empty value, or an empty RFC 9440 Byte Sequence (`::`, which a
 * proxy template produces when there was no certificate) all mean "no certificate" (`null`).
 *
 * @see RFC 9440 §2, RFC 8941 §3.1 and §3.3.5
 */
import { defaultMaxChainCertificates } from './certificate.js';
import { bytesEqual } from './encoding.js';
import { PkiError } from './errors.js';
import { decodePem } from './pem.js';

/** A forwarded certificate: the leaf and whatever chain the proxy passed along (may be empty). */
export interface ForwardedCertificate {
  readonly leaf: Buffer;
  readonly chain: readonly Buffer[];
}

/** Caps applied before decoding a header. */
export interface ProxyHeaderLimits {
  /** Longest header value accepted, in characters; default 64 KiB. */
  readonly maxHeaderLength?: number;
  /** Largest certificate accepted, in DER bytes; default 16 KiB. */
  readonly maxCertificateBytes?: number;
  /** Most chain certificates accepted (leaf excluded), as sent; default {@link defaultMaxChainCertificates}. */
  readonly maxChainLength?: number;
}

/** How to pick the XFCC element; see {@link parseXfccHeader}. */
export interface XfccOptions extends ProxyHeaderLimits {
  /**
   * `last` (default): use the element the nearest proxy appended. `single`: refuse headers with
   * more than one element (for proxies configured with `SANITIZE_SET`).
   */
  readonly element?: 'last' | 'single';
}

const defaults = {
  maxHeaderLength: 64 * 1024,
  maxCertificateBytes: 16 * 1024,
  maxChainLength: defaultMaxChainCertificates,
};

/**
 * RFC 9440 `Client-Cert`: one Byte Sequence holding the DER certificate.
 *
 * @see RFC 9440 §2.2
 */
export function parseClientCertHeader(
  value: unknown,
  limits: ProxyHeaderLimits = {},
): Buffer | null {
  const text = singleton(value, limits, 'Client-Cert');
  if (text === undefined || text.trim() === '') return null;
  const der = byteSequence(text.trim(), 'Client-Cert');
  if (der.length === 0) return null;
  return capCertificate(der, limits);
}

/**
 * RFC 9440 `Client-Cert-Chain`: a List of Byte Sequences, in TLS order (leaf excluded). Several
 * field lines are one list (RFC 8941 §3.1), so an array value is joined, not refused.
 *
 * @see RFC 9440 §2.3
 */
export function parseClientCertChainHeader(
  value: unknown,
  limits: ProxyHeaderLimits = {},
): Buffer[] {
  const text = listValue(value, limits, 'Client-Cert-Chain');
  if (text === undefined || text.trim() === '') return [];
  const maxChain = limits.maxChainLength ?? defaults.maxChainLength;
  const members = text.split(',');
  if (members.length > maxChain) throw new PkiError('too_large', 'Client-Cert-Chain too long');
  return members.map((member) => {
    const trimmed = member.replace(/^[ \t]+|[ \t]+$/g, '');
    if (trimmed === '') throw new PkiError('malformed', 'Client-Cert-Chain: empty list member');
    const der = byteSequence(trimmed, 'Client-Cert-Chain');
    if (der.length === 0) throw new PkiError('malformed', 'Client-Cert-Chain: empty certificate');
    return capCertificate(der, limits);
  });
}

/** Both RFC 9440 fields together; `null` when `Client-Cert` is absent (the chain is then ignored). */
export function parseRfc9440Headers(
  clientCert: unknown,
  clientCertChain: unknown,
  limits: ProxyHeaderLimits = {},
): ForwardedCertificate | null {
  const leaf = parseClientCertHeader(clientCert, limits);
  if (leaf === null) return null;
  return { leaf, chain: parseClientCertChainHeader(clientCertChain, limits) };
}

/**
 * nginx `$ssl_client_escaped_cert`: the leaf as URL-encoded PEM (nginx forwards no chain).
 * An empty value (nginx's rendering of "no certificate") is `null`.
 */
export function parseNginxEscapedCertHeader(
  value: unknown,
  limits: ProxyHeaderLimits = {},
): ForwardedCertificate | null {
  const text = singleton(value, limits, 'nginx client certificate header');
  if (text === undefined || text.trim() === '') return null;
  const [leaf] = urlEncodedPem(text.trim(), 1, limits, 'nginx client certificate header');
  return { leaf: leaf as Buffer, chain: [] };
}

/**
 * Envoy `x-forwarded-client-cert`.
 *
 * Format (Envoy docs, "x-forwarded-client-cert"): elements separated by `,`, each added by one
 * proxy; inside an element `key=value` pairs separated by `;`; keys case-insensitive; a value
 * may be double-quoted, with `\"` for a quote. `Cert` is the URL-encoded PEM leaf; `Chain` the
 * URL-encoded PEM chain *including* the leaf.
 *
 * Which element: a proxy appends its element at the end (APPEND_FORWARD) or replaces the header
 * with its own (SANITIZE_SET), and each element describes the certificate of the peer connected
 * to the proxy that added it. The last element is therefore the one written by the proxy that
 * talks to Tollgate, the only proxy whose address we verified; anything before it came from
 * further away and may be client-supplied. So the default is the last element; `single` refuses
 * multi-element headers for deployments that want to assert SANITIZE_SET. Behind two mTLS hops
 * the last element describes the inner hop, which is why the TLS-terminating proxy must be the
 * one adjacent to Tollgate.
 */
export function parseXfccHeader(
  value: unknown,
  options: XfccOptions = {},
): ForwardedCertificate | null {
  const text = singleton(value, options, 'x-forwarded-client-cert');
  if (text === undefined || text.trim() === '') return null;
  const elements = parseXfccElements(text);
  if (options.element === 'single' && elements.length !== 1) {
    throw new PkiError('malformed', 'x-forwarded-client-cert: more than one element');
  }
  const element = elements[elements.length - 1] as Map<string, string>;
  const cert = element.get('cert');
  const chainText = element.get('chain');
  if (cert === undefined && chainText === undefined) return null;
  const maxChain = options.maxChainLength ?? defaults.maxChainLength;
  const chain =
    chainText === undefined
      ? []
      : urlEncodedPem(chainText, maxChain + 1, options, 'x-forwarded-client-cert Chain');
  const leaf =
    cert === undefined
      ? (chain[0] as Buffer)
      : (urlEncodedPem(cert, 1, options, 'x-forwarded-client-cert Cert')[0] as Buffer);
  return { leaf, chain: chain.filter((der) => !bytesEqual(der, leaf)) };
}

/** Splits an XFCC value into elements of lower-cased keys; duplicate Cert/Chain keys are refused. */
function parseXfccElements(text: string): Map<string, string>[] {
  const elements: Map<string, string>[] = [];
  let pairs = new Map<string, string>();
  let position = 0;
  const fail = (reason: string): PkiError =>
    new PkiError('malformed', `x-forwarded-client-cert: ${reason}`);
  // Separators may be followed by spaces when field lines were joined (", ").
  const skipSpaces = (): void => {
    while (text[position] === ' ' || text[position] === '\t') position++;
  };
  skipSpaces();
  for (;;) {
    const keyStart = position;
    while (position < text.length && !',;="'.includes(text[position] as string)) position++;
    const key = text.slice(keyStart, position).trim().toLowerCase();
    if (key === '' || text[position] !== '=') throw fail('expected key=value');
    position++;
    let value = '';
    if (text[position] === '"') {
      position++;
      for (;;) {
        const char = text[position];
        if (char === undefined) throw fail('unterminated quoted value');
        if (char === '\\' && (text[position + 1] === '"' || text[position + 1] === '\\')) {
          value += text[position + 1];
          position += 2;
        } else if (char === '"') {
          position++;
          break;
        } else {
          value += char;
          position++;
        }
      }
    } else {
      const valueStart = position;
      while (position < text.length && !',;="'.includes(text[position] as string)) position++;
      value = text.slice(valueStart, position);
    }
    if ((key === 'cert' || key === 'chain') && pairs.has(key)) throw fail(`duplicate ${key}`);
    // Other keys (DNS) legitimately repeat; Tollgate reads only Cert and Chain.
    if (!pairs.has(key)) pairs.set(key, value);
    const separator = text[position];
    if (separator === undefined) {
      elements.push(pairs);
      return elements;
    }
    if (separator === ';') {
      position++;
    } else if (separator === ',') {
      elements.push(pairs);
      pairs = new Map();
      position++;
      skipSpaces();
    } else {
      throw fail('unexpected character after value');
    }
  }
}

/** URL-decodes a PEM text and returns its certificates (1..max); refuses anything else. */
function urlEncodedPem(
  encoded: string,
  maxBlocks: number,
  limits: ProxyHeaderLimits,
  what: string,
): Buffer[] {
  let pem: string;
  try {
    pem = decodeURIComponent(encoded);
  } catch (error) {
    throw new PkiError('malformed', `${what}: bad URL encoding`, { cause: error });
  }
  const blocks = decodePem(pem, 'CERTIFICATE', {
    maxBlocks,
    maxLength: limits.maxHeaderLength ?? defaults.maxHeaderLength,
    allowExplanatoryText: false,
  });
  if (blocks.length === 0) throw new PkiError('malformed', `${what}: no certificate`);
  return blocks.map((der) => capCertificate(der, limits));
}

const byteSequencePattern = /^:([A-Za-z0-9+/]*={0,2}):$/;

/** An RFC 8941 Byte Sequence item without parameters. @see RFC 8941 §4.2.7 */
function byteSequence(text: string, what: string): Buffer {
  const match = byteSequencePattern.exec(text);
  if (match === null) throw new PkiError('malformed', `${what}: not a Byte Sequence`);
  const base64 = match[1] as string;
  // RFC 8941 §4.2.7: parsers SHOULD NOT fail when "=" padding is absent; padding must be right.
  const unpadded = base64.replace(/=+$/, '');
  if (unpadded.length % 4 === 1 || (base64 !== unpadded && base64.length % 4 !== 0)) {
    throw new PkiError('malformed', `${what}: bad base64`);
  }
  return Buffer.from(unpadded, 'base64');
}

function capCertificate(der: Buffer, limits: ProxyHeaderLimits): Buffer {
  if (der.length > (limits.maxCertificateBytes ?? defaults.maxCertificateBytes)) {
    throw new PkiError('too_large', 'forwarded certificate too large');
  }
  return der;
}

/** A header that must occur once: a string, or a one-element array. */
function singleton(value: unknown, limits: ProxyHeaderLimits, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw new PkiError('duplicate', `${what} sent more than once`);
    return singleton(value[0], limits, what);
  }
  if (typeof value !== 'string') throw new PkiError('malformed', `${what}: not a string`);
  if (value.length > (limits.maxHeaderLength ?? defaults.maxHeaderLength)) {
    throw new PkiError('too_large', `${what} too large`);
  }
  return value;
}

/** A list header: several field lines are joined with ", " (RFC 9110 §5.3). */
function listValue(value: unknown, limits: ProxyHeaderLimits, what: string): string | undefined {
  if (Array.isArray(value)) {
    if (!value.every((line): line is string => typeof line === 'string')) {
      throw new PkiError('malformed', `${what}: not a string`);
    }
    return singleton(value.join(', '), limits, what);
  }
  return singleton(value, limits, what);
}
