/**
 * The GeneralName CHOICE, shared by subjectAltName and name constraints.
 *
 * @see RFC 5280 §4.2.1.6
 */
import {
  DerError,
  decodeOid,
  isContext,
  isUniversal,
  readChildren,
  readOid,
  readSingle,
  sequenceChildren,
  type Tlv,
  tagClass,
  universalTag,
} from './der.js';
import { type DistinguishedName, dnFromTlv } from './dn.js';

/**
 * A decoded GeneralName; forms Tollgate does not use are kept as `other` with their tag (and, for
 * an otherName, its type-id, and the mailbox of an SmtpUTF8Mailbox written as a UTF8String,
 * which name constraints treat as an rfc822Name, RFC 9598 §6).
 */
export type GeneralName =
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string }
  | { readonly type: 'ip'; readonly bytes: Uint8Array }
  | { readonly type: 'directory'; readonly dn: DistinguishedName }
  | {
      readonly type: 'other';
      readonly tag: number;
      readonly typeId?: string;
      readonly mailbox?: string;
    };

/** id-on-SmtpUTF8Mailbox. @see RFC 9598 §3 */
export const smtpUtf8MailboxOid = '1.3.6.1.5.5.7.8.9';

/** DirectoryString: TeletexString, PrintableString, UniversalString, UTF8String, BMPString. */
const directoryStringTags: ReadonlySet<number> = new Set([
  universalTag.teletexString,
  universalTag.printableString,
  universalTag.universalString,
  universalTag.utf8String,
  universalTag.bmpString,
]);

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
    // The forms Tollgate does not use are still decoded as far as OpenSSL decodes them: a
    // certificate whose SAN does not decode is refused by both (round 22 of the differential).
    case 0:
      return otherName(tlv);
    case 5:
      checkEdiPartyName(tlv);
      return { type: 'other', tag: tlv.tagNumber };
    case 3:
      if (!tlv.constructed) throw new DerError('bad GeneralName encoding');
      return { type: 'other', tag: tlv.tagNumber };
    case 8:
      // registeredID [8] IMPLICIT OBJECT IDENTIFIER.
      if (tlv.constructed) throw new DerError('bad GeneralName encoding');
      decodeOid(tlv.value);
      return { type: 'other', tag: tlv.tagNumber };
    default:
      throw new DerError('unknown GeneralName tag');
  }
}

/** otherName [0] IMPLICIT SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }. */
function otherName(tlv: Tlv): GeneralName {
  if (!tlv.constructed) throw new DerError('bad GeneralName encoding');
  const [typeIdTlv, valueTlv, extra] = readChildren(tlv);
  if (valueTlv === undefined || extra !== undefined) throw new DerError('bad otherName');
  const typeId = readOid(typeIdTlv, 'otherName type-id');
  if (!isContext(valueTlv, 0) || !valueTlv.constructed) throw new DerError('bad otherName value');
  const value = readSingle(valueTlv.value);
  if (typeId !== smtpUtf8MailboxOid) return { type: 'other', tag: 0, typeId };
  const mailbox =
    isUniversal(value, universalTag.utf8String) && !value.constructed
      ? utf8OrUndefined(value.value)
      : undefined;
  return mailbox === undefined
    ? { type: 'other', tag: 0, typeId }
    : { type: 'other', tag: 0, typeId, mailbox };
}

/**
 * ediPartyName [5] IMPLICIT SEQUENCE { nameAssigner [0] DirectoryString OPTIONAL, partyName [1]
 * DirectoryString } (the CHOICE makes both tags explicit).
 */
function checkEdiPartyName(tlv: Tlv): void {
  if (!tlv.constructed) throw new DerError('bad GeneralName encoding');
  const fields = readChildren(tlv);
  let index = 0;
  for (const tag of [0, 1]) {
    const field = fields[index];
    if (field === undefined || !isContext(field, tag)) {
      if (tag === 1) throw new DerError('ediPartyName without partyName');
      continue;
    }
    if (!field.constructed) throw new DerError('bad ediPartyName');
    const text = readSingle(field.value);
    if (
      text.tagClass !== tagClass.universal ||
      text.constructed ||
      !directoryStringTags.has(text.tagNumber)
    ) {
      throw new DerError('bad ediPartyName');
    }
    index++;
  }
  if (index !== fields.length) throw new DerError('bad ediPartyName');
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
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
