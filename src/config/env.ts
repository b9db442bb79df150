/**
 * Environment overrides: every setting can be set from a variable named `TOLLGATE_` + its path,
 * each camelCase name in capitals with `_` between words and `__` between levels:
 * `rateLimits.perClient` is `TOLLGATE_RATE_LIMITS__PER_CLIENT`, `issuer` is `TOLLGATE_ISSUER`.
 *
 * The list of variables is derived from the JSON schema, so a new setting gets its variable
 * without anyone writing it down twice. Values are read by the setting's type: numbers,
 * `true`/`false`, `null` where a setting may be null, lists as a JSON array or comma-separated,
 * lists of objects (`registry.clients`) as JSON. An empty variable counts as unset. A value that
 * cannot be read, or a variable that names no setting, is a {@link ConfigProblem} that names the
 * variable; later schema errors on a value that came from the environment name it too.
 */
import { configSchema } from './schema.js';

/** The prefix of every configuration variable. `TOLLGATE_CONFIG` (the file) is not a setting. */
export const envPrefix = 'TOLLGATE_';

/**
 * Short names kept from earlier versions; the full name wins when both are set.
 * @deprecated in the docs in favour of the one mapping, still read.
 */
export const envAliases: Readonly<Record<string, string>> = {
  TOLLGATE_HOST: 'tls.host',
  TOLLGATE_PORT: 'tls.port',
  TOLLGATE_ADMIN_PORT: 'admin.port',
  TOLLGATE_LOG_LEVEL: 'log.level',
  TOLLGATE_REDIS_URL: 'redis.url',
  TOLLGATE_REPLAY_STORE: 'replay.store',
};

/** A problem with one environment variable: the setting path and the variable. */
export interface EnvProblem {
  readonly path: string;
  readonly variable: string;
  readonly message: string;
}

/** One setting as the environment sees it. */
export interface EnvSetting {
  /** Dotted path, e.g. `rateLimits.perClient`. */
  readonly path: string;
  readonly variable: string;
  readonly kind: ValueKind;
}

type ValueKind =
  | 'string'
  | 'integer'
  | 'number'
  | 'boolean'
  | 'string-list'
  | 'json'
  | 'enum'
  | 'string-or-null'
  | 'string-list-or-null';

/** `rateLimits` -> `RATE_LIMITS`, `maxEventLoopDelayMs` -> `MAX_EVENT_LOOP_DELAY_MS`. */
function screamingSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The variable of a setting path. */
export function envVariable(path: readonly string[]): string {
  return `${envPrefix}${path.map(screamingSnake).join('__')}`;
}

interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly enum?: readonly unknown[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
}

function kindOf(node: SchemaNode): ValueKind {
  if (node.enum !== undefined) return 'enum';
  const types = Array.isArray(node.type) ? node.type : [node.type];
  if (types.includes('array')) {
    if (node.items?.type !== 'string') return 'json';
    return types.includes('null') ? 'string-list-or-null' : 'string-list';
  }
  if (types.includes('integer')) return 'integer';
  if (types.includes('number')) return 'number';
  if (types.includes('boolean')) return 'boolean';
  return types.includes('null') ? 'string-or-null' : 'string';
}

function collect(node: SchemaNode, path: string[], out: EnvSetting[]): void {
  if (node.properties !== undefined && node.type === 'object') {
    for (const [key, child] of Object.entries(node.properties)) collect(child, [...path, key], out);
    return;
  }
  out.push({ path: path.join('.'), variable: envVariable(path), kind: kindOf(node) });
}

/** Every setting and its variable, in schema order. */
export const envSettings: readonly EnvSetting[] = (() => {
  const out: EnvSetting[] = [];
  collect(configSchema as unknown as SchemaNode, [], out);
  return out;
})();

const byVariable = new Map(envSettings.map((s) => [s.variable, s]));
const byPath = new Map(envSettings.map((s) => [s.path, s]));
const groups = new Set(
  envSettings.flatMap((s) => {
    const parts = s.path.split('.');
    return parts.slice(0, -1).map((_, i) => envVariable(parts.slice(0, i + 1)));
  }),
);

export interface EnvOverrides {
  /** The overrides as a partial config object (paths not yet resolved). */
  readonly values: Record<string, unknown>;
  /** Setting path -> the variable it came from, so validation can name it. */
  readonly sources: ReadonlyMap<string, string>;
  readonly problems: readonly EnvProblem[];
}

