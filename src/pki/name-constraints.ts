/**
 * Name constraints: a CA's permitted and excluded subtrees applied to the certificates below it.
 *
 * Each constraining CA is checked independently against every certificate it governs, which is
 * equivalent to RFC 5280 §6.1's running intersection of permitted subtrees and union of excluded
 * ones. Supported forms: dNSName, rfc822Name (also applied to emailAddress attributes of the
 * subject), uniformResourceIdentifier (by host), iPAddress (v4 and v6, address and mask) and
 * directoryName; the end entity's subject commonName counts as a dNSName when it reads as a host
 * name and no dNSName SAN exists (as OpenSSL does). A certificate carrying a name that is
 * constrained but that we cannot evaluate fails, since we cannot prove it is permitted: forms not
 * supported (otherName, x400Address, ediPartyName, registeredID; an SmtpUTF8Mailbox otherName
 * is also held to rfc822Name constraints, as OpenSSL does), a URI without a plain
 * `scheme://host[:port]` authority, an absolute dNSName (final dot), an rfc822Name without a
 * local part, an iPAddress SAN that is not 4 or 16 octets, and (under any constraint) an
 * emailAddress attribute that is not an IA5String.
 *
 * @see RFC 5280 §4.2.1.10, §6.1.3 (b) and (c)
 */
import type { ParsedCertificate } from './certificate.js';
import { dnIsWithin } from './dn.js';
import type { NameConstraints } from './extensions.js';
import { type GeneralName, smtpUtf8MailboxOid } from './general-name.js';

const emailAddressOid = '1.2.840.113549.1.9.1';

/**
 * Checks one certificate against one CA's constraints; returns the violation or `undefined`.
 * `leaf`: the certificate is the end entity, whose subject commonName is checked against
 * dNSName constraints when it looks like a host name and no dNSName SAN exists (what OpenSSL
 * does; a CN is how legacy software names a host).
 *
 * @see RFC 5280 §6.1.3 (b), (c)
 */
export function nameConstraintViolation(
  constraints: NameConstraints,
  certificate: ParsedCertificate,
  leaf = false,
): string | undefined {
  for (const name of constrainedNames(certificate, leaf)) {
    const violation = nameViolation(constraints, name);
    if (violation !== undefined) return violation;
  }
  return undefined;
}

/**
 * Checks one name against one CA's constraints; returns the violation or `undefined`. The dev CA
 * calls it before signing, so it refuses exactly the names validation would refuse.
 *
 * @see RFC 5280 §6.1.3 (b), (c)
 */
export function nameViolation(
  constraints: NameConstraints,
  name: ConstrainedName,
): string | undefined {
  if (!checkable(name)) {
    // A constrained form we cannot evaluate: refuse rather than guess.
    const constrained = [...constraints.permitted, ...constraints.excluded];
    return constrained.some((base) => sameForm(base, name))
      ? `${describe(name)} is constrained but cannot be checked`
      : undefined;
  }
  const permitted = constraints.permitted.filter((base) => sameForm(base, name));
  if (permitted.length > 0 && !permitted.some((base) => within(name, base))) {
    return `${describe(name)} is outside the permitted subtrees`;
  }
  if (constraints.excluded.some((base) => sameForm(base, name) && within(name, base))) {
    return `${describe(name)} is inside an excluded subtree`;
  }
  return undefined;
}

/** A name that constraints apply to, or an emailAddress attribute that cannot be compared. */
export type ConstrainedName =
  | GeneralName
  | {
      readonly type: 'unchecked';
      readonly what: string;
      /** The only constraint form it is refused under; any form when absent. */
      readonly form?: 'email';
    };

/**
 * Every name of the certificate that constraints apply to: its SANs (the same objects), its
 * subject, emailAddress attributes and, for a `leaf`, a host-like commonName (see
 * {@link nameConstraintViolation}).
 */
