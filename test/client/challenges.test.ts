/**
 * `WWW-Authenticate` parsing in the SDK: a comma separates parameters of one challenge or two
 * challenges (RFC 9110 §11.6.1), and RFC 9449 §7.2 lets an API send Bearer and DPoP together.
 */
import { describe, expect, it } from 'vitest';
import { maxChallengeHeaderLength, parseChallenges } from '../../src/client/challenges.js';

const read = (header: string) =>
  parseChallenges(header).map((challenge) => [
    challenge.scheme,
    Object.fromEntries(challenge.params),
  ]);

describe('parseChallenges', () => {
  it('reads one challenge with quoted and token values, names and schemes in lower case', () => {
    expect(read('DPoP Error="use_dpop_nonce", error_description=x, algs="ES256 PS256"')).toEqual([
      ['dpop', { error: 'use_dpop_nonce', error_description: 'x', algs: 'ES256 PS256' }],
    ]);
  });

  it('tells the parameters of one challenge from the next challenge (RFC 9449 Figures 17 to 19)', () => {
    expect(read('Bearer, DPoP algs="ES256"')).toEqual([
      ['bearer', {}],
      ['dpop', { algs: 'ES256' }],
    ]);
    expect(
      read('Bearer realm="a", error="invalid_token", DPoP realm="a", error="use_dpop_nonce"'),
    ).toEqual([
      ['bearer', { realm: 'a', error: 'invalid_token' }],
      ['dpop', { realm: 'a', error: 'use_dpop_nonce' }],
    ]);
  });

  it('unescapes quoted-pairs and keeps commas inside quoted strings', () => {
    expect(read('Bearer error_description="a, \\"b\\" c", DPoP algs="ES256"')).toEqual([
      ['bearer', { error_description: 'a, "b" c' }],
      ['dpop', { algs: 'ES256' }],
    ]);
  });

  it('skips a token68 and empty list members; the first of a repeated parameter counts', () => {
    expect(read('Basic YWxhZGRpbg==, ,, DPoP error=first, error=second')).toEqual([
      ['basic', {}],
      ['dpop', { error: 'first' }],
    ]);
  });

  it('stops at malformed input with what it read, and reads a bounded prefix', () => {
    expect(read('')).toEqual([]);
    expect(read('Bearer error="unterminated')).toEqual([['bearer', {}]]);
    expect(read('"quoted" DPoP error=x')).toEqual([]);
    const long = `Bearer realm="${'x'.repeat(maxChallengeHeaderLength)}", DPoP error="use_dpop_nonce"`;
    expect(read(long).map(([scheme]) => scheme)).toEqual(['bearer']);
  });
});
