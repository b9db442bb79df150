/**
 * tls_client_auth outside the HTTP app: no trust store configured, and a client whose prepared
 * registration carries no identity (the registry never produces one; the authenticator must still
 * fail closed).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TlsClientAuthenticator } from '../../src/client-auth/index.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { TrustStore } from '../../src/pki/index.js';
import type { RegisteredClient } from '../../src/registry/index.js';
import { clientOf, presented, registryOf, requestOf } from './support.js';

describe('TlsClientAuthenticator', () => {
  let ca: DevCa;
  let leaf: IssuedClientCertificate;
  let client: RegisteredClient;
  let store: TrustStore;
  beforeAll(async () => {
    ca = await createDevCa();
    leaf = await ca.issueClient({ clientId: 'svc-mtls' });
    store = TrustStore.fromPem({
      anchors: [ca.root.certPem],
      intermediates: [ca.intermediate.certPem],
    });
    client = clientOf(
      registryOf([
        {
          client_id: 'svc-mtls',
          token_endpoint_auth_method: 'tls_client_auth',
          grant_types: ['client_credentials'],
          tls_client_auth_subject_dn: leaf.subject,
        },
      ]),
      'svc-mtls',
    );
  });

  it('refuses every certificate when the server has no trust anchors', async () => {
    const authenticator = new TlsClientAuthenticator({
      trustStore: () => undefined,
      mtlsTokenEndpoint: undefined,
    });
    await expect(
      authenticator.authenticate(requestOf({}, { certificate: presented(leaf.certDer) }), client),
    ).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'certificate_untrusted',
      description: 'this server has no trust anchors for tls_client_auth',
    });
  });

  it('accepts the registered subject DN with a trusted chain', async () => {
    const authenticator = new TlsClientAuthenticator({
      trustStore: () => store,
      mtlsTokenEndpoint: undefined,
    });
    const result = await authenticator.authenticate(
      requestOf({}, { certificate: presented(leaf.certDer) }),
      client,
    );
    expect(result).toEqual({ client, method: 'tls_client_auth' });
  });

  it('fails closed for a client without a registered identity, naming no field', async () => {
    const authenticator = new TlsClientAuthenticator({
      trustStore: () => store,
      mtlsTokenEndpoint: undefined,
    });
    const withoutIdentity: RegisteredClient = { ...client, tlsIdentity: undefined };
    await expect(
      authenticator.authenticate(
        requestOf({}, { certificate: presented(leaf.certDer) }),
        withoutIdentity,
      ),
    ).rejects.toMatchObject({
      code: 'invalid_client',
      reason: 'certificate_identity_mismatch',
      description: "the client certificate does not match the client's registered identity",
    });
  });

  it('points a client without a certificate at the mutual-TLS endpoint when there is one', async () => {
    const authenticator = new TlsClientAuthenticator({
      trustStore: () => store,
      mtlsTokenEndpoint: 'https://mtls.tollgate.test/token',
    });
    await expect(authenticator.authenticate(requestOf({}), client)).rejects.toMatchObject({
      reason: 'certificate_missing',
      description:
        'tls_client_auth needs a client certificate: use the mutual-TLS endpoint https://mtls.tollgate.test/token',
    });
  });
});