/** Reads every configuration variable in `env`. */
export function readEnvOverrides(env: NodeJS.ProcessEnv): EnvOverrides {
  const values: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  const problems: EnvProblem[] = [];
  const assignments: Array<[EnvSetting, string, string]> = [];
  // Aliases first, so the full names (assigned after) win.
  for (const [alias, path] of Object.entries(envAliases)) {
    const raw = env[alias];
    const setting = byPath.get(path);
    if (raw !== undefined && raw !== '' && setting !== undefined)
      assignments.push([setting, alias, raw]);
  }
  for (const [variable, raw] of Object.entries(env)) {
    if (!variable.startsWith(envPrefix) || raw === undefined || raw === '') continue;
    const setting = byVariable.get(variable);
    if (setting !== undefined) {
      assignments.push([setting, variable, raw]);
      continue;
    }
    const problem = unknownVariable(variable);
    if (problem !== undefined) problems.push(problem);
  }
  for (const [setting, variable, raw] of assignments) {
    const parsed = parseValue(setting.kind, raw);
    if ('problem' in parsed) {
      problems.push({ path: setting.path, variable, message: parsed.problem });
      continue;
    }
    setPath(values, setting.path.split('.'), parsed.value);
    sources.set(setting.path, variable);
  }
  return { values, sources, problems };
}

/**
 * A TOLLGATE_ variable that is not a setting: an error when it is clearly meant as one (it names
 * a group of settings, or uses `__`), ignored otherwise (other tools share the prefix, e.g.
 * `TOLLGATE_CONFIG` or the examples' `TOLLGATE_CERTS`).
 */
function unknownVariable(variable: string): EnvProblem | undefined {
  if (groups.has(variable)) {
    const example = envSettings.find((s) => s.variable.startsWith(`${variable}__`));
    return {
      path: '(environment)',
      variable,
      message: `names a group of settings, not one: set each, e.g. ${example?.variable ?? `${variable}__...`}`,
    };
  }
  if (!variable.includes('__')) return undefined;
  const group = variable.slice(0, variable.indexOf('__'));
  const candidates = envSettings.map((s) => s.variable);
  const nearest = candidates
    .map((candidate) => ({ candidate, distance: editDistance(variable, candidate) }))
    .sort((a, b) => a.distance - b.distance)[0];
  const siblings = candidates.filter((c) => c.startsWith(`${group}__`));
  return {
    path: '(environment)',
    variable,
    message:
      nearest !== undefined && nearest.distance <= 3
        ? `names no setting; did you mean ${nearest.candidate}?`
        : siblings.length > 0
          ? `names no setting; ${group} has ${siblings.join(', ')}`
          : 'names no setting (see docs/configuration.md for the list)',
  };
}

/**
 * Levenshtein distance, for "did you mean" (variable and setting names are short, and come from
 * the operator's own environment or file: O(n*m) is nothing).
 */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

type Parsed = { value: unknown } | { problem: string };

function parseValue(kind: ValueKind, raw: string): Parsed {
  const text = raw.trim();
  switch (kind) {
    case 'integer':
    case 'number': {
      const ok = kind === 'integer' ? /^-?\d+$/.test(text) : /^-?\d+(?:\.\d+)?$/.test(text);
      return ok
        ? { value: Number(text) }
        : { problem: `must be ${kind === 'integer' ? 'an integer' : 'a number'}` };
    }
    case 'boolean':
      if (/^(?:true|1)$/i.test(text)) return { value: true };
      if (/^(?:false|0)$/i.test(text)) return { value: false };
      return { problem: 'must be true or false' };
    case 'string-or-null':
      return { value: text === 'null' ? null : raw };
    case 'string-list-or-null':
      return text === 'null' ? { value: null } : parseList(text);
    case 'string-list':
      return parseList(text);
    case 'json':
      try {
        return { value: JSON.parse(text) as unknown };
      } catch {
        return { problem: 'must be JSON (a list of objects)' };
      }
    default:
      return { value: raw };
  }
}

/** A JSON array of strings, or comma-separated values (`10.0.0.0/8, 192.168.0.0/16`). */
function parseList(text: string): Parsed {
  if (text.startsWith('[')) {
    try {
      const value = JSON.parse(text) as unknown;
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return { value };
    } catch {
      // reported below
    }
    return { problem: 'must be a JSON array of strings, or values separated by commas' };
  }
  return {
    value: text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  };
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let holder = target;
  for (const key of path.slice(0, -1)) {
    const next = holder[key];
    if (typeof next !== 'object' || next === null) holder[key] = {};
    holder = holder[key] as Record<string, unknown>;
  }
  holder[path[path.length - 1] as string] = value;
}
