/**
 * A client removed from the registry while it keeps a connection open and holds a token: the
 * next token request on the same connection is refused, and introspection reports the token it
 * already holds as inactive (RFC 7662 §2.2: this server no longer vouches for a client it does
 * not know), although the token's signature and `exp` are still good.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { postTokenRequest } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { KeepAliveConnection } from '../helpers/keep-alive.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

describe('a client removed from the registry', () => {
  let ca: DevCa;
  let client: IssuedClientCertificate;
  let gateway: JwtClient;
  let server: MtlsTollgate;
  let connection: KeepAliveConnection;
  let dir: string;
  let registryFile: string;
  let kept: Record<string, unknown>;
  let token: string;

  /** What the gateway (a resource server allowed to introspect every token) learns of `token`. */
  const introspect = async (subject: string) => {
    const answer = await postTokenRequest({
      tokenEndpoint: `${server.base}/introspect`,
      params: {
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await createClientAssertion({
          clientId: gateway.clientId,
          audience: server.issuer,
          key: gateway.key.privateJwk,
        }),
        token: subject,
      },
      ca: ca.root.certPem,
    });
    // An introspection answer has no access_token, so the token-response parser calls it a
    // failure; its status and body are what count here.
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return answer.body as Record<string, unknown>;
  };

  beforeAll(async () => {
    ca = await createDevCa();
    client = await ca.issueClient({ clientId: 'svc-leaving' });
    gateway = await makeJwtClient('svc-gateway', 'ES256', { introspect_any_token: true });
    kept = {
      client_id: 'svc-leaving',
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: client.subject,
      scope: 'read',
    };
    dir = await mkdtemp(join(tmpdir(), 'tollgate-removed-'));
    registryFile = join(dir, 'registry.json');
    await writeFile(registryFile, JSON.stringify({ clients: [kept, gateway.metadata] }));
    server = await startMtlsTollgate({
      ca,
      clients: [],
      registryFile,
      // Reloads happen when the test says (as on SIGHUP), never by a poll in between.
      config: { reload: { pollIntervalSeconds: 3600 } },
    });
    connection = await KeepAliveConnection.open(server.base, ca, client);
    const first = await connection.token('svc-leaving');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    token = String(first.body.access_token);
    expect(await introspect(token)).toMatchObject({ active: true, client_id: 'svc-leaving' });

    await writeFile(registryFile, JSON.stringify({ clients: [gateway.metadata] }));
    expect(await server.tg.reload(true)).toContainEqual({ part: 'registry', outcome: 'reloaded' });
  });
  afterAll(async () => {
    connection?.close();
    await server?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('gets no token on the connection it kept open', async () => {
    const socket = connection.socket;
    const after = await connection.token('svc-leaving');
    expect(connection.socket).toBe(socket);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('invalid_client');
  });

  it('has the token it already holds reported inactive by introspection', async () => {
    expect(await introspect(token)).toEqual({ active: false });
  });

  it('cannot introspect its own token any more', async () => {
    const answer = await connection.post(
      '/introspect',
      `client_id=svc-leaving&token=${encodeURIComponent(token)}`,
    );
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
  });

  it('is active again for introspection once registered again (same client_id)', async () => {
    await writeFile(registryFile, JSON.stringify({ clients: [kept, gateway.metadata] }));
    await server.tg.reload(true);
    expect(await introspect(token)).toMatchObject({ active: true, client_id: 'svc-leaving' });
    await writeFile(registryFile, JSON.stringify({ clients: [gateway.metadata] }));
    await server.tg.reload(true);
    expect(await introspect(token)).toEqual({ active: false });
  });
});
