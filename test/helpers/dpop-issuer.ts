/**
 * The authorization-server side of a test of DPoP at an API: a dev CA, a `private_key_jwt`
 * client allowed one resource, a proof key, a running Tollgate over TLS, and tokens for that
 * resource DPoP-bound to the key (RFC 9449 §5), fetched from the server as a client would.
 */
import { expect } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { encode, formType, rawRequest } from '../conformance/support.js';
import { makeProof, makeProofKey, type ProofKey } from './dpop.js';
import { type MtlsTollgate, startMtlsTollgate } from './mtls.js';
import { type JwtClient, makeJwtClient } from './tollgate.js';

export interface DpopIssuer {
  readonly ca: DevCa;
  readonly server: MtlsTollgate;
  /** Allowed `resource`, which is also its default. */
  readonly client: JwtClient;
  /** An ES256 proof key. */
  readonly key: ProofKey;
  /** A token for the resource, DPoP-bound to `key` (`cnf.jkt`). */
  readonly token: string;
}

/** Starts the issuer (rate limits off: tests send many requests from one address). */
export async function startDpopIssuer(clientId: string, resource: string): Promise<DpopIssuer> {
  const ca = await createDevCa();
  const client = await makeJwtClient(clientId, 'ES256', {
    allowed_resources: [resource],
    default_resource: resource,
  });
  const key = await makeProofKey('ES256');
  const server = await startMtlsTollgate({
    ca,
    clients: [client.metadata],
    config: { rateLimits: { enabled: false } },
  });
  const issued = await tokenFrom(server, ca, client, key);
  expect(issued.type).toBe('DPoP');
  return { ca, server, client, key, token: issued.token };
}

/**
 * A token for `client` from `server`, with a DPoP proof for its token endpoint when `proofKey`
 * is given; throws unless the server answers 200.
 */
export async function tokenFrom(
  server: MtlsTollgate,
  ca: DevCa,
  client: JwtClient,
  proofKey?: ProofKey,
): Promise<{ token: string; type: unknown }> {
  const res = await rawRequest(server.base, ca.root.certPem, {
    path: '/token',
    headers: {
      'content-type': formType,
      ...(proofKey === undefined
        ? {}
        : { dpop: await makeProof(proofKey, { htu: `${server.issuer}/token` }) }),
    },
    body: encode({
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: await createClientAssertion({
        clientId: client.clientId,
        audience: server.issuer,
        key: client.key.privateJwk,
      }),
    }),
  });
  if (res.status !== 200) throw new Error(res.text);
  return { token: String(res.json?.access_token), type: res.json?.token_type };
}
