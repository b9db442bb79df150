/** The introspection permission of a registered client (RFC 7662 §4). */
import { describe, expect, it } from 'vitest';
import { mayIntrospect, prepareClient } from '../../src/registry/index.js';

const options = {
  allowedAssertionAlgs: ['ES256'],
  createRemoteKeySet: () => {
    throw new Error('no jwks_uri here');
  },
};
const base = {
  client_id: 'rs',
  token_endpoint_auth_method: 'tls_client_auth',
  tls_client_auth_san_dns: 'rs.example',
};

describe('introspection permission', () => {
  it('defaults to own tokens only', () => {
    const prepared = prepareClient(base, options);
    if (!('client' in prepared)) throw new Error(prepared.problems.join('; '));
    const { client } = prepared;
    expect(mayIntrospect(client, { client_id: 'rs', aud: 'https://x' })).toBe(true);
    expect(mayIntrospect(client, { client_id: 'other', aud: 'https://x' })).toBe(false);
  });

  it('served_resources admits tokens whose aud names one of them', () => {
    const prepared = prepareClient(
      { ...base, served_resources: ['https://api.example/orders'] },
      options,
    );
    if (!('client' in prepared)) throw new Error(prepared.problems.join('; '));
    const { client } = prepared;
    expect(
      mayIntrospect(client, { client_id: 'o', aud: ['https://x', 'https://api.example/orders'] }),
    ).toBe(true);
    expect(mayIntrospect(client, { client_id: 'o', aud: 'https://api.example/billing' })).toBe(
      false,
    );
  });

  it('introspect_any_token admits every token', () => {
    const prepared = prepareClient({ ...base, introspect_any_token: true }, options);
    if (!('client' in prepared)) throw new Error(prepared.problems.join('; '));
    expect(mayIntrospect(prepared.client, { client_id: 'o', aud: 'https://x' })).toBe(true);
  });

  it.each([
    [{ served_resources: 'https://x' }, /served_resources: must be an array/],
    [{ served_resources: [] }, /served_resources: must be an array/],
    [{ served_resources: ['not a uri'] }, /served_resources: "not a uri" is not an absolute URI/],
    [{ served_resources: [42] }, /served_resources: 42 is not an absolute URI/],
    [{ introspect_any_token: 'yes' }, /introspect_any_token: must be true or false/],
  ])('refuses %j', (extra, message) => {
    const prepared = prepareClient({ ...base, ...extra }, options);
    expect('problems' in prepared && prepared.problems.join('\n')).toMatch(message);
  });
});