export function constrainedNames(certificate: ParsedCertificate, leaf: boolean): ConstrainedName[] {
  const sans = certificate.extensions.subjectAltName ?? [];
  const names: ConstrainedName[] = [...sans];
  for (const name of sans) {
    // RFC 9598 §6 (and OpenSSL): an SmtpUTF8Mailbox is held to rfc822Name constraints. An ASCII
    // one compares as an rfc822Name; one with non-ASCII characters (which would need IDNA to
    // compare) or not a UTF8String cannot be compared and is refused under them.
    if (name.type !== 'other' || name.typeId !== smtpUtf8MailboxOid) continue;
    const mailbox = name.mailbox;
    names.push(
      mailbox !== undefined && /^[\x21-\x7e]+$/.test(mailbox)
        ? { type: 'email', value: mailbox }
        : { type: 'unchecked', what: 'SmtpUTF8Mailbox that cannot be compared', form: 'email' },
    );
  }
  if (certificate.subject.rdns.length > 0)
    names.push({ type: 'directory', dn: certificate.subject });
  const hasDnsSan = sans.some((name) => name.type === 'dns');
  for (const rdn of certificate.subject.rdns) {
    for (const attribute of rdn) {
      if (attribute.type === emailAddressOid) {
        // RFC 5280 Appendix A: emailAddress is an IA5String; any other encoding is a form we
        // cannot compare, refused under any name constraint as OpenSSL does (a DN parsed from
        // text has no tag and is read as written).
        const value = attribute.value;
        if (value.kind === 'string' && (value.tag === undefined || value.tag === ia5StringTag)) {
          names.push({ type: 'email', value: value.text });
        } else {
          names.push({ type: 'unchecked', what: 'emailAddress not an IA5String' });
        }
      }
      if (leaf && !hasDnsSan && attribute.type === commonNameOid) {
        const host =
          attribute.value.kind === 'string' ? commonNameHost(attribute.value.text) : undefined;
        if (host !== undefined) names.push({ type: 'dns', value: host });
      }
    }
  }
  return names;
}

const commonNameOid = '2.5.4.3';
const ia5StringTag = 22;
const cnLabel = '[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?';
const cnHostName = new RegExp(`^${cnLabel}(?:\\.${cnLabel})+$`);

/**
 * A commonName that reads as a host name (two labels or more of letters, digits, `_` and
 * inner `-`): OpenSSL's `cn2dnsid` rule, so the same CNs are held to dNSName constraints.
 */
function commonNameHost(text: string): string | undefined {
  return cnHostName.test(text) ? text : undefined;
}

/**
 * Whether a name can be compared with constraints of its form at all. Not: other forms; a
 * dNSName with a final dot (absolute, compares equal to nothing, so it would slip past an
 * exclusion); an rfc822Name without `@`; an iPAddress that is not 4 or 16 octets; a URI
 * without a plain `scheme://host[:port]` authority (see {@link uriHost}).
 */
function checkable(name: ConstrainedName): name is GeneralName {
  switch (name.type) {
    case 'other':
    case 'unchecked':
      return false;
    case 'dns':
      return !name.value.endsWith('.');
    case 'email':
      return name.value.lastIndexOf('@') > 0;
    case 'ip':
      return name.bytes.length === 4 || name.bytes.length === 16;
    case 'uri':
      return uriHost(name.value) !== undefined;
    case 'directory':
      return true;
  }
}

function sameForm(base: GeneralName, name: ConstrainedName): boolean {
  // An emailAddress we cannot read is refused under any constraint, as OpenSSL does; an
  // SmtpUTF8Mailbox we cannot compare under rfc822Name constraints only.
  if (name.type === 'unchecked') return name.form === undefined || base.type === name.form;
  if (base.type !== name.type) return false;
  if (base.type === 'other' && name.type === 'other') return base.tag === name.tag;
  return true;
}

