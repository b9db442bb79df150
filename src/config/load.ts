/**
 * Reads a JSON config file, merges it over the defaults, applies environment overrides,
 * validates the result and freezes it. A bad value stops start-up with the field and the reason.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { asymmetricAlgs } from '../jws/index.js';
import { isResourceIndicator } from '../registry/validate.js';
import { jwtSvidAlgs } from '../workload/policy.js';
import { trustDomainProblem } from '../workload/spiffe-id.js';
import {
  defaults,
  devDefaults,
  oidcIssuerSourceDefaults,
  spiffeSourceDefaults,
} from './defaults.js';
import { editDistance, readEnvOverrides } from './env.js';
import { issuerProblem } from './issuer.js';
import { configSchema } from './schema.js';
import type { Config } from './types.js';

/** One problem found in the configuration: the dotted field path and the reason. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  /** The environment variable the bad value came from, when it did. */
  readonly variable?: string;
}

/** The configuration cannot be used; `problems` says where and why. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${describeProblem(p)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** `path: message`, or `path (from $VARIABLE): message` for a value from the environment. */
export function describeProblem(problem: ConfigProblem): string {
  if (problem.path === '(environment)') return `$${problem.variable}: ${problem.message}`;
  const from = problem.variable === undefined ? '' : ` (from $${problem.variable})`;
  return `${problem.path}${from}: ${problem.message}`;
}

export interface LoadConfigOptions {
  /** Config file path; defaults to `$TOLLGATE_CONFIG`; none means the embedded defaults. */
  readonly file?: string | undefined;
  /** Environment: `TOLLGATE_` + the setting path for any setting (see ./env.ts). */
  readonly env?: NodeJS.ProcessEnv;
  /** Base for the defaults' relative paths. */
  readonly cwd?: string;
  /** Inline config object instead of a file (tests, embedding); relative paths use `cwd`. */
  readonly overrides?: unknown;
  /**
   * Development mode (`serve --dev`): layer {@link devDefaults} (the dev PKI's files under
   * `certs/`, relative to `cwd`) between the defaults and the file. Off unless asked for.
   */
  readonly dev?: boolean;
}

/** Setting paths that name files or folders, resolved against the file that set them. */
const pathFields = [
  ['devPkiDir'],
  ['tls', 'certFile'],
  ['tls', 'keyFile'],
  ['signingKeys', 'file'],
  ['registry', 'file'],
  ['clientCertificates', 'trustAnchorFiles'],
  ['clientCertificates', 'intermediateFiles'],
  ['clientCertificates', 'crlFiles'],
  ['dpop', 'nonce', 'secretFile'],
] as const;

// verbose: an error carries its schema (the settings a typo was meant as) and the value found.
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
const validateSchema = ajv.compile(configSchema);

/**
 * Loads, merges, validates and freezes the configuration.
 *
 * @throws ConfigError listing every problem found.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ?? env.TOLLGATE_CONFIG;

  const layers: unknown[] = [];
  if (options.dev === true) layers.push(resolvePaths(structuredClone(devDefaults) as unknown, cwd));
  if (file !== undefined && file !== '') {
    const absolute = resolve(cwd, file);
    layers.push(resolvePaths(readJsonFile(absolute), dirname(absolute)));
  }
  if (options.overrides !== undefined) {
    layers.push(resolvePaths(structuredClone(options.overrides), cwd));
  }
  const fromEnv = readEnvOverrides(env);
  layers.push(resolvePaths(fromEnv.values, cwd));
  let merged: unknown = resolvePaths(structuredClone(defaults) as unknown, cwd);
  for (const layer of layers) merged = deepMerge(merged, layer);
  if (!layers.some((layer) => isPlainObject(layer) && 'issuer' in layer)) {
    merged = withIssuerOnListenerPort(merged);
  }
  return validateConfig(withWorkloadSourceDefaults(merged), {
    sources: fromEnv.sources,
    problems: fromEnv.problems,
  });
}

/**
 * Validates an already merged object (schema and named cross-checks) and freezes it. Every
 * problem is reported at once: a schema error does not hide the semantic errors of other fields.
 * Nothing here reads the environment: NODE_ENV in particular decides nothing about trust (the
 * TOLLGATE_* settings were read into `candidate` before, and `found` says which).
 */
