/**
 * TokenClient against a real Tollgate over TLS and mTLS on 127.0.0.1: both authentication
 * families, single-flight, renewal ahead of expiry (injected clock), replay handling, certificate
 * rotation, and fetch() carrying a bound token over the same client certificate.
 */

import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenClient } from '../../src/client/index.js';
import {
  createDevCa,
  createSelfSignedClient,
  type DevCa,
  type IssuedClientCertificate,
  type SelfSignedClient,
  selfSignedEntry,
  tlsClientAuthEntry,
} from '../../src/dev-ca/index.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import {
  claimsOf,
  type RunningTollgate,
  startTollgate,
  thumbprintOf,
  writeIdentity,
} from './harness.js';

describe('TokenClient against Tollgate', () => {
  let ca: DevCa;
  let server: RunningTollgate;
  let jwt: JwtClient;
  let impostor: JwtClient;
  let mtlsCert: IssuedClientCertificate;
  let renewCert: IssuedClientCertificate;
  let rotateCert: IssuedClientCertificate;
  let boundCert: IssuedClientCertificate;
  let selfSigned: SelfSignedClient;
  let api: Server;
  let apiOrigin: string;
  let apiUnauthorizedOnce = false;
  let boundKey: JwtClient;

  beforeAll(async () => {
    ca = await createDevCa();
    jwt = await makeJwtClient('svc-jwt', 'ES256', {
      scope: 'read write',
      allowed_resources: ['https://api.one.example/', 'https://api.two.example/'],
    });
    // Registered with jwt's public key: its own key signs assertions the server cannot verify.
    impostor = await makeJwtClient('svc-impostor');
    mtlsCert = await ca.issueClient({ clientId: 'svc-mtls' });
    renewCert = await ca.issueClient({ clientId: 'svc-renew' });
    rotateCert = await ca.issueClient({ clientId: 'svc-rotate' });
    boundCert = await ca.issueClient({ clientId: 'svc-jwt-bound' });
    selfSigned = await createSelfSignedClient({ clientId: 'svc-self' });
    const bound = await makeJwtClient('svc-jwt-bound');
    server = await startTollgate({
      ca,
      mtls: true,
      clients: [
        jwt.metadata,
        { ...impostor.metadata, jwks: jwt.metadata.jwks },
        bound.metadata,
        tlsClientAuthEntry('svc-mtls', mtlsCert),
        tlsClientAuthEntry('svc-renew', renewCert),
        tlsClientAuthEntry('svc-rotate', rotateCert),
        selfSignedEntry('svc-self', selfSigned.jwk),
      ],
    });
    boundKey = bound;

    // The protected API: asks for a client certificate and echoes what it saw.
    const apiIdentity = await ca.issueServer();
    api = createServer(
      {
        cert: apiIdentity.chainPem,
        key: apiIdentity.keyPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        if (apiUnauthorizedOnce) {
          apiUnauthorizedOnce = false;
          res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            authorization: req.headers.authorization ?? null,
            peerThumbprint:
              peer?.raw === undefined
                ? null
                : createHash('sha256').update(peer.raw).digest('base64url'),
          }),
        );
      },
    );
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiOrigin = `https://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    api?.closeAllConnections();
    await new Promise<void>((resolve) =>
      api === undefined ? resolve() : api.close(() => resolve()),
    );
    await server?.dispose();
  });

  function reset(): void {
    server.counts.tls = 0;
    server.counts.mtls = 0;
  }

  it('gets a private_key_jwt token through discovery, aud = issuer accepted', async () => {
    reset();
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-jwt', key: jwt.key.privateJwk },
      ca: ca.root.certPem,
    });
    const token = await client.getToken();
    const claims = claimsOf(token.accessToken);
    expect(claims).toMatchObject({
      iss: server.issuer,
      sub: 'svc-jwt',
      client_id: 'svc-jwt',
      scope: 'read write',
    });
    expect(claims.cnf).toBeUndefined();
    expect(token.certificateThumbprint).toBeUndefined();
    expect(server.counts).toEqual({ tls: 1, mtls: 0 });
    await client.close();
  });

  it('makes one token request for 100 concurrent getToken() calls', async () => {
    reset();
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-jwt', key: jwt.key.privateJwk },
      ca: ca.root.certPem,
    });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => client.getToken()));
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(server.counts.tls).toBe(1);
    expect(client.requestCount).toBe(1);
    // And the cache serves the next ones.
    await Promise.all(Array.from({ length: 100 }, () => client.getToken()));
    expect(server.counts.tls).toBe(1);
    await client.close();
  });

  it('caches per (scope, resource): order-insensitive keys, separate tokens per audience', async () => {
    reset();
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-jwt', key: jwt.key.privateJwk },
      ca: ca.root.certPem,
    });
    const one = await client.getToken({
      scope: 'read write',
      resource: 'https://api.one.example/',
    });
    const again = await client.getToken({
      scope: ['write', 'read'],
      resource: ['https://api.one.example/'],
    });
    const two = await client.getToken({ scope: 'read', resource: 'https://api.two.example/' });
    expect(again.accessToken).toBe(one.accessToken);
    expect(two.accessToken).not.toBe(one.accessToken);
    expect(claimsOf(one.accessToken).aud).toBe('https://api.one.example/');
    expect(claimsOf(two.accessToken)).toMatchObject({
      aud: 'https://api.two.example/',
      scope: 'read',
    });
    expect(server.counts.tls).toBe(2);
    await client.close();
  });

  it('renews before expiry: same token until the refresh point, a new one after it', async () => {
    reset();
    let now = Date.now();
    const files = await writeIdentity(server.dir, 'svc-renew', renewCert);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'tls_client_auth', clientId: 'svc-renew', ...files },
      ca: ca.root.certPem,
      now: () => now,
      random: () => 0, // refresh at exactly 80% of the lifetime
    });
    const first = await client.getToken();
    const lifetimeMs = first.expiresAtMs - now;
    expect(lifetimeMs).toBe(600_000);
    now += lifetimeMs * 0.8 - 1000;
    expect((await client.getToken()).accessToken).toBe(first.accessToken);
    expect(server.counts.mtls).toBe(1);
    now += 2000;
    expect(now).toBeLessThan(first.expiresAtMs);
    const renewed = await client.getToken();
    expect(renewed.accessToken).not.toBe(first.accessToken);
    expect(renewed.expiresAtMs).toBeGreaterThan(first.expiresAtMs);
    expect(server.counts.mtls).toBe(2);
    await client.close();
  });

  it('tls_client_auth follows mtls_endpoint_aliases and gets a token bound to its certificate', async () => {
    reset();
    const files = await writeIdentity(server.dir, 'svc-mtls', mtlsCert);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'tls_client_auth', clientId: 'svc-mtls', ...files },
      caFile: server.files.root,
    });
    const token = await client.getToken();
    expect(server.counts).toEqual({ tls: 0, mtls: 1 });
    expect(claimsOf(token.accessToken).cnf).toEqual({ 'x5t#S256': thumbprintOf(mtlsCert.certPem) });
    expect(token.certificateThumbprint).toBe(thumbprintOf(mtlsCert.certPem));
    await client.close();
  });

  it('self_signed_tls_client_auth gets a bound token', async () => {
    const files = await writeIdentity(server.dir, 'svc-self', selfSigned);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'self_signed_tls_client_auth', clientId: 'svc-self', ...files },
      ca: ca.root.certPem,
    });
    const token = await client.getToken();
    expect(claimsOf(token.accessToken).cnf).toEqual({
      'x5t#S256': thumbprintOf(selfSigned.certPem),
    });
    await client.close();
  });

  it('private_key_jwt with a certificate gets a bound token', async () => {
    const files = await writeIdentity(server.dir, 'svc-jwt-bound', boundCert);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: {
        method: 'private_key_jwt',
        clientId: 'svc-jwt-bound',
        key: boundKey.key.privateJwk,
        ...files,
      },
      ca: ca.root.certPem,
    });
    const token = await client.getToken();
    expect(claimsOf(token.accessToken).cnf).toEqual({
      'x5t#S256': thumbprintOf(boundCert.certPem),
    });
    await client.close();
  });

  it('reads the private JWK from a file', async () => {
    const keyFile = `${server.dir}/svc-jwt.jwk.json`;
    await writeFile(keyFile, JSON.stringify(jwt.key.privateJwk), { mode: 0o600 });
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-jwt', key: keyFile },
      ca: ca.root.certPem,
    });
    expect(claimsOf((await client.getToken()).accessToken).sub).toBe('svc-jwt');
    await client.close();
  });

  it('does not retry invalid_client', async () => {
    reset();
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-impostor', key: impostor.key.privateJwk },
      ca: ca.root.certPem,
      sleep: async () => undefined,
    });
    await expect(client.getToken()).rejects.toMatchObject({
      name: 'TokenClientError',
      error: 'invalid_client',
      status: 401,
      attempts: 1,
    });
    expect(server.counts.tls).toBe(1);
    await client.close();
  });

  it('retries once with a fresh assertion when Tollgate says the assertion was replayed', async () => {
    reset();
    const ids = ['jti-a', 'jti-a', 'jti-b', 'jti-b', 'jti-b'];
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-jwt', key: jwt.key.privateJwk },
      ca: ca.root.certPem,
      randomId: () => ids.shift() ?? 'jti-b',
      sleep: async () => undefined,
    });
    await client.getToken();
    const second = await client.getToken({ forceRefresh: true });
    expect(claimsOf(second.accessToken).sub).toBe('svc-jwt');
    expect(server.counts.tls).toBe(3);
    // jti-b is used now: the next one is replayed twice, and that is the end of it.
    await expect(client.getToken({ forceRefresh: true })).rejects.toMatchObject({
      error: 'invalid_client',
      errorDescription: expect.stringMatching(/replayed/),
      attempts: 2,
    });
    expect(server.counts.tls).toBe(5);
    await client.close();
  });

  it('rotates its certificate without a restart: the next token is bound to the new one', async () => {
    reset();
    let now = Date.now();
    const files = await writeIdentity(server.dir, 'svc-rotate', rotateCert);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'tls_client_auth', clientId: 'svc-rotate', ...files },
      ca: ca.root.certPem,
      now: () => now,
      fileCheckIntervalMs: 5_000,
    });
    const before = await client.getToken();
    expect(claimsOf(before.accessToken).cnf).toEqual({
      'x5t#S256': thumbprintOf(rotateCert.certPem),
    });

    const next = await ca.issueClient({ clientId: 'svc-rotate' });
    expect(next.subject).toBe(rotateCert.subject);
    await writeIdentity(server.dir, 'svc-rotate', next);
    now += 5_000;
    const after = await client.getToken();
    expect(after.accessToken).not.toBe(before.accessToken);
    expect(claimsOf(after.accessToken).cnf).toEqual({ 'x5t#S256': thumbprintOf(next.certPem) });
    expect(after.certificateThumbprint).toBe(thumbprintOf(next.certPem));
    expect(server.counts.mtls).toBe(2);

    // A half-written rotation (a certificate without its key) keeps the working pair.
    const third = await ca.issueClient({ clientId: 'svc-rotate' });
    await writeFile(files.certFile, third.chainPem);
    const warnings: string[] = [];
    const strict = new TokenClient({
      issuer: server.issuer,
      auth: {
        method: 'tls_client_auth',
        clientId: 'svc-rotate',
        certFile: files.certFile,
        keyFile: files.keyFile,
      },
      ca: ca.root.certPem,
    });
    await expect(strict.getToken()).rejects.toThrow(/key values mismatch|mismatch/i);
    await strict.close();
    const kept = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'tls_client_auth', clientId: 'svc-rotate', ...files },
      ca: ca.root.certPem,
      onWarning: (message) => warnings.push(message),
    });
    await writeIdentity(server.dir, 'svc-rotate', next);
    const good = await kept.getToken();
    await writeFile(files.certFile, third.chainPem);
    const stillGood = await kept.getToken({ forceRefresh: true });
    expect(claimsOf(stillGood.accessToken).cnf).toEqual(claimsOf(good.accessToken).cnf);
    expect(warnings).toHaveLength(1);
    await kept.close();
    await client.close();
  });

  it('fetch() sends the bound token over the same client certificate', async () => {
    const files = await writeIdentity(server.dir, 'svc-mtls-fetch', mtlsCert);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'tls_client_auth', clientId: 'svc-mtls', ...files },
      ca: ca.root.certPem,
    });
    const response = await client.fetch(`${apiOrigin}/things`);
    expect(response.status).toBe(200);
    const seen = (await response.json()) as { authorization: string; peerThumbprint: string };
    const token = await client.getToken();
    expect(seen.authorization).toBe(`Bearer ${token.accessToken}`);
    expect(seen.peerThumbprint).toBe(thumbprintOf(mtlsCert.certPem));
    expect(claimsOf(token.accessToken).cnf).toEqual({ 'x5t#S256': seen.peerThumbprint });
    await client.close();
  });

  it('fetch() gets a new token once after 401 invalid_token', async () => {
    const files = await writeIdentity(server.dir, 'svc-mtls-401', mtlsCert);
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'tls_client_auth', clientId: 'svc-mtls', ...files },
      ca: ca.root.certPem,
    });
    const stale = await client.getToken();
    apiUnauthorizedOnce = true;
    const response = await client.fetch(`${apiOrigin}/things`, { method: 'POST', body: 'x' });
    expect(response.status).toBe(200);
    const seen = (await response.json()) as { authorization: string };
    expect(seen.authorization).not.toBe(`Bearer ${stale.accessToken}`);
    await client.close();
  });

  it('fetch() refuses plain http', async () => {
    const client = new TokenClient({
      issuer: server.issuer,
      auth: { method: 'private_key_jwt', clientId: 'svc-jwt', key: jwt.key.privateJwk },
      ca: ca.root.certPem,
    });
    await expect(client.fetch('http://127.0.0.1:1/')).rejects.toThrow(TypeError);
    await client.close();
  });
});
