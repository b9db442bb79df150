/**
 * A minimal DER writer for tests that need encodings the dev CA never produces on purpose
 * (structurally odd certificates, CRLs and extensions). Certificates and CRLs are always taken from
 * the dev CA and only re-assembled here, field by field.
 */
import { readChildren, readSingle } from '../../src/pki/der.js';

function lengthOf(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** One TLV with a single-octet identifier. */
export function tlv(identifier: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  return Uint8Array.from([identifier, ...lengthOf(body.length), ...body]);
}

export const seq = (...content: Uint8Array[]) => tlv(0x30, ...content);
export const set = (...content: Uint8Array[]) => tlv(0x31, ...content);
export const nul = () => tlv(0x05);
export const bool = (value: boolean) => tlv(0x01, Uint8Array.of(value ? 0xff : 0));
export const octets = (...content: Uint8Array[]) => tlv(0x04, ...content);
export const utf8 = (text: string) => tlv(0x0c, Buffer.from(text));
export const bits = (unused: number, bytes: Uint8Array) => tlv(0x03, Uint8Array.of(unused), bytes);
/** A small non-negative INTEGER, minimally encoded. */
export const int = (value: number) => {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  if (bytes.length === 0 || (bytes[0] as number) & 0x80) bytes.unshift(0);
  return tlv(0x02, Uint8Array.from(bytes));
};
/** Context-specific [n], constructed unless `primitive`. */
export const ctx = (n: number, ...content: Uint8Array[]) => tlv(0xa0 | n, ...content);
export const ctxPrimitive = (n: number, ...content: Uint8Array[]) => tlv(0x80 | n, ...content);

export function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const body: number[] = [];
  for (const arc of [a * 40 + b, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      chunk.unshift(0x80 | (value & 0x7f));
    }
    body.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(body));
}

/** An Extension: extnID, optional critical, extnValue wrapping `value`. */
export const extension = (id: string, value: Uint8Array, critical?: boolean) =>
  seq(oid(id), ...(critical === undefined ? [] : [bool(critical)]), octets(value));

/** The raw encodings of the children of a SEQUENCE (or other constructed value). */
export function childrenOf(der: Uint8Array): Uint8Array[] {
  return readChildren(readSingle(der)).map((child) => Uint8Array.from(child.raw));
}

/**
 * Re-assembles a certificate (or CRL) from its three top-level fields after `edit` has changed
 * the fields of the TBS part; `outer` may replace the three top-level fields themselves.
 */
export function reassemble(
  der: Uint8Array,
  edit: (tbsFields: Uint8Array[]) => Uint8Array[],
  outer: (fields: Uint8Array[]) => Uint8Array[] = (fields) => fields,
): Uint8Array {
  const [tbs, algorithm, signature] = childrenOf(der) as [Uint8Array, Uint8Array, Uint8Array];
  return seq(...outer([seq(...edit(childrenOf(tbs))), algorithm, signature]));
}