function within(name: GeneralName, base: GeneralName): boolean {
  switch (name.type) {
    case 'dns':
      return base.type === 'dns' && dnsWithin(name.value, base.value);
    case 'email':
      return base.type === 'email' && emailWithin(name.value, base.value);
    case 'uri':
      return base.type === 'uri' && uriWithin(name.value, base.value);
    case 'ip':
      return base.type === 'ip' && ipWithin(name.bytes, base.bytes);
    case 'directory':
      return base.type === 'directory' && dnIsWithin(name.dn, base.dn);
    case 'other':
      return false;
  }
}

/** RFC 5280: adding zero or more labels on the left satisfies the constraint; `.x` means below. */
function dnsWithin(name: string, constraint: string): boolean {
  const host = name.toLowerCase();
  const base = constraint.toLowerCase();
  if (base === '') return true;
  if (base.startsWith('.')) return host.endsWith(base) && host.length > base.length;
  return host === base || host.endsWith(`.${base}`);
}

/** A mailbox, a host (exact), or `.domain` (any host below it). */
function emailWithin(mailbox: string, constraint: string): boolean {
  const at = mailbox.lastIndexOf('@');
  if (at <= 0) return false;
  const local = mailbox.slice(0, at);
  const domain = mailbox.slice(at + 1).toLowerCase();
  const constraintAt = constraint.lastIndexOf('@');
  // `@host` (no local part) is read as the host, as OpenSSL does: an exclusion written so must
  // not be dodged.
  if (constraintAt === 0) return domain === constraint.slice(1).toLowerCase();
  if (constraintAt > 0) {
    return (
      local === constraint.slice(0, constraintAt) &&
      domain === constraint.slice(constraintAt + 1).toLowerCase()
    );
  }
  const base = constraint.toLowerCase();
  if (base.startsWith('.')) return domain.endsWith(base) && domain.length > base.length;
  return domain === base;
}

/** The URI's host against a host (exact) or `.domain` (any host below it). */
function uriWithin(uri: string, constraint: string): boolean {
  const host = uriHost(uri);
  if (host === undefined) return false;
  const base = constraint.toLowerCase();
  if (base.startsWith('.')) return host.endsWith(base) && host.length > base.length;
  return host === base;
}

const hostName = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/**
 * The host of a `scheme://host[:port]...` URI, lower-cased, or `undefined` when the authority is
 * anything else: userinfo, percent-encoding, an IP literal in brackets, a non-numeric port, or a
 * query or fragment right after it. Host names are compared as written: a URL parser's
 * normalization (percent-decoding, userinfo stripping) would let `https://evil@good.test/` or
 * `https://good%2etest/` pass a constraint on `good.test` that OpenSSL, reading the characters
 * up to the first `:` or `/` as the host, refuses.
 *
 * @see RFC 5280 §4.2.1.10 (the constraint applies to the host part), RFC 3986 §3.2
 */
function uriHost(uri: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)([/?#]?)/.exec(uri);
  if (match === null || match[2] === '?' || match[2] === '#') return undefined;
  const authority = (match[1] as string).toLowerCase();
  const colon = authority.indexOf(':');
  const host = colon < 0 ? authority : authority.slice(0, colon);
  if (colon >= 0 && !/^[0-9]*$/.test(authority.slice(colon + 1))) return undefined;
  return hostName.test(host) ? host : undefined;
}

/** Address (4 or 16 octets) against address+mask (8 or 32 octets). */
function ipWithin(address: Uint8Array, range: Uint8Array): boolean {
  if (range.length !== address.length * 2) return false;
  for (let index = 0; index < address.length; index++) {
    const mask = range[address.length + index] as number;
    if (((address[index] as number) & mask) !== ((range[index] as number) & mask)) return false;
  }
  return true;
}

function describe(name: ConstrainedName): string {
  switch (name.type) {
    case 'unchecked':
      return name.what;
    case 'directory':
      return 'subject DN';
    case 'ip':
      return 'iPAddress SAN';
    case 'other':
      return `GeneralName [${name.tag}]`;
    default:
      return `${name.type} name ${JSON.stringify(name.value)}`;
  }
}
