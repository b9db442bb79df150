/**
 * Revocation, a revoked intermediate and a removed registration on a connection that stays open:
 * a tls_client_auth client keeps one TLS connection (HTTP keep-alive) and asks for a token on it
 * again after the change was reloaded. The per-connection certificate cache and the shared chain
 * cache must not turn a validation made before the reload into a pass after it (RFC 8705 §2.1:
 * the chain is validated "in accordance with" the server's current trust configuration).
 */
import { writeFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { KeepAliveConnection } from '../helpers/keep-alive.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';

describe('a change reloaded while a client keeps its connection open', () => {
  let server: MtlsTollgate | undefined;
  let connection: KeepAliveConnection | undefined;
  afterEach(async () => {
    connection?.close();
    await server?.dispose();
  });

  async function setUp(pollIntervalSeconds = 3600): Promise<{
    ca: DevCa;
    client: IssuedClientCertificate;
    server: MtlsTollgate;
    connection: KeepAliveConnection;
  }> {
    const ca = await createDevCa();
    const client = await ca.issueClient({ clientId: 'svc-kept' });
    server = await startMtlsTollgate({
      ca,
      clients: [
        {
          client_id: 'svc-kept',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: client.subject,
          scope: 'read',
        },
      ],
      // By default only SIGHUP-style reloads: no poll may run before the test does.
      config: { reload: { pollIntervalSeconds } },
    });
    connection = await KeepAliveConnection.open(server.base, ca, client);
    const first = await connection.token('svc-kept');
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    return { ca, client, server, connection };
  }

  it('refuses the next token on the same connection once the client certificate is revoked', async () => {
    const { ca, client, server, connection } = await setUp();
    const socket = connection.socket;
    ca.revoke({ certPem: client.certPem }, 'keyCompromise');
    await writeFile(server.files.crls, (await ca.crls()).combinedPem);
    const outcomes = await server.tg.reload(true);
    expect(outcomes).toContainEqual({ part: 'trust_store', outcome: 'reloaded' });

    const after = await connection.token('svc-kept');
    // The same TLS connection: no new handshake happened.
    expect(connection.socket).toBe(socket);
    expect(socket.destroyed).toBe(false);
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({
      error: 'invalid_client',
      error_description: 'the client certificate or its chain has been revoked',
    });
  });

  it('refuses it once the intermediate is revoked on the root CRL', async () => {
    const { ca, server, connection } = await setUp();
    ca.revoke({ certPem: ca.intermediate.certPem }, 'cACompromise');
    await writeFile(server.files.crls, (await ca.crls()).combinedPem);
    await server.tg.reload(true);

    const after = await connection.token('svc-kept');
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({
      error: 'invalid_client',
      error_description: 'the client certificate or its chain has been revoked',
    });
  });

  it('refuses it after the next poll, without a SIGHUP (staleness: reload.pollIntervalSeconds)', async () => {
    const { ca, client, server, connection } = await setUp(1);
    ca.revoke({ certPem: client.certPem }, 'keyCompromise');
    await writeFile(server.files.crls, (await ca.crls()).combinedPem);
    // Bounded: the poll runs every second; 100 tries of 100 ms leave it ten chances.
    let answer = await connection.token('svc-kept');
    for (let i = 0; i < 100 && answer.status === 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await connection.token('svc-kept');
    }
    expect(answer.status).toBe(401);
    expect(answer.body.error_description).toBe(
      'the client certificate or its chain has been revoked',
    );
  });
});
