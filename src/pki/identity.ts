/**
 * The registered identity of a `tls_client_auth` client and how a certificate matches it: the
 * subject DN or one subjectAltName entry, per the RFC 8705 §2.1.2 client metadata.
 *
 * Registered values are compiled once (when the registry loads) into the form compared on each
 * request. Comparison rules:
 * - subject DN: RFC 4514/5280 normalized comparison (see `dn.ts`), never raw strings; values
 *   compare under the exact-trust rule of `string-prep.ts` (ASCII only against ASCII,
 *   case-insensitively; non-ASCII only against the same NFC code points, modulo case), and a
 *   registered DN whose values hold invisible, compatibility or mixed-script characters is
 *   refused at load, so no look-alike can be registered or matched;
 * - DNS: ASCII case-insensitive, literal otherwise (a `*` in either is just a character: no
 *   wildcard semantics; no trailing-dot folding);
 * - URI: exact, code unit for code unit (SPIFFE IDs are case-sensitive);
 * - IP: the registered text is parsed (node:net rules) to its 4 or 16 octets and compared with
 *   the iPAddress octets. An IPv4 address and its IPv4-mapped IPv6 form (`::ffff:127.0.0.1`) are
 *   different registrations: RFC 8705 asks for an exact match, certificates encode the two as
 *   different octet strings, and name constraints (RFC 5280 §4.2.1.10) treat them apart too;
 * - email: local part exact, domain ASCII case-insensitive (RFC 5321 §2.4).
 *
 * @see RFC 8705 §2.1.2, RFC 5280 §4.2.1.6
 */
import { isIP, isIPv4 } from 'node:net';
import { attributeTypeName } from './attribute-types.js';
import { type ParsedCertificate, parseCertificate } from './certificate.js';
import { type DistinguishedName, hasAmbiguousText, parseDn } from './dn.js';
import { bytesEqual } from './encoding.js';
import { PkiError } from './errors.js';
import { lookalikeProblem } from './string-prep.js';

/** The RFC 8705 identity kinds, named after the `tls_client_auth_*` metadata fields. */
export type IdentityType = 'subject_dn' | 'san_dns' | 'san_uri' | 'san_ip' | 'san_email';

/** A compiled registered identity. */
export type CertificateIdentity =
  | { readonly type: 'subject_dn'; readonly value: string; readonly dn: DistinguishedName }
  | { readonly type: 'san_dns'; readonly value: string; readonly normalized: string }
  | { readonly type: 'san_uri'; readonly value: string }
  | { readonly type: 'san_ip'; readonly value: string; readonly bytes: Uint8Array }
  | {
      readonly type: 'san_email';
      readonly value: string;
      readonly localPart: string;
      readonly domain: string;
    };

/** The subjectAltName entries authentication can match, decoded. */
export interface SubjectAltNames {
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  readonly ip: readonly Uint8Array[];
  readonly email: readonly string[];
}

const maxValueLength = 2048;

/**
 * Compiles a registered identity; throws {@link PkiError} `malformed` with the reason.
 *
 * @see RFC 8705 §2.1.2
 */
export function compileIdentity(type: IdentityType, value: unknown): CertificateIdentity {
  if (typeof value !== 'string' || value === '') {
    throw new PkiError('malformed', `${type}: must be a non-empty string`);
  }
  if (value.length > maxValueLength) throw new PkiError('too_large', `${type}: too long`);
  switch (type) {
    case 'subject_dn': {
      const dn = parseDn(value);
      for (const rdn of dn.rdns) {
        for (const attribute of rdn) {
          if (attribute.value.kind !== 'string') continue;
          const problem = lookalikeProblem(attribute.value.text);
          if (problem !== undefined) {
            throw new PkiError(
              'malformed',
              `subject_dn: the ${attributeTypeName(attribute.type)} value ${problem}`,
            );
          }
        }
      }
      return { type, value, dn };
    }
    case 'san_dns':
      if (!/^[\x21-\x7e]+$/.test(value)) {
        throw new PkiError('malformed', 'san_dns: must be printable ASCII (use A-labels)');
      }
      return { type, value, normalized: asciiLower(value) };
    case 'san_uri':
      if (!/^[\x21-\x7e]+$/.test(value) || !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) {
        throw new PkiError('malformed', 'san_uri: must be an absolute URI in printable ASCII');
      }
      return { type, value };
    case 'san_ip':
      return { type, value, bytes: parseIpAddress(value) };
    case 'san_email': {
      const at = value.lastIndexOf('@');
      if (at <= 0 || at === value.length - 1 || !/^[\x21-\x7e]+$/.test(value)) {
        throw new PkiError('malformed', 'san_email: must be local@domain in printable ASCII');
      }
      return {
        type,
        value,
        localPart: value.slice(0, at),
        domain: asciiLower(value.slice(at + 1)),
      };
    }
    default:
      throw new TypeError(`unknown identity type ${String(type)}`);
  }
}

