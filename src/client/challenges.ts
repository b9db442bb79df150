/**
 * Reads the challenges of a `WWW-Authenticate` value: a comma-separated list in which each
 * challenge is a scheme followed by a token68 or by comma-separated auth-params, so a comma can
 * separate two parameters of one challenge or two challenges. An API that accepts Bearer and DPoP
 * may send both (RFC 9449 §7.2), in one header or in two that `Headers.get` joins with ", ", so
 * the SDK cannot look only at the first scheme.
 *
 * Bounded: at most {@link maxChallengeHeaderLength} characters are read, in one linear pass; a
 * malformed tail ends the parse with what was read so far (the header is advisory: the SDK only
 * uses it to decide whether one retry is worth it).
 *
 * @see RFC 9110 §11.6.1 and §11.2, RFC 9449 §7.1, §7.2 and §9
 */

/** Longest `WWW-Authenticate` value read. */
export const maxChallengeHeaderLength = 8192;

/** One challenge: its scheme in lower case (schemes are case-insensitive) and its auth-params. */
export interface Challenge {
  readonly scheme: string;
  /** Parameter names in lower case; quoted-string values unescaped. */
  readonly params: ReadonlyMap<string, string>;
}

const token = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const whitespace = /[ \t]*/y;
const param =
  /([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+.^_`|~0-9A-Za-z-]+))/y;
const listSeparator = /[ \t]*,[ \t,]*/y;
const token68 = /[A-Za-z0-9\-._~+/]+=*(?=[ \t]*(?:,|$))/y;

/** The challenges of a `WWW-Authenticate` value, in order. */
export function parseChallenges(header: string): Challenge[] {
  const text = header.slice(0, maxChallengeHeaderLength);
  const challenges: Challenge[] = [];
  let at = 0;
  const match = (pattern: RegExp): RegExpExecArray | null => {
    pattern.lastIndex = at;
    const found = pattern.exec(text);
    if (found !== null) at = pattern.lastIndex;
    return found;
  };
  const skipSeparators = () => {
    while (at < text.length && (text[at] === ',' || text[at] === ' ' || text[at] === '\t')) at++;
  };
  skipSeparators();
  while (at < text.length) {
    const scheme = match(token);
    if (scheme === null) break;
    const params = new Map<string, string>();
    challenges.push({ scheme: scheme[0].toLowerCase(), params });
    match(whitespace);
    // auth-params (a comma followed by `name=` continues this challenge; anything else after a
    // comma is the next challenge), or a token68 (as in `Basic abc=`), or nothing.
    let found = match(param);
    if (found === null) match(token68);
    while (found !== null) {
      const name = (found[1] as string).toLowerCase();
      const value =
        found[2] === undefined ? (found[3] as string) : found[2].replace(/\\(.)/g, '$1');
      if (!params.has(name)) params.set(name, value);
      const before = at;
      if (match(listSeparator) === null) break;
      found = match(param);
      if (found === null) at = before;
    }
    match(whitespace);
    // Anything but a comma or the end here is malformed: stop with what was read.
    if (at < text.length && text[at] !== ',') break;
    skipSeparators();
  }
  return challenges;
}
