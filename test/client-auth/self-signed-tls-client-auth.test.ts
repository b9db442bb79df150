/**
 * self_signed_tls_client_auth outside the HTTP app: a missing certificate, validity dates checked
 * at the request's clock, and a prepared client without inline keys (the registry refuses such a
 * registration; the authenticator must still fail closed).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SelfSignedTlsClientAuthenticator } from '../../src/client-auth/index.js';
import { createSelfSignedClient, type SelfSignedClient } from '../../src/dev-ca/index.js';
import type { RegisteredClient } from '../../src/registry/index.js';
import { clientOf, presented, registryOf, requestOf } from './support.js';

const dayMs = 86_400_000;

describe('SelfSignedTlsClientAuthenticator', () => {
  let self: SelfSignedClient;
  let client: RegisteredClient;
  const authenticator = new SelfSignedTlsClientAuthenticator({ mtlsTokenEndpoint: undefined });
  beforeAll(async () => {
    self = await createSelfSignedClient({ clientId: 'svc-self', validityDays: 10 });
    client = clientOf(
      registryOf([
        {
          client_id: 'svc-self',
          token_endpoint_auth_method: 'self_signed_tls_client_auth',
          grant_types: ['client_credentials'],
          jwks: { keys: [self.jwk] },
        },
      ]),
      'svc-self',
    );
  });

  it('accepts the registered certificate within its validity', async () => {
    const result = await authenticator.authenticate(
      requestOf({}, { certificate: presented(self.certDer) }),
      client,
    );
    expect(result).toEqual({ client, method: 'self_signed_tls_client_auth' });
  });

  it('refuses a request without a certificate, saying where to send one', async () => {
    await expect(authenticator.authenticate(requestOf({}), client)).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'certificate_missing',
      description: 'self_signed_tls_client_auth needs a client certificate in the TLS handshake',
    });
  });

  it('refuses the registered certificate after notAfter', async () => {
    await expect(
      authenticator.authenticate(
        requestOf(
          {},
          { certificate: presented(self.certDer), nowMs: self.notAfter.getTime() + dayMs },
        ),
        client,
      ),
    ).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'certificate_expired',
      description: 'the client certificate has expired',
    });
  });

  it('refuses the registered certificate before notBefore', async () => {
    await expect(
      authenticator.authenticate(
        requestOf(
          {},
          { certificate: presented(self.certDer), nowMs: self.notBefore.getTime() - dayMs },
        ),
        client,
      ),
    ).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'certificate_not_yet_valid',
      description: 'the client certificate is not yet valid',
    });
  });

  it('fails closed for a client whose keys are not inline', async () => {
    const noKeys: RegisteredClient = { ...client, keys: { kind: 'none' } };
    await expect(
      authenticator.authenticate(requestOf({}, { certificate: presented(self.certDer) }), noKeys),
    ).rejects.toMatchObject({ code: 'invalid_client', reason: 'certificate_not_registered' });
  });
});