export function validateConfig(
  candidate: unknown,
  found: { sources?: ReadonlyMap<string, string>; problems?: readonly ConfigProblem[] } = {},
): Config {
  const schemaProblems = validateSchema(candidate)
    ? []
    : (validateSchema.errors ?? []).map(toProblem);
  // A cross-check reads fields the schema may have refused: it runs anyway (so its own findings
  // show up beside the schema's), and whatever it says about a refused field is dropped.
  const refused = schemaProblems.map((p) => p.path);
  const overlaps = (path: string) =>
    refused.some(
      (r) => r === path || path.startsWith(`${r}.`) || r.startsWith(`${path}.`) || r === '(root)',
    );
  const semanticProblems = [
    ...unsafeDevDefaultsIsGone(candidate),
    ...crossChecks.flatMap((check) => {
      try {
        return check(candidate as Config);
      } catch {
        return []; // the shape is wrong; the schema problems already say how
      }
    }),
  ].filter((p) => !overlaps(p.path));
  const envProblemPaths = new Set(found.problems?.map((p) => p.path));
  const problems = [
    ...(found.problems ?? []),
    ...[...schemaProblems, ...semanticProblems].filter((p) => !envProblemPaths.has(p.path)),
  ].map((p) => {
    const variable = p.variable ?? sourceOf(p.path, found.sources);
    return variable === undefined ? p : { ...p, variable };
  });
  if (problems.length > 0) throw new ConfigError(problems);
  // The removed setting, accepted as `false` for old config files, is not part of Config.
  const { unsafeDevDefaults: _removed, ...config } = candidate as unknown as Record<
    string,
    unknown
  >;
  return deepFreeze(config as unknown as Config);
}

/** The variable that set `path` or one of its parents (`proxy.trustedCidrs.0`). */
function sourceOf(path: string, sources: ReadonlyMap<string, string> | undefined) {
  for (let p = path; p !== ''; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const variable = sources?.get(p);
    if (variable !== undefined) return variable;
  }
  return undefined;
}

/**
 * Named check "serving needs its own material": the TLS listener's certificate and key, and the
 * access-token signing key file. Outside `serve --dev` none has a default, so a configuration
 * that forgets one is stopped at start (and by `check-config`) with the field to set.
 */
export function servingMaterialProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const needed = [
    ['tls.certFile', config.tls.certFile, 'the server certificate chain (PEM) of the TLS listener'],
    ['tls.keyFile', config.tls.keyFile, 'the private key (PEM) of the TLS listener'],
    ['signingKeys.file', config.signingKeys.file, 'the private JWKS that signs access tokens'],
  ] as const;
  for (const [path, value, what] of needed) {
    if (value === null) {
      problems.push({
        path,
        message: `is required: ${what} (no default outside serve --dev; see docs/configuration.md)`,
      });
    }
  }
  return problems;
}

/**
 * Heap bytes one live claim of the memory replay store may take, with room for growth: about
 * 110 when full (docs/benchmarks.md, MEM) and up to half as much again while its tables and
 * arrays grow.
 */
export const replayClaimHeapBytes = 165;
/** Heap the rest of a serving process is given beside a full memory replay store. */
export const serverHeapBytes = 64 * 1024 * 1024;

/**
 * Named check "a full memory replay store fits in the heap": `replay.maxEntries` live claims must
 * fit in V8's heap limit (`heapLimitBytes`, from `v8.getHeapStatistics().heap_size_limit`) with
 * room for the rest of the server. Otherwise the store would grow, under load or an attack, until
 * the process dies of an out-of-memory error, taking every client's tokens with it; refused at
 * start instead, where the operator can lower the bound or raise the limit.
 */
