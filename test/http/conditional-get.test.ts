/**
 * Conditional GET of `/jwks` and the RFC 8414 metadata over real TLS (RFC 9110 §8.8.3, §13.1.2):
 * a strong ETag, 304 without a body for a matching If-None-Match (also `*`, a list, or the tag
 * sent back weak), the full document otherwise, and a new tag once a reload changes the keys.
 * Before, both were sent in full on every poll (no validator at all).
 */
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

describe('conditional GET of the JWKS and the metadata', () => {
  let ca: DevCa;
  let server: MtlsTollgate;

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<Answer>((resolve, reject) => {
      const req = request(
        `${server.base}${path}`,
        { method, headers, ca: ca.root.certPem, servername: 'localhost' },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    ca = await createDevCa();
    server = await startMtlsTollgate({
      ca,
      clients: [],
      config: { reload: { pollIntervalSeconds: 3600 } },
    });
  });
  afterAll(() => server?.dispose());

  it.each(['/jwks', '/.well-known/oauth-authorization-server'])(
    '%s: a strong ETag, and 304 without a body when the client has it',
    async (path) => {
      const full = await get(path);
      expect(full.status).toBe(200);
      const tag = String(full.headers.etag);
      expect(tag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
      expect(full.headers['cache-control']).toBe('public, max-age=300');
      expect(JSON.parse(full.body)).toBeTypeOf('object');

      for (const condition of [tag, `W/${tag}`, `"other", ${tag}`, '*']) {
        const again = await get(path, { 'if-none-match': condition });
        expect(again.status, condition).toBe(304);
        expect(again.body).toBe('');
        expect(again.headers.etag).toBe(tag);
        expect(again.headers['cache-control']).toBe('public, max-age=300');
      }
      for (const condition of ['"other"', tag.slice(0, -2), `${tag}x`]) {
        const changed = await get(path, { 'if-none-match': condition });
        expect(changed.status, condition).toBe(200);
        expect(changed.body).toBe(full.body);
      }
      // Other preconditions do not turn into 304 (RFC 9110 §13.1.2 is about If-None-Match).
      expect((await get(path, { 'if-modified-since': new Date().toUTCString() })).status).toBe(200);
    },
  );

  it('gives the JWKS a new tag when a reload adds a key, so pollers fetch it', async () => {
    const before = await get('/jwks');
    const tag = String(before.headers.etag);
    const keyFile = join(server.tg.dir, 'signing-keys.json');
    const current = JSON.parse(await readFile(keyFile, 'utf8')) as {
      active_kid: string;
      keys: unknown[];
    };
    const added = await generateSigningJwk('ES256');
    writeSigningKeyFile(keyFile, {
      active_kid: current.active_kid,
      keys: [...(current.keys as never[]), added],
    });
    expect(await server.tg.reload(true)).toContainEqual({
      part: 'signing_keys',
      outcome: 'reloaded',
    });
    const after = await get('/jwks', { 'if-none-match': tag });
    expect(after.status).toBe(200);
    expect(after.headers.etag).not.toBe(tag);
    expect(
      (JSON.parse(after.body) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
    ).toContain(added.kid);
    expect((await get('/jwks', { 'if-none-match': String(after.headers.etag) })).status).toBe(304);
  });
});
