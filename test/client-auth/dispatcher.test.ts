/**
 * The dispatcher's choice of method, one test per rule the token-endpoint suites do not reach:
 * an Authorization header without a scheme token, an assertion for a certificate client that sent
 * no certificate, and a certificate client on a listener without mutual-TLS authenticators.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ClientAuthDispatcher, jwtBearerAssertionType } from '../../src/client-auth/index.js';
import { createDevCa, generateSigningJwk, type SigningJwk } from '../../src/dev-ca/index.js';
import { OAuthError } from '../../src/errors/index.js';
import type { ClientRegistry } from '../../src/registry/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { issuer, privateKeyJwtOf, registryOf, requestOf } from './support.js';

describe('ClientAuthDispatcher', () => {
  let registry: ClientRegistry;
  let key: SigningJwk;
  beforeAll(async () => {
    key = await generateSigningJwk('ES256');
    const ca = await createDevCa();
    const self = await ca.issueClient({ clientId: 'unused' });
    registry = registryOf([
      {
        client_id: 'svc-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        grant_types: ['client_credentials'],
        jwks: { keys: [key.publicJwk] },
      },
      {
        client_id: 'svc-mtls',
        token_endpoint_auth_method: 'tls_client_auth',
        grant_types: ['client_credentials'],
        tls_client_auth_subject_dn: self.subject,
      },
    ]);
  });

  const dispatcher = () =>
    new ClientAuthDispatcher({ registry: () => registry, privateKeyJwt: privateKeyJwtOf() });

  it('names Basic in the challenge when the Authorization header has no scheme token', async () => {
    const error = await dispatcher()
      .authenticate(requestOf({ client_id: 'svc-jwt' }, { authorization: ' xyz' }))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({
      code: 'invalid_client',
      reason: 'client_secret_unsupported',
      challengeScheme: 'Basic',
      description: expect.stringMatching(/^HTTP Basic client authentication is not supported/),
    });
  });

  it('keeps the scheme the client used in the challenge', async () => {
    await expect(
      dispatcher().authenticate(requestOf({}, { authorization: 'Digest username="a"' })),
    ).rejects.toMatchObject({ reason: 'client_secret_unsupported', challengeScheme: 'Digest' });
  });

  it('refuses an assertion for a tls_client_auth client that sent no certificate as a method mismatch', async () => {
    const onIdentified = vi.fn();
    const assertion = await signAssertion(key.privateJwk, 'svc-mtls', issuer);
    await expect(
      dispatcher().authenticate(
        requestOf(
          { client_assertion_type: jwtBearerAssertionType, client_assertion: assertion },
          { onIdentified },
        ),
      ),
    ).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'auth_method_mismatch',
      description: 'this client is registered for tls_client_auth, not private_key_jwt',
    });
    expect(onIdentified).toHaveBeenCalledWith('svc-mtls', 'private_key_jwt');
  });

  it('refuses a certificate client on a listener that has no mutual-TLS authenticators', async () => {
    const onIdentified = vi.fn();
    await expect(
      dispatcher().authenticate(requestOf({ client_id: 'svc-mtls' }, { onIdentified })),
    ).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'certificate_missing',
      description: 'tls_client_auth needs a client certificate, and this listener receives none',
    });
    expect(onIdentified).toHaveBeenCalledWith('svc-mtls', 'tls_client_auth');
  });

  it('refuses an unknown client_id without an assertion as unknown_client', async () => {
    await expect(
      dispatcher().authenticate(requestOf({ client_id: 'nobody' })),
    ).rejects.toMatchObject({ code: 'invalid_client', reason: 'unknown_client' });
  });
});