export function replayHeapProblems(config: Config, heapLimitBytes: number): ConfigProblem[] {
  if (config.replay.store !== 'memory') return [];
  const needed = config.replay.maxEntries * replayClaimHeapBytes + serverHeapBytes;
  if (needed <= heapLimitBytes) return [];
  const mib = (bytes: number) => Math.ceil(bytes / (1024 * 1024));
  return [
    {
      path: 'replay.maxEntries',
      message:
        `${config.replay.maxEntries} live claims need about ${mib(needed)} MiB of heap when the ` +
        `memory replay store is full (${replayClaimHeapBytes} bytes each with growth, plus ` +
        `${mib(serverHeapBytes)} MiB for the rest of the server), more than this process may ` +
        `use (V8's heap limit: ${mib(heapLimitBytes)} MiB): lower replay.maxEntries, or raise the ` +
        `limit (NODE_OPTIONS=--max-old-space-size=${mib(needed) + 256})`,
    },
  ];
}

type CrossCheck = (config: Config) => ConfigProblem[];

/** Named check "dev mode is a flag": the old setting may only say it is off. */
function unsafeDevDefaultsIsGone(candidate: unknown): ConfigProblem[] {
  return (candidate as { unsafeDevDefaults?: unknown }).unsafeDevDefaults === true
    ? [
        {
          path: 'unsafeDevDefaults',
          message:
            'was removed: development defaults are the explicit `tollgate serve --dev` flag (npm start passes it)',
        },
      ]
    : [];
}

/** Profile allowlists for client assertion algorithms. @see DESIGN.md §3 */
export const assertionAlgsByProfile = {
  // Every asymmetric JWS algorithm the JWS core knows: none and HMAC are not among them.
  default: asymmetricAlgs,
  fapi2: ['PS256', 'ES256', 'EdDSA', 'Ed25519'],
} as const;

const issuerIsHttpsWithoutQueryOrFragment: CrossCheck = (config) => {
  const message = issuerProblem(config.issuer);
  return message === undefined ? [] : [{ path: 'issuer', message }];
};

const assertionAlgsWithinProfile: CrossCheck = (config) => {
  if (config.clientAuth.signingAlgs === null) return [];
  const allowed: readonly string[] = assertionAlgsByProfile[config.profile];
  return config.clientAuth.signingAlgs
    .filter((alg) => !allowed.includes(alg))
    .map((alg) => ({
      path: 'clientAuth.signingAlgs',
      message: `${alg} is not allowed by the ${config.profile} profile (allowed: ${allowed.join(', ')})`,
    }));
};

const defaultAudienceIsAbsoluteUri: CrossCheck = (config) => {
  const audience = config.accessToken.defaultAudience;
  if (audience === null || URL.canParse(audience)) return [];
  return [{ path: 'accessToken.defaultAudience', message: 'must be an absolute URI or null' }];
};

/** RFC 9068 §3: a scope infers one default resource, an RFC 8707 resource indicator. */
const resourceScopesAreDisjoint: CrossCheck = (config) => {
  const problems: ConfigProblem[] = [];
  const owner = new Map<string, string>();
  config.accessToken.resourceScopes.forEach(({ resource, scopes }, index) => {
    const path = `accessToken.resourceScopes[${index}]`;
    if (!isResourceIndicator(resource)) {
      problems.push({
        path: `${path}.resource`,
        message: 'must be an absolute URI without a fragment (RFC 8707 §2)',
      });
    }
    for (const scope of scopes) {
      const other = owner.get(scope);
      if (other !== undefined && other !== resource) {
        problems.push({
          path: `${path}.scopes`,
          message: `${scope} already belongs to ${other}: a scope names one resource`,
        });
      }
      owner.set(scope, other ?? resource);
    }
  });
  return problems;
};

