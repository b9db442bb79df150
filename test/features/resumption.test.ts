/**
 * TLS session resumption and certificate binding, over real sockets. A resumed session carries
 * the certificate of the handshake that created it (TLS 1.3 PSK resumption sends no new
 * Certificate message), so the token is bound to that same certificate by construction; only the
 * holder of the session's resumption secret can resume it. What Tollgate still re-checks on a
 * resumed connection is whatever can change meanwhile: revocation (a reloaded CRL) and expiry.
 * A resumed session has the leaf but not the chain the client sent (OpenSSL keeps only the leaf),
 * so a deployment that relies on clients sending their intermediate must still validate it.
 */
import { writeFile } from 'node:fs/promises';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate, thumbprintOf } from '../helpers/mtls.js';

const body = 'grant_type=client_credentials&client_id=svc-resume';
const tokenRequest = `POST /token HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
/** What the SDK and the CLI send first, on a connection whose certificate nothing validates. */
const metadataRequest =
  'GET /.well-known/oauth-authorization-server HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly resumed: boolean;
  readonly session: Buffer | undefined;
}

/** One request (a token request unless given) on a fresh TLS connection, resuming `session`. */
function tokenOverNewConnection(
  server: MtlsTollgate,
  ca: DevCa,
  client: IssuedClientCertificate,
  session?: Buffer,
  request = tokenRequest,
): Promise<Answer> {
  const url = new URL(server.base);
  return new Promise((resolve, reject) => {
    let saved: Buffer | undefined;
    let resumed = false;
    const options: ConnectionOptions = {
      host: url.hostname,
      port: Number(url.port),
      servername: 'localhost',
      ca: ca.root.certPem,
      cert: client.chainPem,
      key: client.keyPem,
      ...(session === undefined ? {} : { session }),
    };
    const socket: TLSSocket = connect(options, () => {
      resumed = socket.isSessionReused();
      socket.write(request);
    });
    // TLS 1.3 tickets arrive after the handshake; keep the last one for the next connection.
    socket.on('session', (ticket: Buffer) => {
      saved = ticket;
    });
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      raw += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', text = ''] = raw.split('\r\n\r\n');
      const status = Number(head.split(' ')[1]);
      const json = text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
      resolve({
        status,
        body: JSON.parse(json) as Record<string, unknown>,
        resumed,
        session: saved,
      });
    });
  });
}

describe('TLS session resumption', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let client: IssuedClientCertificate;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await ca.issueClient({ clientId: 'svc-resume' });
    server = await startMtlsTollgate({
      ca,
      clients: [
        {
          client_id: 'svc-resume',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: client.subject,
          scope: 'read',
        },
      ],
      // Poll the CRL file often, so the revocation below is picked up without a SIGHUP.
      config: { reload: { pollIntervalSeconds: 1 } },
    });
  });
  afterAll(() => server?.dispose());

  it('binds the token of a resumed session to the certificate of the original handshake', async () => {
    const first = await tokenOverNewConnection(server, ca, client);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.resumed).toBe(false);
    expect(first.session).toBeDefined();
    const expected = thumbprintOf(client.certPem);
    expect(claimsOf(String(first.body.access_token)).cnf).toEqual({ 'x5t#S256': expected });

    const second = await tokenOverNewConnection(server, ca, client, first.session);
    expect(second.resumed).toBe(true);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(claimsOf(String(second.body.access_token)).cnf).toEqual({ 'x5t#S256': expected });
  });

  it('notices a revocation on a resumed session: the CRL is checked again, the session is not a pass', async () => {
    const first = await tokenOverNewConnection(server, ca, client);
    expect(first.status).toBe(200);
    ca.revoke({ certPem: client.certPem }, 'keyCompromise');
    await writeFile(server.files.crls, (await ca.crls()).combinedPem);
    await server.tg.reload(true);

    const resumed = await tokenOverNewConnection(server, ca, client, first.session);
    expect(resumed.resumed).toBe(true);
    expect(resumed.status).toBe(401);
    expect(resumed.body.error).toBe('invalid_client');
  });
});

describe('TLS session resumption when only the client knows its intermediate', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let client: IssuedClientCertificate;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await ca.issueClient({ clientId: 'svc-resume' });
    server = await startMtlsTollgate({
      ca,
      // Only the root is configured (and so no CRLs: a CRL's issuer must be configured): the
      // path needs the intermediate the client sends.
      intermediates: false,
      crls: false,
      clients: [
        {
          client_id: 'svc-resume',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: client.subject,
          scope: 'read',
        },
      ],
    });
  });
  afterAll(() => server?.dispose());

  it('validates a resumed session with the chain its client sent on the full handshake', async () => {
    const first = await tokenOverNewConnection(server, ca, client);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.resumed).toBe(false);

    const second = await tokenOverNewConnection(server, ca, client, first.session);
    expect(second.resumed).toBe(true);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(claimsOf(String(second.body.access_token)).cnf).toEqual({
      'x5t#S256': thumbprintOf(client.certPem),
    });
  });

  it('validates a resumed session whose full handshake only fetched metadata (the SDK and CLI order)', async () => {
    // A new certificate of the same client: no validation of this leaf has happened yet.
    const renewed = await ca.issueClient({ clientId: 'svc-resume' });
    expect(renewed.subject).toBe(client.subject);
    const metadata = await tokenOverNewConnection(server, ca, renewed, undefined, metadataRequest);
    expect(metadata.status).toBe(200);
    expect(metadata.resumed).toBe(false);
    const token = await tokenOverNewConnection(server, ca, renewed, metadata.session);
    expect(token.resumed).toBe(true);
    expect(token.status, JSON.stringify(token.body)).toBe(200);
  });
});
