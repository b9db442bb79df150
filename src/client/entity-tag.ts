/**
 * Conditional GET for the issuer's documents (RFC 8414 metadata in the SDK, the JWKS in the
 * resource verifier): which `ETag` is worth remembering, and whether a 304 may keep the held
 * document. Shared by `tollgate/client` and `tollgate/resource`, so it imports nothing.
 *
 * A 304 is trusted only as an answer to the condition this side sent: it keeps the document
 * already held and validated, never brings a new one. So a 304 to a request that carried no
 * `If-None-Match` (nothing held, or a document without a tag), a 304 with content, or one naming
 * another tag is a failed fetch.
 *
 * @see RFC 9110 §8.8.3 (ETag), §13.1.2 (If-None-Match), §15.4.5 (304 Not Modified)
 */

/** Longest tag remembered (Tollgate's are 45 characters); a longer one is not sent back. */
export const maxEntityTagLength = 256;

/** RFC 9110 §8.8.3 `entity-tag`, visible ASCII only (obs-text tags are not remembered). */
const entityTagSyntax = /^(?:W\/)?"[\x21\x23-\x7e]*"$/;

/**
 * The response's `ETag` if it is one well-formed entity-tag of at most
 * {@link maxEntityTagLength} characters, else undefined (the document is held without a tag
 * and the next refresh is unconditional).
 *
 * @see RFC 9110 §8.8.3
 */
export function entityTagOf(header: string | null | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const tag = header.trim();
  return tag.length <= maxEntityTagLength && entityTagSyntax.test(tag) ? tag : undefined;
}

/** RFC 9110 §8.8.3.2 weak comparison: the opaque tags are equal, a `W/` prefix ignored. */
function weaklyEqual(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/**
 * Why a 304 cannot keep the held document, or undefined when it can.
 *
 * @param sentTag the tag sent as `If-None-Match`, undefined when the request had no condition.
 * @param answerTag the 304's own `ETag` header, as received.
 * @param contentBytes bytes of content that arrived with the 304.
 * @see RFC 9110 §13.1.2, §15.4.5
 */
export function notModifiedRefusal(
  sentTag: string | undefined,
  answerTag: string | null | undefined,
  contentBytes: number,
): string | undefined {
  if (sentTag === undefined) {
    return 'it answered 304 Not Modified to a request without If-None-Match (no document is held)';
  }
  if (contentBytes > 0) return 'it answered 304 Not Modified with content';
  if (typeof answerTag === 'string' && !weaklyEqual(answerTag.trim(), sentTag)) {
    return 'it answered 304 Not Modified naming another entity tag than the one held';
  }
  return undefined;
}