const trustedProxiesAreCidrs: CrossCheck = (config) => [
  ...cidrProblems(config.proxy.trustedCidrs, 'proxy.trustedCidrs'),
  ...cidrProblems(config.metrics.allowedCidrs, 'metrics.allowedCidrs'),
];

const cidrProblems = (cidrs: readonly string[], path: string): ConfigProblem[] =>
  cidrs.flatMap((cidr) => {
    const [address = '', prefix] = cidr.split('/');
    const version = isIP(address);
    const max = version === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= max);
    return version !== 0 && prefixOk
      ? []
      : [{ path, message: `${cidr} is not an IP address or CIDR` }];
  });

const mtlsPublicUrlIsHttps: CrossCheck = (config) => {
  const url = config.mtls.publicUrl;
  if (url === null) return [];
  return URL.canParse(url) && new URL(url).protocol === 'https:' && !url.endsWith('/')
    ? []
    : [{ path: 'mtls.publicUrl', message: 'must be an https URL without a trailing "/"' }];
};

const dpopAlgsWithinProfile: CrossCheck = (config) => {
  if (config.dpop.signingAlgs === null) return [];
  const allowed: readonly string[] = assertionAlgsByProfile[config.profile];
  return config.dpop.signingAlgs
    .filter((alg) => !allowed.includes(alg))
    .map((alg) => ({
      path: 'dpop.signingAlgs',
      message: `${alg} is not allowed by the ${config.profile} profile (allowed: ${allowed.join(', ')})`,
    }));
};

/** "nonces required => DPoP enabled". */
const dpopSettingsConsistent: CrossCheck = (config) => {
  const problems: ConfigProblem[] = [];
  if (config.dpop.nonce.required && !config.dpop.enabled) {
    problems.push({ path: 'dpop.nonce.required', message: 'needs dpop.enabled' });
  }
  return problems;
};

/** "the admin listener is enabled => it does not share a port with a token listener". */
const adminListenerIsSeparate: CrossCheck = (config) => {
  const { admin } = config;
  if (!admin.enabled || admin.port === 0) return [];
  const tokenPorts = [
    config.tls.port,
    ...(config.mtls.enabled ? [config.mtls.port] : []),
    ...(config.plain.enabled ? [config.plain.port] : []),
  ];
  return tokenPorts.includes(admin.port)
    ? [
        {
          path: 'admin.port',
          message: `${admin.port} is a token listener's port: /metrics must stay off the token listeners`,
        },
      ]
    : [];
};

/** "one Redis topology": Sentinel and Cluster exclude each other; Sentinel needs its name. */
const oneRedisTopology: CrossCheck = (config) => {
  const { sentinels, sentinelName, clusterNodes, keyPrefix } = config.redis;
  const problems: ConfigProblem[] = [];
  if (sentinels.length > 0 && clusterNodes.length > 0) {
    problems.push({
      path: 'redis.clusterNodes',
      message: 'cannot be combined with redis.sentinels',
    });
  }
  if (sentinels.length > 0 && sentinelName === null) {
    problems.push({ path: 'redis.sentinelName', message: 'is required with redis.sentinels' });
  }
  if (clusterNodes.length > 0 && /[{}]/.test(keyPrefix)) {
    problems.push({
      path: 'redis.keyPrefix',
      message: 'must not contain { or } with redis.clusterNodes (Tollgate adds its own hash tags)',
    });
  }
  return problems;
};

/**
 * Each source has the fields of its kind: a spiffe source one trust domain and exactly one of
 * bundle endpoint (https) and bundle file; an oidc-issuer source an https issuer; algorithms
 * inside the kind's list; names and trust domains / issuers unique.
 */
