/**
 * Strict `application/x-www-form-urlencoded` parsing for OAuth endpoints: one value per
 * parameter, malformed percent-encoding rejected, bounded parameter count.
 *
 * @see RFC 6749 §3.1 and §3.2 (parameters sent without a value are treated as omitted; request
 *   parameters MUST NOT be included more than once), RFC 8707 §2 (`resource` may repeat)
 */

import type { RequestParams } from '../client-auth/index.js';
import { OAuthError } from '../errors/index.js';

/** Parameters that may legitimately appear more than once. */
const repeatable = new Set(['resource']);
const maxParameters = 64;

/** Parsed form parameters. */
export class FormParams implements RequestParams {
  readonly #single: Map<string, string>;
  readonly #multi: Map<string, string[]>;

  constructor(single: Map<string, string>, multi: Map<string, string[]>) {
    this.#single = single;
    this.#multi = multi;
  }

  /** The value of a single-valued parameter; empty values read as absent. */
  get(name: string): string | undefined {
    return this.#single.get(name) ?? this.#multi.get(name)?.[0];
  }

  /** Every non-empty value of a repeatable parameter, in order. */
  getAll(name: string): readonly string[] {
    return (
      this.#multi.get(name) ?? (this.#single.has(name) ? [this.#single.get(name) as string] : [])
    );
  }

  /** Parameter names present, for audit. */
  names(): string[] {
    return [...this.#single.keys(), ...this.#multi.keys()];
  }
}

const invalid = (reason: 'duplicate_parameter' | 'malformed_body', description: string) =>
  new OAuthError('invalid_request', reason, description);

/**
 * Parses a urlencoded body.
 *
 * @throws OAuthError `invalid_request` for duplicates, bad encoding or too many parameters.
 */
export function parseForm(body: string): FormParams {
  const single = new Map<string, string>();
  const multi = new Map<string, string[]>();
  const seen = new Set<string>();
  if (body.length === 0) return new FormParams(single, multi);
  const pairs = body.split('&');
  if (pairs.length > maxParameters)
    throw invalid('malformed_body', `at most ${maxParameters} parameters`);
  for (const pair of pairs) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decode(equals === -1 ? pair : pair.slice(0, equals));
    const value = equals === -1 ? '' : decode(pair.slice(equals + 1));
    if (repeatable.has(name)) {
      if (value === '') continue;
      const values = multi.get(name);
      if (values === undefined) multi.set(name, [value]);
      else values.push(value);
      continue;
    }
    if (seen.has(name)) {
      throw invalid(
        'duplicate_parameter',
        `parameter ${printable(name)} is included more than once`,
      );
    }
    seen.add(name);
    // RFC 6749 §3.1: a parameter without a value is treated as omitted.
    if (value !== '') single.set(name, value);
  }
  return new FormParams(single, multi);
}

function decode(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw invalid('malformed_body', 'the request body has malformed percent-encoding');
  }
}

/** A parameter name fit for an error description: printable ASCII, bounded. */
function printable(name: string): string {
  return /^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(name) ? name : '(unprintable name)';
}