/** True when the certificate carries the registered identity. @see RFC 8705 §2.1.2 */
export function identityMatches(
  identity: CertificateIdentity,
  certificate: ParsedCertificate,
): boolean {
  if (identity.type === 'subject_dn') return dnMatches(identity.dn, certificate);
  const names = subjectAltNames(certificate);
  switch (identity.type) {
    case 'san_dns':
      return names.dns.some((name) => asciiLower(name) === identity.normalized);
    case 'san_uri':
      return names.uri.includes(identity.value);
    case 'san_ip':
      return names.ip.some((bytes) => bytesEqual(bytes, identity.bytes));
    case 'san_email':
      return names.email.some((name) => {
        const at = name.lastIndexOf('@');
        return (
          at > 0 &&
          name.slice(0, at) === identity.localPart &&
          asciiLower(name.slice(at + 1)) === identity.domain
        );
      });
  }
}

/**
 * True when the certificate's subject equals the registered DN (a string is parsed first; keep
 * the compiled {@link DistinguishedName} where you can). A DER certificate is parsed.
 *
 * @see RFC 5280 §7.1, RFC 4518
 */
export function dnMatches(
  registered: DistinguishedName | string,
  certificate: ParsedCertificate | Uint8Array,
): boolean {
  const dn = typeof registered === 'string' ? parseDn(registered) : registered;
  const parsed = certificate instanceof Uint8Array ? parseCertificate(certificate) : certificate;
  return dn.key === parsed.subject.key && !hasAmbiguousText(parsed.subject);
}

const sanCache = new WeakMap<ParsedCertificate, SubjectAltNames>();

/** The certificate's DNS, URI, IP (4 or 16 octets) and email SAN entries. @see RFC 5280 §4.2.1.6 */
export function subjectAltNames(certificate: ParsedCertificate): SubjectAltNames {
  const cached = sanCache.get(certificate);
  if (cached !== undefined) return cached;
  const dns: string[] = [];
  const uri: string[] = [];
  const ip: Uint8Array[] = [];
  const email: string[] = [];
  for (const name of certificate.extensions.subjectAltName ?? []) {
    if (name.type === 'dns') dns.push(name.value);
    else if (name.type === 'uri') uri.push(name.value);
    // Other lengths are not addresses (8 and 32 are name-constraint ranges): never a match.
    else if (name.type === 'ip' && (name.bytes.length === 4 || name.bytes.length === 16)) {
      ip.push(name.bytes);
    } else if (name.type === 'email') email.push(name.value);
  }
  const names = Object.freeze({ dns, uri, ip, email });
  sanCache.set(certificate, names);
  return names;
}

/**
 * The octets of a textual IPv4 (dotted decimal) or IPv6 address, validated by node:net; zone
 * identifiers are refused. Throws {@link PkiError} `malformed`.
 */
export function parseIpAddress(text: string): Uint8Array {
  const family = isIP(text);
  if (family === 0 || text.includes('%')) {
    throw new PkiError('malformed', 'not an IP address');
  }
  if (family === 4) return Uint8Array.from(text.split('.').map(Number));
  const halves = text.split('::');
  const groups = (part: string | undefined): number[] =>
    part === undefined || part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!isIPv4(group)) return [Number.parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [a * 256 + b, c * 256 + d];
        });
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const all =
    halves.length === 2
      ? [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail]
      : head;
  const bytes = new Uint8Array(16);
  all.forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** Formats 4 or 16 address octets as text (RFC 5952 style without zero compression). */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  const groups: string[] = [];
  for (let index = 0; index + 1 < bytes.length; index += 2) {
    groups.push((((bytes[index] as number) << 8) | (bytes[index + 1] as number)).toString(16));
  }
  return groups.join(':');
}

function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (char) => String.fromCharCode(char.charCodeAt(0) + 32));
}
