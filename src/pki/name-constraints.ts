/**
 * Name constraints: a CA's permitted and excluded subtrees applied to the certificates below it.
 *
 * Each constraining CA is checked independently against every certificate it governs, which is
 * equivalent to RFC 5280 §6.1's running intersection of permitted subtrees and union of excluded
 * ones. Supported forms: dNSName, rfc822Name (also applied to emailAddress attributes of the
 * subject), uniformResourceIdentifier (by host), iPAddress (v4 and v6, address and mask) and
 * directoryName. A certificate carrying a name of a form that is constrained but not supported
 * (otherName, x400Address, ediPartyName, registeredID) fails: we cannot prove it is permitted.
 *
 * @see RFC 5280 §4.2.1.10, §6.1.3 (b) and (c)
 */
import type { ParsedCertificate } from './certificate.js';
import { dnIsWithin } from './dn.js';
import type { NameConstraints } from './extensions.js';
import type { GeneralName } from './general-name.js';

const emailAddressOid = '1.2.840.113549.1.9.1';

/**
 * Checks one certificate against one CA's constraints; returns the violation or `undefined`.
 *
 * @see RFC 5280 §6.1.3 (b), (c)
 */
export function nameConstraintViolation(
  constraints: NameConstraints,
  certificate: ParsedCertificate,
): string | undefined {
  for (const name of namesOf(certificate)) {
    if (name.type === 'other') {
      // A constrained form we cannot evaluate: refuse rather than guess.
      const constrained = [...constraints.permitted, ...constraints.excluded];
      if (constrained.some((base) => sameForm(base, name))) {
        return `${describe(name)} is constrained but cannot be checked`;
      }
      continue;
    }
    const permitted = constraints.permitted.filter((base) => sameForm(base, name));
    if (permitted.length > 0 && !permitted.some((base) => within(name, base))) {
      return `${describe(name)} is outside the permitted subtrees`;
    }
    if (constraints.excluded.some((base) => sameForm(base, name) && within(name, base))) {
      return `${describe(name)} is inside an excluded subtree`;
    }
  }
  return undefined;
}

/** Every name of the certificate that constraints apply to. */
function namesOf(certificate: ParsedCertificate): GeneralName[] {
  const names: GeneralName[] = [...(certificate.extensions.subjectAltName ?? [])];
  if (certificate.subject.rdns.length > 0)
    names.push({ type: 'directory', dn: certificate.subject });
  for (const rdn of certificate.subject.rdns) {
    for (const attribute of rdn) {
      if (attribute.type === emailAddressOid && attribute.value.kind === 'string') {
        names.push({ type: 'email', value: attribute.value.text });
      }
    }
  }
  return names;
}

function sameForm(base: GeneralName, name: GeneralName): boolean {
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
  if (constraintAt >= 0) {
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
  let host: string;
  try {
    host = new URL(uri).hostname.toLowerCase();
  } catch {
    return false;
  }
  if (host === '') return false;
  const base = constraint.toLowerCase();
  if (base.startsWith('.')) return host.endsWith(base) && host.length > base.length;
  return host === base;
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

function describe(name: GeneralName): string {
  switch (name.type) {
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
