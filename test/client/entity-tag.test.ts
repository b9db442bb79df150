/** Which ETags the SDK and the verifier remember, and when a 304 may keep the held document. */
import { describe, expect, it } from 'vitest';
import {
  entityTagOf,
  maxEntityTagLength,
  notModifiedRefusal,
} from '../../src/client/entity-tag.js';

describe('entityTagOf', () => {
  it('keeps a strong or weak entity-tag, trimmed', () => {
    expect(entityTagOf('"abc"')).toBe('"abc"');
    expect(entityTagOf(' W/"abc" ')).toBe('W/"abc"');
    expect(entityTagOf('""')).toBe('""');
  });

  it('remembers nothing that is not one well-formed, short, visible-ASCII tag', () => {
    for (const header of [
      undefined,
      null,
      '',
      'abc',
      '"a", "b"',
      '"a"b"',
      '"a b"',
      '"\u00e9"',
      'w/"a"',
      '"a"\r\nx: y',
      `"${'a'.repeat(maxEntityTagLength - 1)}"`,
    ]) {
      expect(entityTagOf(header), String(header)).toBeUndefined();
    }
    expect(entityTagOf(`"${'a'.repeat(maxEntityTagLength - 2)}"`)).toHaveLength(maxEntityTagLength);
  });
});

describe('notModifiedRefusal', () => {
  it('lets a 304 keep the held document when it answers the tag sent', () => {
    expect(notModifiedRefusal('"t"', undefined, 0)).toBeUndefined();
    expect(notModifiedRefusal('"t"', '"t"', 0)).toBeUndefined();
    // RFC 9110 §13.1.2 compares weakly.
    expect(notModifiedRefusal('"t"', 'W/"t"', 0)).toBeUndefined();
    expect(notModifiedRefusal('W/"t"', ' "t" ', 0)).toBeUndefined();
  });

  it('refuses a 304 to no condition, with content, or naming another tag', () => {
    expect(notModifiedRefusal(undefined, '"t"', 0)).toMatch(/without If-None-Match/);
    expect(notModifiedRefusal('"t"', '"t"', 1)).toMatch(/with content/);
    expect(notModifiedRefusal('"t"', '"u"', 0)).toMatch(/another entity tag/);
    expect(notModifiedRefusal('"t"', '', 0)).toMatch(/another entity tag/);
  });
});