const workloadSourcesAreComplete: CrossCheck = (config) => {
  const problems: ConfigProblem[] = [];
  const names = new Set<string>();
  const keys = new Set<string>();
  config.workloadIdentity.sources.forEach((source, index) => {
    const at = (field: string) => `workloadIdentity.sources[${index}].${field}`;
    if (names.has(source.name)) problems.push({ path: at('name'), message: 'duplicate name' });
    names.add(source.name);
    const allowed: readonly string[] = source.kind === 'spiffe' ? jwtSvidAlgs : asymmetricAlgs;
    for (const alg of source.algorithms) {
      if (!allowed.includes(alg)) {
        problems.push({
          path: at('algorithms'),
          message: `${alg} is not allowed (${allowed.join(', ')})`,
        });
      }
    }
    if (source.kind === 'spiffe') {
      const problem =
        typeof source.trustDomain === 'string'
          ? trustDomainProblem(source.trustDomain)
          : 'is required';
      if (problem !== undefined) problems.push({ path: at('trustDomain'), message: problem });
      if (keys.has(`spiffe:${source.trustDomain}`)) {
        problems.push({
          path: at('trustDomain'),
          message: 'another source already has this trust domain',
        });
      }
      keys.add(`spiffe:${source.trustDomain}`);
      const endpoint = source.bundleEndpointUrl;
      if ((endpoint === null) === (source.bundleFile === null)) {
        problems.push({
          path: at('bundleEndpointUrl'),
          message: 'set exactly one of bundleEndpointUrl and bundleFile',
        });
      } else if (
        endpoint !== null &&
        !(URL.canParse(endpoint) && new URL(endpoint).protocol === 'https:')
      ) {
        problems.push({
          path: at('bundleEndpointUrl'),
          message: 'must be an https URL (https_web profile)',
        });
      }
      for (const field of ['issuer', 'jwksFile'] as const) {
        if ((source as unknown as Record<string, unknown>)[field] !== undefined) {
          problems.push({ path: at(field), message: 'is only used with kind oidc-issuer' });
        }
      }
    } else {
      const issuer = source.issuer;
      if (
        typeof issuer !== 'string' ||
        !URL.canParse(issuer) ||
        new URL(issuer).protocol !== 'https:'
      ) {
        problems.push({ path: at('issuer'), message: 'must be an https URL' });
      }
      if (keys.has(`issuer:${issuer}`)) {
        problems.push({ path: at('issuer'), message: 'another source already has this issuer' });
      }
      keys.add(`issuer:${issuer}`);
      for (const field of [
        'trustDomain',
        'bundleEndpointUrl',
        'bundleFile',
        'defaultRefreshHintSeconds',
        'maxStalenessSeconds',
      ] as const) {
        if ((source as unknown as Record<string, unknown>)[field] !== undefined) {
          problems.push({ path: at(field), message: 'is only used with kind spiffe' });
        }
      }
    }
  });
  return problems;
};

const crossChecks: readonly CrossCheck[] = [
  dpopAlgsWithinProfile,
  dpopSettingsConsistent,
  adminListenerIsSeparate,
  oneRedisTopology,
  workloadSourcesAreComplete,
  trustedProxiesAreCidrs,
  mtlsPublicUrlIsHttps,
  issuerIsHttpsWithoutQueryOrFragment,
  assertionAlgsWithinProfile,
  defaultAudienceIsAbsoluteUri,
  resourceScopesAreDisjoint,
];

