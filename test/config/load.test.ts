import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  defaults,
  loadConfig,
  replayHeapProblems,
  servingMaterialProblems,
} from '../../src/config/index.js';

const problemsOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('returns the documented defaults, frozen, with paths resolved against cwd', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/tollgate', dev: true });
    expect(config.issuer).toBe(defaults.issuer);
    expect(config.tls.certFile).toBe('/srv/tollgate/certs/server/server.pem');
    expect(config.registry.file).toBe('/srv/tollgate/certs/registry.json');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tls)).toBe(true);
  });

  it('trusts nothing and names no file by default: the dev PKI only with dev mode', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/tollgate' });
    expect(config.tls.certFile).toBeNull();
    expect(config.tls.keyFile).toBeNull();
    expect(config.signingKeys.file).toBeNull();
    expect(config.registry.file).toBeNull();
    expect(config.clientCertificates).toMatchObject({
      trustAnchorFiles: [],
      intermediateFiles: [],
      crlFiles: [],
    });
    // devPkiDir names where `serve --dev` would write; nothing else points under certs/.
    expect(JSON.stringify({ ...config, devPkiDir: undefined })).not.toContain('certs');
    expect(servingMaterialProblems(config).map((p) => p.path)).toEqual([
      'tls.certFile',
      'tls.keyFile',
      'signingKeys.file',
    ]);
    const dev = loadConfig({ env: {}, cwd: '/srv/tollgate', dev: true });
    expect(dev.clientCertificates.trustAnchorFiles).toEqual(['/srv/tollgate/certs/ca/root.pem']);
    expect(dev.signingKeys.file).toBe('/srv/tollgate/certs/signing-keys.json');
    expect(servingMaterialProblems(dev)).toEqual([]);
  });

  it('merges a file over the defaults and resolves its paths against the file folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-config-'));
    const file = join(dir, 'tollgate.json');
    await writeFile(
      file,
      JSON.stringify({
        issuer: 'https://as.example',
        tls: { port: 9443, keyFile: 'keys/server.key' },
      }),
    );
    const config = loadConfig({ file, env: {}, cwd: '/elsewhere', dev: true });
    expect(config.issuer).toBe('https://as.example');
    expect(config.tls.port).toBe(9443);
    expect(config.tls.keyFile).toBe(join(dir, 'keys/server.key'));
    expect(config.tls.certFile).toBe('/elsewhere/certs/server/server.pem');
  });

  it('applies environment overrides', () => {
    const config = loadConfig({
      env: {
        TOLLGATE_PORT: '9000',
        TOLLGATE_ISSUER: 'https://env.example',
        TOLLGATE_LOG_LEVEL: 'warn',
      },
    });
    expect(config.tls.port).toBe(9000);
    expect(config.issuer).toBe('https://env.example');
    expect(config.log.level).toBe('warn');
  });

  it('moves the issuer nobody set with tls.port, and never one that was set', async () => {
    // TOLLGATE_PORT alone: the metadata would otherwise name 8443 while serving elsewhere.
    expect(loadConfig({ env: { TOLLGATE_PORT: '8543' }, dev: true }).issuer).toBe(
      'https://localhost:8543',
    );
    expect(loadConfig({ env: {}, overrides: { tls: { port: 443 } } }).issuer).toBe(
      'https://localhost',
    );
    // Port 0 has no URL before the OS picks one: the documented default stays.
    expect(loadConfig({ env: { TOLLGATE_PORT: '0' } }).issuer).toBe(defaults.issuer);
    // Set by any layer, even to the default's value, the issuer is what was set.
    expect(
      loadConfig({ env: { TOLLGATE_PORT: '8543', TOLLGATE_ISSUER: 'https://localhost:8443' } })
        .issuer,
    ).toBe('https://localhost:8443');
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-config-'));
    const file = join(dir, 'tollgate.json');
    await writeFile(file, JSON.stringify({ issuer: 'https://as.example' }));
    expect(loadConfig({ file, env: { TOLLGATE_PORT: '8543' } }).issuer).toBe('https://as.example');
    // A bad port is the schema's to report, once, and the issuer is not made from it.
    expect(problemsOf(() => loadConfig({ env: {}, overrides: { tls: { port: 70_000 } } }))).toEqual(
      [expect.stringMatching(/^tls\.port: /)],
    );
  });

  it('keeps the admin listener off the token listeners (TOLLGATE_ADMIN_PORT too)', () => {
    expect(loadConfig({ env: { TOLLGATE_ADMIN_PORT: '0' } }).admin.port).toBe(0);
    expect(
      problemsOf(() => loadConfig({ env: { TOLLGATE_PORT: '9464', TOLLGATE_ADMIN_PORT: '9464' } })),
    ).toEqual([
      "admin.port: 9464 is a token listener's port: /metrics must stay off the token listeners",
    ]);
    expect(
      problemsOf(() => loadConfig({ env: {}, overrides: { admin: { port: 'x' as never } } })),
    ).toEqual(['admin.port: must be integer, not a string']);
  });

  it('names the field and the reason for each bad value', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {},
        overrides: {
          accessToken: { lifetimeSeconds: 0, signingAlg: 'HS256' },
          clientAuth: { clockToleranceSeconds: 120 },
          tls: { prot: 8443 },
          profile: 'strict',
        },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'accessToken.lifetimeSeconds: must be >= 1',
        expect.stringMatching(/^accessToken\.signingAlg: must be one of "ES256"/),
        'clientAuth.clockToleranceSeconds: must be <= 60',
        'tls.prot: unknown setting; did you mean tls.port?',
        expect.stringMatching(/^profile: must be one of "default", "fapi2"/),
      ]),
    );
  });

  it('names the setting a typo was meant as, and the kind of value a wrong type had (never the value)', () => {
    expect(
      problemsOf(() =>
        loadConfig({
          env: {},
          overrides: {
            isuer: 'https://as.example',
            Issuer: 'https://as.example',
            somethingElse: 1,
            tls: { port: '8443', certFile: 5 },
            redis: { url: ['redis://:secret-password@localhost'] },
          },
        }),
      ),
    ).toEqual(
      expect.arrayContaining([
        'isuer: unknown setting; did you mean issuer?',
        'Issuer: unknown setting; did you mean issuer?',
        'somethingElse: unknown setting',
        'tls.port: must be integer, not a string',
        'tls.certFile: must be string or null, not a number',
        expect.stringMatching(/^redis\.url: must be string( or null)?, not an array$/),
      ]),
    );
  });

  it('rejects issuers that RFC 8414 forbids', () => {
    for (const [issuer, reason] of [
      ['http://as.example', /https/],
      ['https://as.example?x=1', /query/],
      ['https://as.example#f', /fragment/],
      ['https://as.example/', /end with/],
      ['not a url', /absolute URL/],
    ] as const) {
      expect(problemsOf(() => loadConfig({ env: {}, overrides: { issuer } }))).toEqual([
        expect.stringMatching(reason),
      ]);
    }
  });

  it('takes one Redis topology: Sentinel or Cluster, each with what it needs', () => {
    const redis = (settings: object) =>
      problemsOf(() => loadConfig({ env: {}, overrides: { redis: settings } }));
    expect(redis({ sentinels: ['127.0.0.1:26379'] })).toEqual([
      'redis.sentinelName: is required with redis.sentinels',
    ]);
    expect(
      redis({ sentinels: ['127.0.0.1:26379'], sentinelName: 'p', clusterNodes: ['[::1]:7000'] }),
    ).toEqual(['redis.clusterNodes: cannot be combined with redis.sentinels']);
    expect(redis({ clusterNodes: ['10.0.0.1:7000'], keyPrefix: '{tg}:' })).toEqual([
      expect.stringMatching(/^redis\.keyPrefix: must not contain \{ or \}/),
    ]);
    expect(redis({ clusterNodes: ['no-port'] })).toEqual([
      expect.stringMatching(/^redis\.clusterNodes\.0: /),
    ]);
    const ok = loadConfig({
      env: {},
      overrides: { redis: { clusterNodes: ['127.0.0.1:7000', '[::1]:7001'], replicaAcks: 1 } },
    });
    expect(ok.redis.replicaAcks).toBe(1);
  });

  it('accessToken.resourceScopes: resource indicators, one resource per scope, from the environment too', () => {
    const orders = 'https://orders.example';
    const scoped = (resourceScopes: object) =>
      problemsOf(() => loadConfig({ env: {}, overrides: { accessToken: { resourceScopes } } }));
    expect(
      scoped([
        { resource: orders, scopes: ['read', 'write'] },
        { resource: 'https://billing.example', scopes: ['pay', 'read'] },
      ]),
    ).toEqual([
      'accessToken.resourceScopes[1].scopes: read already belongs to https://orders.example: a scope names one resource',
    ]);
    expect(scoped([{ resource: 'https://x.example/#f', scopes: ['a'] }])).toEqual([
      expect.stringMatching(/^accessToken\.resourceScopes\[0\]\.resource: must be an absolute URI/),
    ]);
    expect(scoped([{ resource: orders, scopes: ['two words'] }])).toEqual([
      expect.stringMatching(/^accessToken\.resourceScopes\.0\.scopes\.0: /),
    ]);
    // The same resource listed twice with the same scope is not a conflict.
    const config = loadConfig({
      env: {
        TOLLGATE_ACCESS_TOKEN__RESOURCE_SCOPES: JSON.stringify([
          { resource: orders, scopes: ['read'] },
          { resource: orders, scopes: ['read', 'write'] },
        ]),
      },
    });
    expect(config.accessToken.resourceScopes[1]).toEqual({
      resource: orders,
      scopes: ['read', 'write'],
    });
  });

  it('refuses assertion algorithms outside the profile', () => {
    expect(
      problemsOf(() =>
        loadConfig({
          env: {},
          overrides: { profile: 'fapi2', clientAuth: { signingAlgs: ['RS256'] } },
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^clientAuth\.signingAlgs: RS256 is not allowed by the fapi2 profile/),
    ]);
  });

  it('lets NODE_ENV decide nothing, and refuses the removed unsafeDevDefaults switch', () => {
    for (const NODE_ENV of ['production', 'Production', 'development', undefined]) {
      const config = loadConfig({ env: { NODE_ENV } });
      expect(config.clientCertificates.trustAnchorFiles).toEqual([]);
      expect(config.signingKeys.file).toBeNull();
    }
    expect(
      problemsOf(() => loadConfig({ env: {}, overrides: { unsafeDevDefaults: true } })),
    ).toEqual([expect.stringMatching(/^unsafeDevDefaults: was removed: .*tollgate serve --dev/)]);
    // `false` (what production configs of earlier versions said) still loads, and is dropped.
    const config = loadConfig({
      env: { NODE_ENV: 'production' },
      overrides: { unsafeDevDefaults: false },
    });
    expect('unsafeDevDefaults' in config).toBe(false);
  });

  it('reports an unreadable or non-JSON file', async () => {
    expect(problemsOf(() => loadConfig({ env: {}, file: '/nonexistent/tollgate.json' }))).toEqual([
      expect.stringMatching(/cannot read/),
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-config-'));
    const file = join(dir, 'bad.json');
    await writeFile(file, '{ issuer: ');
    expect(problemsOf(() => loadConfig({ env: {}, file }))).toEqual([
      expect.stringMatching(/not valid JSON/),
    ]);
  });
});

describe('replayHeapProblems', () => {
  const withReplay = (store: 'memory' | 'redis', maxEntries: number) => {
    const config = loadConfig({ env: {}, cwd: '/srv/tollgate', dev: true });
    return { ...config, replay: { ...config.replay, store, maxEntries } };
  };
  const mib = 1024 * 1024;

  it('passes when a full store and the server fit in the heap limit, and refuses one byte less', () => {
    // 1,000,000 claims x 165 bytes + 64 MiB = 232,108,864 bytes.
    const needed = 1_000_000 * 165 + 64 * mib;
    expect(replayHeapProblems(withReplay('memory', 1_000_000), needed)).toEqual([]);
    const [problem, ...rest] = replayHeapProblems(withReplay('memory', 1_000_000), needed - 1);
    expect(rest).toEqual([]);
    expect(problem?.path).toBe('replay.maxEntries');
    expect(problem?.message).toContain('1000000 live claims need about 222 MiB of heap');
    expect(problem?.message).toContain("V8's heap limit: 222 MiB");
  });

  it('does not apply to the Redis store, whose claims live in Redis', () => {
    expect(replayHeapProblems(withReplay('redis', 100_000_000), 256 * mib)).toEqual([]);
  });
});
