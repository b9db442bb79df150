/**
 * The GeneralName CHOICE, shared by subjectAltName and name constraints.
 *
 * @see RFC 5280 §4.2.1.6
 */
import { DerError, readSingle, sequenceChildren, type Tlv, tagClass } from './der.js';
import { type DistinguishedName, dnFromTlv } from './dn.js';

/** A decoded GeneralName; forms Tollgate does not use are kept as `other` with their tag. */
export type GeneralName =
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string }
  | { readonly type: 'ip'; readonly bytes: Uint8Array }
  | { readonly type: 'directory'; readonly dn: DistinguishedName }
  | { readonly type: 'other'; readonly tag: number };

/** Decodes one GeneralName (context-tagged, IMPLICIT except directoryName). */
export function readGeneralName(tlv: Tlv): GeneralName {
  if (tlv.tagClass !== tagClass.context) throw new DerError('GeneralName must be context-tagged');
  switch (tlv.tagNumber) {
    case 1:
      return { type: 'email', value: ia5(tlv) };
    case 2:
      return { type: 'dns', value: ia5(tlv) };
    case 6:
      return { type: 'uri', value: ia5(tlv) };
    case 7:
      if (tlv.constructed) throw new DerError('iPAddress must be primitive');
      return { type: 'ip', bytes: tlv.value };
    case 4: {
      // directoryName is EXPLICIT: [4] wraps a complete Name.
      if (!tlv.constructed) throw new DerError('directoryName must be constructed');
      return { type: 'directory', dn: dnFromTlv(readSingle(tlv.value)) };
    }
    case 0:
    case 3:
    case 5:
      if (!tlv.constructed) throw new DerError('bad GeneralName encoding');
      return { type: 'other', tag: tlv.tagNumber };
    case 8:
      if (tlv.constructed) throw new DerError('bad GeneralName encoding');
      return { type: 'other', tag: tlv.tagNumber };
    default:
      throw new DerError('unknown GeneralName tag');
  }
}

/** Decodes GeneralNames (SEQUENCE SIZE (1..MAX) OF GeneralName). */
export function readGeneralNames(tlv: Tlv): GeneralName[] {
  const names = sequenceChildren(tlv, 'GeneralNames').map(readGeneralName);
  if (names.length === 0) throw new DerError('empty GeneralNames');
  return names;
}

function ia5(tlv: Tlv): string {
  if (tlv.constructed) throw new DerError('IA5String name must be primitive');
  let text = '';
  for (const octet of tlv.value) {
    if (octet > 0x7f) throw new DerError('non-ASCII IA5String');
    text += String.fromCharCode(octet);
  }
  return text;
}
