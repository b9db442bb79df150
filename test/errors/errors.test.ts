/** The protocol error and its serializer: statuses per code, and nothing internal on the wire. */
import { describe, expect, it } from 'vitest';
import {
  asOAuthError,
  isSafeDescription,
  OAuthError,
  reasonCodes,
  toOAuthErrorBody,
} from '../../src/errors/index.js';

describe('OAuthError', () => {
  it('takes the status of its code unless one is given', () => {
    expect(new OAuthError('invalid_client', 'unknown_client', 'unknown client').status).toBe(401);
    expect(new OAuthError('insufficient_scope', 'scope_not_allowed', 'x').status).toBe(403);
    expect(
      new OAuthError('invalid_request', 'rate_limited', 'slow down', { status: 429 }).status,
    ).toBe(429);
  });

  it('keeps the cause for logs only', () => {
    const cause = new Error('secret detail');
    const error = new OAuthError('invalid_client', 'jwks_fetch_failed', 'cannot fetch', { cause });
    expect(error.cause).toBe(cause);
    expect(toOAuthErrorBody(error)).toEqual({
      error: 'invalid_client',
      error_description: 'cannot fetch',
    });
    expect(new OAuthError('invalid_client', 'unknown_client', 'x')).not.toHaveProperty('cause');
  });
});

describe('asOAuthError', () => {
  it('passes an OAuthError through unchanged', () => {
    const error = new OAuthError('invalid_scope', 'scope_not_allowed', 'no');
    expect(asOAuthError(error)).toBe(error);
  });

  it('turns anything else into a detail-free server_error that keeps the cause', () => {
    const cause = new TypeError('Cannot read properties of undefined (reading "kid")');
    const error = asOAuthError(cause);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({
      code: 'server_error',
      reason: 'internal_error',
      status: 500,
      description: 'The server encountered an error.',
    });
    expect(error.cause).toBe(cause);
    expect(JSON.stringify(toOAuthErrorBody(error))).not.toContain('kid');
    expect(asOAuthError('a string').code).toBe('server_error');
  });
});

describe('reason codes and descriptions', () => {
  it('lists each reason code once', () => {
    expect(new Set(reasonCodes).size).toBe(reasonCodes.length);
  });

  it('accepts printable ASCII without quote or backslash only', () => {
    expect(isSafeDescription('client_assertion has expired')).toBe(true);
    expect(isSafeDescription('say "hi"')).toBe(false);
    expect(isSafeDescription('a\\b')).toBe(false);
    expect(isSafeDescription('caf\u00e9')).toBe(false);
    expect(isSafeDescription('line\nbreak')).toBe(false);
  });

  it('puts every description on the wire inside the RFC 6749 §5.2 grammar', () => {
    // A rule's own message quoted into a description (a SPIFFE ID parser's once carried "." and
    // "-"): what goes on the wire is still a valid error_description.
    const error = new OAuthError(
      'invalid_client',
      'assertion_malformed',
      'the sub is not a SPIFFE ID: may only contain ".", "-" \\ caf\u00e9\nnext',
    );
    expect(error.description).toBe(
      "the sub is not a SPIFFE ID: may only contain '.', '-' / caf??next",
    );
    expect(isSafeDescription(toOAuthErrorBody(error).error_description)).toBe(true);
    expect(new OAuthError('invalid_client', 'assertion_malformed', 'plain').description).toBe(
      'plain',
    );
  });
});
