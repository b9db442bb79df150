/**
 * The S5 path (a TLS session resumed from a ticket, no Certificate message) after a withdrawal:
 * the intermediate revoked on the root CRL, or the client removed from the registry. A resumed
 * session carries the leaf of the handshake that made it; it must be validated and looked up
 * again like a new connection, never accepted because the session once was
 * (test/features/resumption.test.ts covers a revoked leaf).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { KeepAliveConnection } from '../helpers/keep-alive.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';

describe('a resumed TLS session after a withdrawal', () => {
  let server: MtlsTollgate | undefined;
  const connections: KeepAliveConnection[] = [];
  let dir: string | undefined;
  afterEach(async () => {
    for (const connection of connections.splice(0)) connection.close();
    await server?.dispose();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** A server, a first full handshake that gets a token, and that session's ticket. */
  async function firstSession(): Promise<{
    ca: DevCa;
    client: IssuedClientCertificate;
    server: MtlsTollgate;
    registryFile: string;
    ticket: Buffer;
  }> {
    const ca = await createDevCa();
    const client = await ca.issueClient({ clientId: 'svc-resumed' });
    dir = await mkdtemp(join(tmpdir(), 'tollgate-resumed-'));
    const registryFile = join(dir, 'registry.json');
    await writeFile(
      registryFile,
      JSON.stringify({
        clients: [
          {
            client_id: 'svc-resumed',
            token_endpoint_auth_method: 'tls_client_auth',
            tls_client_auth_subject_dn: client.subject,
            scope: 'read',
          },
        ],
      }),
    );
    server = await startMtlsTollgate({
      ca,
      clients: [],
      registryFile,
      config: { reload: { pollIntervalSeconds: 3600 } },
    });
    const first = await KeepAliveConnection.open(server.base, ca, client);
    connections.push(first);
    const token = await first.token('svc-resumed');
    expect(token.status, JSON.stringify(token.body)).toBe(200);
    expect(first.resumed).toBe(false);
    const ticket = first.sessionTicket;
    if (ticket === undefined) throw new Error('the server sent no session ticket');
    // A resumed session before any change still gets a token: the session itself works.
    const again = await KeepAliveConnection.open(server.base, ca, client, ticket);
    connections.push(again);
    expect(again.resumed).toBe(true);
    expect((await again.token('svc-resumed')).status).toBe(200);
    return { ca, client, server, registryFile, ticket };
  }

  it('is refused once the intermediate is revoked on the root CRL', async () => {
    const { ca, client, server, ticket } = await firstSession();
    ca.revoke({ certPem: ca.intermediate.certPem }, 'cACompromise');
    await writeFile(server.files.crls, (await ca.crls()).combinedPem);
    await server.tg.reload(true);

    const resumed = await KeepAliveConnection.open(server.base, ca, client, ticket);
    connections.push(resumed);
    expect(resumed.resumed).toBe(true);
    const answer = await resumed.token('svc-resumed');
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({
      error: 'invalid_client',
      error_description: 'the client certificate or its chain has been revoked',
    });
  });

  it('is refused once the client is removed from the registry', async () => {
    const { ca, client, server, registryFile, ticket } = await firstSession();
    await writeFile(registryFile, JSON.stringify({ clients: [] }));
    expect(await server.tg.reload(true)).toContainEqual({ part: 'registry', outcome: 'reloaded' });

    const resumed = await KeepAliveConnection.open(server.base, ca, client, ticket);
    connections.push(resumed);
    expect(resumed.resumed).toBe(true);
    const answer = await resumed.token('svc-resumed');
    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
  });
});
