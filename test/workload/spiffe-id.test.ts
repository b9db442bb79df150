/** SPIFFE ID parsing, `spiffe_id` patterns and registry uniqueness of workload identities. */
import { describe, expect, it } from 'vitest';
import { loadRegistry, RegistryError } from '../../src/registry/index.js';
import {
  compileSpiffeIdPattern,
  parseSpiffeId,
  type SpiffeIdPattern,
  spiffeIdMatches,
  spiffeIdPatternsOverlap,
} from '../../src/workload/index.js';

const pattern = (value: string) => compileSpiffeIdPattern(value) as SpiffeIdPattern;
const id = (value: string) => {
  const parsed = parseSpiffeId(value);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
};

describe('SPIFFE IDs', () => {
  it('parses the grammar of SPIFFE-ID §2 and nothing looser', () => {
    expect(parseSpiffeId('spiffe://example.org/ns/prod/sa/api')).toEqual({
      value: 'spiffe://example.org/ns/prod/sa/api',
      trustDomain: 'example.org',
      path: '/ns/prod/sa/api',
    });
    for (const bad of [
      42,
      'SPIFFE://example.org/a',
      'spiffe://Example.org/a',
      'spiffe://example.org',
      'spiffe://example.org/',
      'spiffe://example.org/a/',
      'spiffe://example.org//a',
      'spiffe://example.org/./a',
      'spiffe://example.org/a/..',
      'spiffe://example.org:443/a',
      'spiffe://user@example.org/a',
      'spiffe://example.org/a?b',
      'spiffe://example.org/a#b',
      'spiffe://example.org/a%20b',
      'spiffe:///a',
      `spiffe://${'a'.repeat(256)}/a`,
      `spiffe://example.org/${'a'.repeat(2048)}`,
    ]) {
      expect(typeof parseSpiffeId(bad), String(bad)).toBe('string');
    }
  });

  it('matches /* on whole path segments only, and exact IDs byte for byte', () => {
    const wild = pattern('spiffe://example.org/client/*');
    expect(spiffeIdMatches(wild, id('spiffe://example.org/client/123'))).toBe(true);
    expect(spiffeIdMatches(wild, id('spiffe://example.org/client/a/b'))).toBe(true);
    expect(spiffeIdMatches(wild, id('spiffe://example.org/client123'))).toBe(false);
    expect(spiffeIdMatches(wild, id('spiffe://example.org/client'))).toBe(false);
    expect(spiffeIdMatches(wild, id('spiffe://example.org.evil/client/1'))).toBe(false);
    const exact = pattern('spiffe://example.org/client');
    expect(spiffeIdMatches(exact, id('spiffe://example.org/client'))).toBe(true);
    expect(spiffeIdMatches(exact, id('spiffe://example.org/Client'))).toBe(false);
    expect(spiffeIdMatches(pattern('spiffe://example.org/*'), id('spiffe://example.org/x'))).toBe(
      true,
    );
    expect(typeof compileSpiffeIdPattern('spiffe://example.org/a*')).toBe('string');
    expect(typeof compileSpiffeIdPattern('spiffe://example.org//*')).toBe('string');
  });

  it('knows when two patterns can match one ID', () => {
    const overlap = (a: string, b: string) => spiffeIdPatternsOverlap(pattern(a), pattern(b));
    expect(overlap('spiffe://td/a/*', 'spiffe://td/a/b')).toBe(true);
    expect(overlap('spiffe://td/a/b', 'spiffe://td/a/*')).toBe(true);
    expect(overlap('spiffe://td/a/*', 'spiffe://td/a/b/*')).toBe(true);
    expect(overlap('spiffe://td/a/*', 'spiffe://td/ab/*')).toBe(false);
    expect(overlap('spiffe://td/a/*', 'spiffe://td/a')).toBe(false);
    expect(overlap('spiffe://td/a', 'spiffe://td/a')).toBe(true);
    expect(overlap('spiffe://td/a', 'spiffe://td/b')).toBe(false);
  });
});

describe('workload identities in the registry', () => {
  const load = (clients: unknown[]) =>
    loadRegistry(
      { file: null, clients },
      {
        allowedAssertionAlgs: ['ES256'],
        createRemoteKeySet: () => {
          throw new Error('unexpected');
        },
      },
    );
  const problems = (clients: unknown[]) => {
    try {
      load(clients);
    } catch (error) {
      if (error instanceof RegistryError) return error.problems.join('\n');
      throw error;
    }
    return '';
  };
  const svid = (clientId: string, spiffeId: string, method = 'spiffe_jwt') => ({
    client_id: clientId,
    token_endpoint_auth_method: method,
    spiffe_id: spiffeId,
  });
  const federated = (clientId: string, identity: unknown) => ({
    client_id: clientId,
    token_endpoint_auth_method: 'federated_jwt',
    federated_identity: identity,
  });

  it('refuses two clients claiming one workload', () => {
    expect(
      problems([svid('a', 'spiffe://td/x/*'), svid('b', 'spiffe://td/x/y', 'spiffe_x509')]),
    ).toMatch(/overlaps spiffe:\/\/td\/x\/\* of "a": two clients cannot claim the same workload/);
    expect(problems([svid('a', 'spiffe://td/x/*'), svid('b', 'spiffe://td/xy')])).toBe('');
    const ledger = { source: 'c', subject: 'system:serviceaccount:p:l' };
    expect(problems([federated('a', ledger), federated('b', ledger)])).toMatch(
      /federated_identity \(c, system:serviceaccount:p:l\) is already registered for "a"/,
    );
  });

  it('validates the workload fields per method', () => {
    expect(problems([{ client_id: 'a', token_endpoint_auth_method: 'spiffe_jwt' }])).toMatch(
      /spiffe_id: spiffe_jwt needs spiffe_id/,
    );
    expect(problems([svid('a', 'https://td/x')])).toMatch(/spiffe_id: not a SPIFFE ID/);
    expect(problems([svid('a', 'spiffe://td/x', 'tls_client_auth')])).toMatch(
      /spiffe_id: is only used with spiffe_jwt or spiffe_x509/,
    );
    expect(problems([federated('a', 'c')])).toMatch(/needs federated_identity \{source, subject\}/);
    expect(problems([federated('a', { source: 'c' })])).toMatch(
      /federated_identity.subject: must be a non-empty printable ASCII string/,
    );
    expect(problems([federated('a', { source: 'c', subject: 's', extra: 1 })])).toMatch(
      /unknown field extra/,
    );
    expect(
      problems([
        { ...svid('a', 'spiffe://td/x'), federated_identity: { source: 'c', subject: 's' } },
      ]),
    ).toMatch(/federated_identity: is only used with federated_jwt/);
    expect(problems([{ ...svid('a', 'spiffe://td/x'), jwks: { keys: [] } }])).toMatch(
      /spiffe_jwt clients register no keys/,
    );
    const client = load([
      federated('k', {
        source: 'c',
        subject: 's',
        kubernetes_namespace: 'ns',
        kubernetes_service_account_uid: 'u',
      }),
    ]).get('k');
    expect(client?.workloadIdentity).toEqual({
      kind: 'federated',
      source: 'c',
      subject: 's',
      namespace: 'ns',
      serviceAccountUid: 'u',
    });
  });
});
