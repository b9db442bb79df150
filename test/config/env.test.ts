/**
 * The environment mapping: every setting has a variable (TOLLGATE_ + path, "__" between levels),
 * each type is read from text, a bad value names its variable, a typo is an error, and the
 * example in docs/configuration.md is what a real `tollgate check-config` prints.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  defaults,
  envAliases,
  envSettings,
  envVariable,
  loadConfig,
} from '../../src/config/index.js';

const problemsOf = (env: NodeJS.ProcessEnv) => {
  try {
    loadConfig({ env, cwd: '/srv/tollgate' });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

/** Every leaf path of the defaults object: the settings a user can write in the file. */
function leafPaths(value: unknown, prefix: string[] = []): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [prefix.join('.')];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}

describe('configuration from the environment', () => {
  it('names the variables TOLLGATE_ + path, "__" between levels', () => {
    expect(envVariable(['rateLimits', 'perClient'])).toBe('TOLLGATE_RATE_LIMITS__PER_CLIENT');
    expect(envVariable(['issuer'])).toBe('TOLLGATE_ISSUER');
    expect(envVariable(['underPressure', 'maxEventLoopDelayMs'])).toBe(
      'TOLLGATE_UNDER_PRESSURE__MAX_EVENT_LOOP_DELAY_MS',
    );
  });

  it('has a variable for every setting of the documented defaults', () => {
    const paths = new Set(envSettings.map((s) => s.path));
    for (const path of leafPaths(defaults)) expect(paths, path).toContain(path);
    // and no two settings share a variable
    expect(new Set(envSettings.map((s) => s.variable)).size).toBe(envSettings.length);
  });

  it('sets every setting from its variable, by type', () => {
    const config = loadConfig({
      cwd: '/srv/tollgate',
      env: {
        TOLLGATE_ISSUER: 'https://as.example',
        TOLLGATE_TLS__PORT: '9443',
        TOLLGATE_TLS__REQUEST_CLIENT_CERT: 'false',
        TOLLGATE_MTLS__ENABLED: '1',
        TOLLGATE_MTLS__PUBLIC_URL: 'https://mtls.as.example',
        TOLLGATE_RATE_LIMITS__PER_CLIENT: '100',
        TOLLGATE_UNDER_PRESSURE__MAX_EVENT_LOOP_UTILIZATION: '0.5',
        TOLLGATE_PROXY__TRUSTED_CIDRS: '10.0.0.0/8, 192.168.0.0/16',
        TOLLGATE_METRICS__ALLOWED_CIDRS: '["127.0.0.1/32"]',
        TOLLGATE_CLIENT_CERTIFICATES__TRUST_ANCHOR_FILES: 'pki/a.pem,pki/b.pem',
        TOLLGATE_CLIENT_AUTH__SIGNING_ALGS: 'ES256,EdDSA',
        TOLLGATE_ACCESS_TOKEN__DEFAULT_AUDIENCE: 'null',
        TOLLGATE_REGISTRY__FILE: 'null',
        TOLLGATE_REGISTRY__CLIENTS:
          '[{"client_id":"env-client","token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://keys.example/jwks"}]',
        TOLLGATE_SIGNING_KEYS__FILE: 'keys/signing.json',
        TOLLGATE_LOG__LEVEL: 'warn',
        TOLLGATE_SHUTDOWN_TIMEOUT_SECONDS: '3',
        // empty means unset
        TOLLGATE_PROFILE: '',
      },
    });
    expect(config.issuer).toBe('https://as.example');
    expect(config.tls.port).toBe(9443);
    expect(config.tls.requestClientCert).toBe(false);
    expect(config.mtls.enabled).toBe(true);
    expect(config.rateLimits.perClient).toBe(100);
    expect(config.underPressure.maxEventLoopUtilization).toBe(0.5);
    expect(config.proxy.trustedCidrs).toEqual(['10.0.0.0/8', '192.168.0.0/16']);
    expect(config.metrics.allowedCidrs).toEqual(['127.0.0.1/32']);
    // paths from the environment start at the working directory
    expect(config.clientCertificates.trustAnchorFiles).toEqual([
      '/srv/tollgate/pki/a.pem',
      '/srv/tollgate/pki/b.pem',
    ]);
    expect(config.signingKeys.file).toBe('/srv/tollgate/keys/signing.json');
    expect(config.clientAuth.signingAlgs).toEqual(['ES256', 'EdDSA']);
    expect(config.accessToken.defaultAudience).toBeNull();
    expect(config.registry.file).toBeNull();
    expect(config.registry.clients[0]?.client_id).toBe('env-client');
    expect(config.log.level).toBe('warn');
    expect(config.shutdownTimeoutSeconds).toBe(3);
    expect(config.profile).toBe(defaults.profile);
  });

  it('keeps the short names of earlier versions; the full name wins', () => {
    for (const [alias, path] of Object.entries(envAliases)) {
      expect(
        envSettings.map((s) => s.path),
        alias,
      ).toContain(path);
    }
    const config = loadConfig({
      env: { TOLLGATE_PORT: '9000', TOLLGATE_HOST: '127.0.0.1', TOLLGATE_TLS__HOST: '::1' },
    });
    expect(config.tls.port).toBe(9000);
    expect(config.tls.host).toBe('::1');
  });

  it('a bad value names the variable it came from', () => {
    const problems = problemsOf({
      TOLLGATE_PORT: 'abc',
      TOLLGATE_METRICS__ENABLED: 'maybe',
      TOLLGATE_REPLAY__MAX_ENTRIES: '0',
      TOLLGATE_PROXY__TRUSTED_CIDRS: '10.0.0.300',
      TOLLGATE_PROFILE: 'strict',
      TOLLGATE_REGISTRY__CLIENTS: '[{',
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'tls.port', variable: 'TOLLGATE_PORT', message: 'must be an integer' },
        {
          path: 'metrics.enabled',
          variable: 'TOLLGATE_METRICS__ENABLED',
          message: 'must be true or false',
        },
        {
          path: 'replay.maxEntries',
          variable: 'TOLLGATE_REPLAY__MAX_ENTRIES',
          message: 'must be >= 1',
        },
        {
          path: 'proxy.trustedCidrs',
          variable: 'TOLLGATE_PROXY__TRUSTED_CIDRS',
          message: '10.0.0.300 is not an IP address or CIDR',
        },
        expect.objectContaining({ path: 'profile', variable: 'TOLLGATE_PROFILE' }),
        expect.objectContaining({
          path: 'registry.clients',
          variable: 'TOLLGATE_REGISTRY__CLIENTS',
        }),
      ]),
    );
    const error = new ConfigError(problems);
    expect(error.message).toContain('tls.port (from $TOLLGATE_PORT): must be an integer');
  });

  it('a variable that names no setting is an error when it is clearly meant as one', () => {
    const problems = problemsOf({
      TOLLGATE_RATE_LIMITS__PER_CLIEN: '5',
      TOLLGATE_TLS: '{"port": 1}',
      // not settings, and not meant as settings: other tools share the prefix
      TOLLGATE_CONFIG: '',
      TOLLGATE_CERTS: 'certs',
    });
    expect(problems.map((p) => p.variable)).toEqual([
      'TOLLGATE_RATE_LIMITS__PER_CLIEN',
      'TOLLGATE_TLS',
    ]);
    expect(problems[0]?.message).toContain('TOLLGATE_RATE_LIMITS__PER_CLIENT');
    expect(problems[1]?.message).toMatch(/names a group of settings.*TOLLGATE_TLS__HOST/);
  });

  it('reports schema and semantic errors of one file together', () => {
    const problems = problemsOf({
      TOLLGATE_ISSUER: 'http://as.example/',
      TOLLGATE_TLS__PORT: '70000',
    });
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual(
      expect.arrayContaining([
        'tls.port: must be <= 65535',
        'issuer: must use the https scheme (RFC 8414 §2)',
      ]),
    );
  });

  it('docs/configuration.md: the check-config example is what the command prints', () => {
    const doc = readFileSync('docs/configuration.md', 'utf8');
    const block =
      /```console\n\$ ((?:TOLLGATE_\S+=\S+ )+)tollgate check-config([^\n]*)\n([\s\S]*?)```/.exec(
        doc,
      );
    expect(block, 'the console example in docs/configuration.md').not.toBeNull();
    const [, assignments = '', args = '', expected = ''] = block ?? [];
    const env = Object.fromEntries(
      assignments
        .trim()
        .split(/\s+/)
        .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
    );
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith('TOLLGATE_')),
    );
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'check-config',
        ...args.trim().split(/\s+/).filter(Boolean),
      ],
      { env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(expected);
    // every variable the doc names is a setting, an alias, or the file
    for (const [variable] of doc.matchAll(/TOLLGATE_[A-Z0-9_]*[A-Z0-9]/g)) {
      if (variable === 'TOLLGATE_RATE_LIMITS__PER_CLIEN') continue; // the example's typo
      const known =
        variable === 'TOLLGATE_CONFIG' ||
        variable in envAliases ||
        envSettings.some((s) => s.variable === variable || s.variable.startsWith(`${variable}__`));
      expect(known, variable).toBe(true);
    }
  });
});
