/**
 * Attribute type names for distinguished names: the RFC 4514 §3 short names and the other names
 * certificates commonly carry, all mapped to their OIDs. DNs are compared by OID, so `cn`, `CN`,
 * `commonName` and `2.5.4.3` are the same attribute type.
 *
 * @see RFC 4514 §3, RFC 4519 §2, RFC 5280 Appendix A.1, PKCS #9 (RFC 2985 §5.2.1)
 */

/** Preferred name and aliases for each OID; the first name is the one we print. */
const attributeTypes: readonly (readonly [oid: string, ...names: string[]])[] = [
  ['2.5.4.3', 'CN', 'commonName'],
  ['2.5.4.7', 'L', 'localityName'],
  ['2.5.4.8', 'ST', 'stateOrProvinceName', 'S'],
  ['2.5.4.10', 'O', 'organizationName'],
  ['2.5.4.11', 'OU', 'organizationalUnitName'],
  ['2.5.4.6', 'C', 'countryName'],
  ['2.5.4.9', 'STREET', 'streetAddress'],
  ['0.9.2342.19200300.100.1.25', 'DC', 'domainComponent'],
  ['0.9.2342.19200300.100.1.1', 'UID', 'userId'],
  ['2.5.4.5', 'serialNumber'],
  ['1.2.840.113549.1.9.1', 'emailAddress', 'E', 'email'],
  ['2.5.4.12', 'title'],
  ['2.5.4.42', 'GN', 'givenName'],
  ['2.5.4.4', 'SN', 'surname'],
  ['2.5.4.43', 'initials'],
  ['2.5.4.44', 'generationQualifier'],
  ['2.5.4.46', 'dnQualifier'],
  ['2.5.4.65', 'pseudonym'],
  ['2.5.4.41', 'name'],
  ['2.5.4.13', 'description'],
  ['2.5.4.15', 'businessCategory'],
  ['2.5.4.17', 'postalCode'],
  ['2.5.4.18', 'postOfficeBox'],
  ['2.5.4.97', 'organizationIdentifier'],
  ['2.5.4.45', 'x500UniqueIdentifier'],
  ['1.3.6.1.4.1.311.60.2.1.1', 'jurisdictionL', 'jurisdictionLocalityName'],
  ['1.3.6.1.4.1.311.60.2.1.2', 'jurisdictionST', 'jurisdictionStateOrProvinceName'],
  ['1.3.6.1.4.1.311.60.2.1.3', 'jurisdictionC', 'jurisdictionCountryName'],
];

const oidByName = new Map<string, string>();
const nameByOid = new Map<string, string>();
for (const [oid, ...names] of attributeTypes) {
  nameByOid.set(oid, names[0] as string);
  for (const name of names) oidByName.set(name.toLowerCase(), oid);
}

const numericOid = /^(?:0|[1-9]\d*)(?:\.(?:0|[1-9]\d*))+$/;
const descriptor = /^[A-Za-z][A-Za-z0-9-]*$/;

/**
 * The OID of an attribute type written as a descriptor (case-insensitive) or a numeric OID;
 * `undefined` for an unknown descriptor or a malformed type.
 *
 * @see RFC 4514 §3 (`attributeType = descr / numericoid`)
 */
export function attributeTypeOid(type: string): string | undefined {
  if (numericOid.test(type)) return type;
  if (!descriptor.test(type)) return undefined;
  return oidByName.get(type.toLowerCase());
}

/** The short name we print for an OID, or the OID itself. */
export function attributeTypeName(oid: string): string {
  return nameByOid.get(oid) ?? oid;
}