function toProblem(error: ErrorObject): ConfigProblem {
  const path = error.instancePath.split('/').slice(1).join('.') || '(root)';
  if (error.keyword === 'additionalProperties') {
    const key = String((error.params as { additionalProperty?: unknown }).additionalProperty);
    const at = (name: string) => (path === '(root)' ? name : `${path}.${name}`);
    const known = Object.keys(
      (error.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ??
        {},
    );
    const nearest = known
      .map((name) => ({ name, distance: editDistance(key.toLowerCase(), name.toLowerCase()) }))
      .sort((a, b) => a.distance - b.distance)[0];
    return {
      path: at(key),
      message:
        nearest !== undefined && nearest.distance <= 2
          ? `unknown setting; did you mean ${at(nearest.name)}?`
          : 'unknown setting',
    };
  }
  if (error.keyword === 'type') {
    // The kind of value found, never the value (a misplaced secret must not reach the output).
    const data: unknown = error.data;
    const found = Array.isArray(data) ? 'an array' : data === null ? 'null' : `a ${typeof data}`;
    const wanted = (error.params as { type?: unknown }).type;
    const kinds = (Array.isArray(wanted) ? wanted : [wanted]).map(String).join(' or ');
    return { path, message: `must be ${kinds}, not ${found}` };
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    return { path, message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
  }
  return { path, message: error.message ?? 'is invalid' };
}

function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file (check --config or $TOLLGATE_CONFIG)'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied (the file must be readable by the user running tollgate)'
          : code === 'EISDIR'
            ? 'is a folder: name the JSON file in it'
            : (error as Error).message;
    throw new ConfigError([{ path: '(file)', message: `cannot read ${file}: ${why}` }]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError([
      { path: '(file)', message: `${file} is not valid JSON: ${(error as Error).message}` },
    ]);
  }
}

/** The file fields of each workload source, resolved like the other paths. */
const workloadSourcePathFields = ['bundleFile', 'jwksFile', 'caFile'] as const;

/** Each workload source over the defaults of its kind (unknown kinds are left to the schema). */
/**
 * The issuer nobody set follows the TLS listener's port: `TOLLGATE_PORT=8543 npm start` serves
 * metadata whose every URL names 8543 (the default issuer is `https://localhost:<tls.port>`; 443
 * is left out, RFC 3986 §6.2.3). Port 0 (the OS picks one) has no URL before listening: the
 * issuer stays the documented default, and such a setup names its issuer.
 */
function withIssuerOnListenerPort(merged: unknown): unknown {
  const port = isPlainObject(merged) && isPlainObject(merged.tls) ? merged.tls.port : undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    return merged;
  }
  const url = new URL(defaults.issuer);
  url.port = String(port);
  return { ...(merged as object), issuer: url.origin };
}

function withWorkloadSourceDefaults(merged: unknown): unknown {
  const workload = isPlainObject(merged) ? merged.workloadIdentity : undefined;
  const sources = isPlainObject(workload) ? workload.sources : undefined;
  if (!Array.isArray(sources) || !isPlainObject(workload) || !isPlainObject(merged)) return merged;
  const bases: Record<string, unknown> = {
    spiffe: spiffeSourceDefaults,
    'oidc-issuer': oidcIssuerSourceDefaults,
  };
  return {
    ...merged,
    workloadIdentity: {
      ...workload,
      sources: sources.map((source: unknown) => {
        const kind = isPlainObject(source) ? source.kind : undefined;
        const base = typeof kind === 'string' ? bases[kind] : undefined;
        return base === undefined ? source : deepMerge(structuredClone(base), source);
      }),
    },
  };
}

function resolvePaths(input: unknown, base: string): unknown {
  if (!isPlainObject(input)) return input;
  const workload = input.workloadIdentity;
  if (isPlainObject(workload) && Array.isArray(workload.sources)) {
    for (const source of workload.sources as unknown[]) {
      if (!isPlainObject(source)) continue;
      for (const field of workloadSourcePathFields) {
        const value = source[field];
        if (typeof value === 'string' && value !== '') source[field] = resolve(base, value);
      }
    }
  }
  for (const fieldPath of pathFields) {
    let holder: unknown = input;
    for (const key of fieldPath.slice(0, -1))
      holder = isPlainObject(holder) ? holder[key] : undefined;
    const last = fieldPath[fieldPath.length - 1] as string;
    if (!isPlainObject(holder)) continue;
    const value = holder[last];
    if (typeof value === 'string' && value !== '') holder[last] = resolve(base, value);
    if (Array.isArray(value)) {
      holder[last] = value.map((item: unknown) =>
        typeof item === 'string' && item !== '' ? resolve(base, item) : item,
      );
    }
  }
  return input;
}

/** Objects merge key by key; arrays and everything else replace. */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    out[key] = deepMerge(base[key], value);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
