/**
 * RFC 8414 §2 and RFC 8705 §3.3 read literally: the metadata says what this token endpoint
 * supports. A deployment where no listener receives client certificates (the TLS listener does
 * not ask for one, no mutual-TLS alias, no trusted proxy) can neither authenticate nor bind with
 * a certificate, so it must not advertise either. Real TLS listener on 127.0.0.1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { freePort } from '../helpers/net.js';
import {
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
} from '../helpers/tollgate.js';
import { encode, formType, rawRequest } from './support.js';

describe('RFC 8705 metadata follows what the listeners can receive', () => {
  let ca: DevCa;
  let client: JwtClient;
  let dir: string;
  let noCertificates: TestTollgate;
  let issuer: string;
  let base: string;
  let usual: MtlsTollgate;

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('rfc8705-meta');
    dir = await mkdtemp(join(tmpdir(), 'tollgate-rfc8705-meta-'));
    const identity = await ca.issueServer();
    const certFile = join(dir, 'server.pem');
    const keyFile = join(dir, 'server-key.pem');
    await writeFile(certFile, identity.chainPem);
    await writeFile(keyFile, identity.keyPem, { mode: 0o600 });
    const port = await freePort();
    issuer = `https://localhost:${port}`;
    base = `https://127.0.0.1:${port}`;
    noCertificates = await makeTollgate({
      clients: [client.metadata],
      config: {
        issuer,
        tls: { host: '127.0.0.1', port, certFile, keyFile, requestClientCert: false },
        rateLimits: { enabled: false },
      },
      tollgate: { tls: true },
    });
    await noCertificates.listen();
    usual = await startMtlsTollgate({ ca, clients: [client.metadata] });
  });
  afterAll(async () => {
    await noCertificates?.dispose();
    await usual?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const metadataOf = async (at: string) => {
    const res = await rawRequest(at, ca.root.certPem, {
      method: 'GET',
      path: '/.well-known/oauth-authorization-server',
    });
    expect(res.status).toBe(200);
    return res.json as Record<string, unknown>;
  };

  it('no listener receives certificates: no certificate-bound tokens, no certificate methods', async () => {
    const metadata = await metadataOf(base);
    expect(metadata.tls_client_certificate_bound_access_tokens).toBe(false);
    for (const field of [
      'token_endpoint_auth_methods_supported',
      'introspection_endpoint_auth_methods_supported',
    ]) {
      expect(metadata[field], field).toEqual(['private_key_jwt']);
    }
    expect(metadata).not.toHaveProperty('mtls_endpoint_aliases');
    // What the metadata says is what happens: a certificate offered to this listener is never
    // asked for, so the token is not bound to it.
    const leaf = await ca.issueClient({ clientId: client.clientId });
    const res = await rawRequest(base, ca.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType },
      body: encode({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signAssertion(client.key.privateJwk, client.clientId, issuer),
      }),
      cert: leaf.chainPem,
      key: leaf.keyPem,
    });
    expect(res.status, res.text).toBe(200);
    expect(claimsOf(String(res.json?.access_token)).cnf).toBeUndefined();
  });

  it('the TLS listener asks for certificates (the default): both are advertised', async () => {
    const metadata = await metadataOf(usual.base);
    expect(metadata.tls_client_certificate_bound_access_tokens).toBe(true);
    expect(metadata.token_endpoint_auth_methods_supported).toEqual([
      'private_key_jwt',
      'tls_client_auth',
      'self_signed_tls_client_auth',
    ]);
  });
});
