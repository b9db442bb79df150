/** Trust source configuration: kind-specific fields, defaults, and files resolved and read. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { generateKeyPairFor } from '../../src/jws/keygen.js';
import { parseSpiffeBundle } from '../../src/workload/index.js';
import { createTrustDomain } from '../helpers/workload.js';

const load = (sources: unknown[], cwd = tmpdir()) =>
  loadConfig({
    env: {},
    cwd,
    overrides: { unsafeDevDefaults: false, workloadIdentity: { sources } },
  });
const problems = (sources: unknown[]) => {
  try {
    load(sources);
  } catch (error) {
    if (error instanceof ConfigError)
      return error.problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    throw error;
  }
  return '';
};

describe('workloadIdentity.sources', () => {
  it('fills each kind from its defaults and resolves files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-sources-'));
    const config = load(
      [
        { kind: 'spiffe', name: 'mesh', trustDomain: 'example.org', bundleFile: 'bundle.json' },
        { kind: 'oidc-issuer', name: 'k8s', issuer: 'https://k8s.example', jwksFile: 'jwks.json' },
      ],
      dir,
    );
    const [mesh, k8s] = config.workloadIdentity.sources;
    expect(mesh).toMatchObject({
      bundleFile: join(dir, 'bundle.json'),
      maxTokenAgeSeconds: 300,
      jti: 'reuse-allowed',
      maxStalenessSeconds: 3600,
    });
    expect(k8s).toMatchObject({ jwksFile: join(dir, 'jwks.json'), maxTokenAgeSeconds: 3600 });
  });

  it('names each misconfiguration', () => {
    expect(
      problems([{ kind: 'spiffe', name: 'a', trustDomain: 'Example.org', bundleFile: 'b' }]),
    ).toMatch(/trustDomain: trust domain may only contain lower-case/);
    expect(problems([{ kind: 'spiffe', name: 'a', trustDomain: 'td' }])).toMatch(
      /set exactly one of bundleEndpointUrl and bundleFile/,
    );
    expect(
      problems([{ kind: 'spiffe', name: 'a', trustDomain: 'td', bundleEndpointUrl: 'http://x/b' }]),
    ).toMatch(/must be an https URL \(https_web profile\)/);
    expect(
      problems([
        { kind: 'spiffe', name: 'a', trustDomain: 'td', bundleFile: 'b', algorithms: ['EdDSA'] },
      ]),
    ).toMatch(/EdDSA is not allowed/);
    expect(
      problems([
        { kind: 'spiffe', name: 'a', trustDomain: 'td', bundleFile: 'b', issuer: 'https://x' },
      ]),
    ).toMatch(/issuer: is only used with kind oidc-issuer/);
    expect(problems([{ kind: 'oidc-issuer', name: 'a', issuer: 'http://k8s' }])).toMatch(
      /issuer: must be an https URL/,
    );
    expect(
      problems([{ kind: 'oidc-issuer', name: 'a', issuer: 'https://k', trustDomain: 'td' }]),
    ).toMatch(/trustDomain: is only used with kind spiffe/);
    expect(
      problems([
        { kind: 'oidc-issuer', name: 'a', issuer: 'https://k' },
        { kind: 'oidc-issuer', name: 'a', issuer: 'https://k' },
      ]),
    ).toMatch(/duplicate name[\s\S]*another source already has this issuer/);
    expect(
      problems([
        { kind: 'spiffe', name: 'a', trustDomain: 'td', bundleFile: 'b' },
        { kind: 'spiffe', name: 'b', trustDomain: 'td', bundleFile: 'c' },
      ]),
    ).toMatch(/another source already has this trust domain/);
    expect(problems([{ kind: 'magic', name: 'a' }])).toMatch(/kind: must be one of/);
  });
});

describe('SPIFFE bundles', () => {
  it('keeps each use apart and ignores what it does not know', async () => {
    const td = await createTrustDomain('example.org');
    const document = td.bundle({ sequence: 7, refreshHint: 60 });
    const authority = (document.keys as Record<string, unknown>[])[0] as Record<string, unknown>;
    const { x, y } = generateKeyPairFor('ES256').publicKey.export({ format: 'jwk' });
    const otherKey = { x, y };
    expect(authority).toMatchObject({ use: 'x509-svid', kty: 'EC' });
    const keys: unknown[] = [
      ...(document.keys as Record<string, unknown>[]),
      { ...(document.keys as Record<string, unknown>[])[1], use: 'sig', kid: 'generic' },
      { ...(document.keys as Record<string, unknown>[])[1], kid: undefined },
      'not a key',
      { use: 'x509-svid', x5c: ['AAAA'] },
      // RFC 7517 §4.7: the key members must be the certificate's key; §4.2.1: kty is required.
      { ...authority, ...otherKey },
      { ...authority, kty: undefined },
      { ...authority, kty: 'oct' },
    ];
    const bundle = parseSpiffeBundle({ ...document, keys }, 'example.org');
    expect(bundle).toMatchObject({
      sequence: 7,
      refreshHintSeconds: 60,
      empty: false,
      ignoredKeys: 7,
    });
    expect(bundle.jwtKeys.map((key) => key.kid)).toEqual([td.jwtKey.kid]);
    expect(bundle.x509Authorities?.anchors).toHaveLength(1);
    expect(() => parseSpiffeBundle({ keys: [keys[1], keys[1]] }, 'td')).toThrow(
      /duplicate jwt-svid kid/,
    );
    expect(() => parseSpiffeBundle({ keys: 'x' }, 'td')).toThrow(/"keys" array/);
    expect(() => parseSpiffeBundle([], 'td')).toThrow(/JSON object/);
    expect(() => parseSpiffeBundle({ keys: [], spiffe_sequence: -1 }, 'td')).toThrow(
      /spiffe_sequence/,
    );
    expect(() => parseSpiffeBundle({ keys: [], spiffe_refresh_hint: 'soon' }, 'td')).toThrow(
      /refresh_hint/,
    );
    expect(parseSpiffeBundle({ keys: [] }, 'td').empty).toBe(true);
  });

  it('re-reads a bundle file when it changes, keeping the last good one', async () => {
    const { SpiffeTrustSource } = await import('../../src/workload/index.js');
    const td = await createTrustDomain('example.org');
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-bundle-'));
    const file = join(dir, 'bundle.json');
    await writeFile(file, JSON.stringify(td.bundle({ sequence: 1 })));
    let nowMs = 0;
    const errors: unknown[] = [];
    const source = new SpiffeTrustSource({
      name: 'f',
      trustDomain: 'example.org',
      policy: {
        algorithms: ['ES256'],
        maxTokenAgeSeconds: 60,
        clockToleranceSeconds: 0,
        jti: 'reuse-allowed',
      },
      bundleFile: file,
      defaultRefreshHintSeconds: 300,
      maxStalenessSeconds: 0,
      clock: () => nowMs,
      onError: (error) => errors.push(error),
    });
    expect((await source.bundle()).sequence).toBe(1);
    await writeFile(file, JSON.stringify({ keys: [], spiffe_sequence: 2 }));
    expect((await source.bundle()).sequence).toBe(1); // not checked again yet
    nowMs += 1000;
    expect((await source.bundle()).empty).toBe(true);
    await writeFile(file, '{broken');
    nowMs += 1000;
    expect((await source.bundle()).sequence).toBe(2);
    expect(errors).toHaveLength(1);
    await writeFile(file, JSON.stringify(td.bundle({ sequence: 1 })));
    nowMs += 1000;
    expect((await source.bundle()).sequence).toBe(2); // a rollback is refused
    expect(source.status()).toMatchObject({ state: 'fresh', sequence: 2, jwtKeys: 0 });
  });
});
