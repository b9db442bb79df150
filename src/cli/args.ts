/**
 * Command-line parsing shared by every `tollgate` command: `node:util` parseArgs underneath, but
 * its errors are rewritten to name the option and the fix (a user never sees parseArgs' own
 * text), `-h`/`--help` is recognised anywhere, `--` ends the options, and an argument that looks
 * like a key id (base64url, so one in 32 begins with `-`) is taken as a positional instead of
 * being refused as an unknown option.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A wrong command line: exit code 2 with the message and a pointer to the help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** One option a command accepts. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
}

export interface CommandLineSpec {
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Most positional arguments accepted (default 0). */
  readonly maxPositionals?: number;
  /**
   * Accept an argument that begins with `-` as a positional when it is not a known option and
   * looks like a JWK thumbprint (RFC 7638: 43 base64url characters) or another long base64url
   * id, so `tollgate keys retire -AbC...` works without `--`.
   */
  readonly idPositionals?: boolean;
}

export interface CommandLine {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
  /** `-h` or `--help` was given (anywhere before `--`). */
  readonly help: boolean;
}

// A base64url id of 16 characters or more, possibly beginning with dashes: never an option name
// (options are short lowercase words), so taking it as a positional cannot swallow a typo.
const idLike = /^-*[A-Za-z0-9_-]{16,}$/;

/**
 * Parses `args` against `spec`.
 *
 * @throws UsageError naming the option that is unknown, misses its value, or is repeated.
 */
export function parseCommandLine(args: readonly string[], spec: CommandLineSpec): CommandLine {
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' } } as const;
  const longNames = new Set(Object.keys(options));
  const shortNames = new Map(
    Object.entries(options).flatMap(([name, o]) =>
      'short' in o && o.short !== undefined ? [[o.short, name] as const] : [],
    ),
  );
  const optionArgs: string[] = [];
  const positionals: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const name = optionName(arg, longNames, shortNames);
    if (name === undefined) {
      if (spec.idPositionals === true && idLike.test(arg)) {
        positionals.push(arg);
        continue;
      }
      throw new UsageError(unknownOption(arg, spec));
    }
    const option = options[name as keyof typeof options] as OptionSpec;
    if (seen.has(name) && option.multiple !== true)
      throw new UsageError(`--${name} may be given once`);
    seen.add(name);
    if (option.type === 'boolean') {
      if (arg.includes('=')) throw new UsageError(`--${name} takes no value`);
      optionArgs.push(`--${name}`);
    } else if (arg.includes('=')) {
      optionArgs.push(`--${name}=${arg.slice(arg.indexOf('=') + 1)}`);
    } else {
      const value = args[i + 1];
      // A value may begin with '-' (a KID, a negative number) but never be another option.
      if (value === undefined || value === '--' || isKnownOption(value, longNames, shortNames))
        throw new UsageError(`--${name} needs a value`);
      // The = form, so parseArgs never calls a value that begins with '-' ambiguous.
      optionArgs.push(`--${name}=${value}`);
      i++;
    }
  }
  const max = spec.maxPositionals ?? 0;
  const parsed = parseArgs({
    args: optionArgs,
    options: options as NonNullable<ParseArgsConfig['options']>,
    strict: true,
    allowPositionals: false,
  });
  const values = parsed.values as CommandLine['values'];
  const help = values.help === true;
  if (!help) {
    if (positionals.length > max) {
      throw new UsageError(
        max === 0
          ? `unexpected argument ${JSON.stringify(positionals[0])}`
          : `unexpected argument ${JSON.stringify(positionals[max])} (at most ${max} expected)`,
      );
    }
  }
  delete values.help;
  return { values, positionals, help };
}

function optionName(
  arg: string,
  longNames: ReadonlySet<string>,
  shortNames: ReadonlyMap<string, string>,
): string | undefined {
  if (arg.startsWith('--')) {
    const name = arg.slice(2).split('=')[0] as string;
    return longNames.has(name) ? name : undefined;
  }
  return arg.length === 2 ? shortNames.get(arg.slice(1)) : undefined;
}

function isKnownOption(
  arg: string,
  longNames: ReadonlySet<string>,
  shortNames: ReadonlyMap<string, string>,
): boolean {
  return optionName(arg, longNames, shortNames) !== undefined;
}

function unknownOption(arg: string, spec: CommandLineSpec): string {
  const name = arg.replace(/^-+/, '').split('=')[0] as string;
  const near = Object.keys(spec.options).find((known) => closeTo(name, known));
  const hints = [near === undefined ? undefined : `did you mean --${near}?`];
  if ((spec.maxPositionals ?? 0) > 0)
    hints.push(`an argument that begins with "-" goes after "--" (-- ${arg})`);
  const hint = hints.filter((h) => h !== undefined).join('; ');
  return `unknown option ${arg}${hint === '' ? '' : ` (${hint})`}`;
}

/** Same letters with one edit or one swap: enough for typos like --confg or --froce. */
function closeTo(a: string, b: string): boolean {
  if (a === b) return false;
  if (Math.abs(a.length - b.length) > 1) return false;
  const sorted = (s: string) => [...s].sort().join('');
  if (a.length === b.length && sorted(a) === sorted(b)) return true;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  const tail = (s: string, skip: number) => s.slice(i + skip);
  return tail(a, 1) === tail(b, 1) || tail(a, 1) === tail(b, 0) || tail(a, 0) === tail(b, 1);
}

/**
 * A file-system error in words, naming the option or setting that gave the path and the fix,
 * never a bare `ENOENT`. Returns undefined for anything else.
 */
export function describeFileError(
  error: unknown,
  label: string,
  missingHint = `check the path; a relative one starts from ${process.cwd()}`,
): string | undefined {
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') return undefined;
  const path = e.path ?? '';
  const what = `${label} ${path}`.trim();
  switch (e.code) {
    case 'ENOENT':
      return `${what}: no such file (${missingHint})`;
    case 'EACCES':
    case 'EPERM':
      return `${what}: permission denied (the file must be readable by the user running tollgate)`;
    case 'EISDIR':
      return `${what}: is a folder, not a file`;
    case 'ENOTDIR':
      return `${what}: a part of the path is not a folder`;
    default:
      return undefined;
  }
}
