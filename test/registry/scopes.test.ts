/**
 * `scopes_supported` from the registry or the config (RFC 8414 §2), and the scope -> resource
 * map (RFC 9068 §3).
 */
import { describe, expect, it } from 'vitest';
import {
  advertisedScopes,
  ClientRegistry,
  maxAdvertisedScopes,
  prepareClient,
  type RegisteredClient,
  scopeResourceMap,
} from '../../src/registry/index.js';

const options = {
  allowedAssertionAlgs: ['ES256'],
  createRemoteKeySet: () => {
    throw new Error('no jwks_uri here');
  },
};

const client = (id: string, scope?: string): RegisteredClient => {
  const prepared = prepareClient(
    {
      client_id: id,
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_dns: `${id}.example`,
      ...(scope === undefined ? {} : { scope }),
    },
    options,
  );
  if (!('client' in prepared)) throw new Error(prepared.problems.join('; '));
  return prepared.client;
};

describe('advertisedScopes', () => {
  const registry = new ClientRegistry([
    client('a', 'write read'),
    client('b', 'read Admin admin'),
    client('c'),
  ]);

  it('null: the union of the registered scopes, in code-unit order, once each', () => {
    expect(advertisedScopes(null, registry)).toEqual(['Admin', 'admin', 'read', 'write']);
    expect(advertisedScopes(null, new ClientRegistry([client('c')]))).toEqual([]);
  });

  it('a configured list replaces the registry (sorted); [] advertises none', () => {
    expect(advertisedScopes(['z', 'read'], registry)).toEqual(['read', 'z']);
    expect(advertisedScopes([], registry)).toEqual([]);
  });

  it('is bounded', () => {
    const many = Array.from({ length: maxAdvertisedScopes + 5 }, (_, i) => `s${1000 + i}`);
    const big = new ClientRegistry([client('m', many.join(' '))]);
    const advertised = advertisedScopes(null, big);
    expect(advertised).toHaveLength(maxAdvertisedScopes);
    expect(advertised[0]).toBe('s1000');
  });
});

describe('scopeResourceMap', () => {
  it('maps each scope to its resource', () => {
    const map = scopeResourceMap([
      { resource: 'https://orders.example', scopes: ['read', 'write'] },
      { resource: 'https://billing.example', scopes: ['pay'] },
    ]);
    expect(Object.fromEntries(map)).toEqual({
      read: 'https://orders.example',
      write: 'https://orders.example',
      pay: 'https://billing.example',
    });
  });
});
