/** Reading the bearer token (RFC 6750 §2.1) and writing the challenge (RFC 6750 §3). */
import { describe, expect, it } from 'vitest';
import { bearerChallenge, bearerTokenOf, ResourceError } from '../../src/resource/index.js';

const withAuthorization = (...values: string[]) => ({
  rawHeaders: values.flatMap((value) => ['Authorization', value]),
  url: '/orders',
});

function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ResourceError) return `${error.code}/${error.reason}`;
    throw error;
  }
  return 'accepted';
}

describe('bearerTokenOf', () => {
  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc', 'abc'],
    ['BEARER   a-b_c~d+e/f==', 'a-b_c~d+e/f=='],
  ])('reads %j', (value, token) => {
    expect(bearerTokenOf(withAuthorization(value))).toBe(token);
  });

  it.each([
    ['no header', { rawHeaders: [], url: '/' }, 'invalid_token/token_missing'],
    ['another scheme', withAuthorization('Basic dXNlcjpwYXNz'), 'invalid_token/token_missing'],
    ['DPoP', withAuthorization('DPoP abc'), 'invalid_token/token_missing'],
    ['Bearer alone', withAuthorization('Bearer'), 'invalid_request/authorization_malformed'],
    ['two tokens', withAuthorization('Bearer a b'), 'invalid_request/authorization_malformed'],
    ['a quote', withAuthorization('Bearer a"b'), 'invalid_request/authorization_malformed'],
    [
      'a comma list',
      withAuthorization('Bearer a, Basic b'),
      'invalid_request/authorization_malformed',
    ],
    [
      'the header twice',
      withAuthorization('Bearer a', 'Bearer b'),
      'invalid_request/authorization_duplicate',
    ],
    [
      'a token in the query',
      { rawHeaders: ['authorization', 'Bearer a'], url: '/x?access_token=a' },
      'invalid_request/token_in_query',
    ],
    [
      'only a token in the query',
      { rawHeaders: [], url: '/x?a=1&access_token=a' },
      'invalid_request/token_in_query',
    ],
  ])('refuses %s', (_name, request, expected) => {
    expect(reasonOf(() => bearerTokenOf(request))).toBe(expected);
  });
});

describe('bearerChallenge', () => {
  it('has no error attribute when no token was sent (RFC 6750 §3.1)', () => {
    const error = new ResourceError('invalid_token', 'token_missing', 'no access token');
    expect(bearerChallenge(error)).toBe('Bearer');
    expect(bearerChallenge(error, 'orders')).toBe('Bearer realm="orders"');
  });

  it('carries error and error_description for invalid_token', () => {
    const error = new ResourceError('invalid_token', 'expired', 'the access token has expired');
    expect(bearerChallenge(error)).toBe(
      'Bearer error="invalid_token", error_description="the access token has expired"',
    );
  });

  it('carries scope for insufficient_scope', () => {
    const error = new ResourceError('insufficient_scope', 'scope_missing', 'more scope needed', {
      scopes: ['read', 'admin'],
    });
    expect(error.status).toBe(403);
    expect(bearerChallenge(error, 'api')).toBe(
      'Bearer realm="api", error="insufficient_scope", error_description="more scope needed", scope="read admin"',
    );
  });

  it('never lets a quote or backslash break the header', () => {
    const error = new ResourceError('invalid_request', 'token_malformed', 'bad "x" \\ y\n');
    expect(bearerChallenge(error)).toBe(
      'Bearer error="invalid_request", error_description="bad x  y"',
    );
  });

  it('is absent for a 503', () => {
    const error = new ResourceError('temporarily_unavailable', 'jwks_unavailable', 'later');
    expect(bearerChallenge(error)).toBeUndefined();
  });
});
