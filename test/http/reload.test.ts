/**
 * Hot reload and signing-key rotation without a restart: the whole add, activate, retire,
 * remove cycle while a verifier with a cached JWKS keeps checking tokens (a retired key stays
 * published until every token it signed has expired), and bad files that keep the old state.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { jwtBearerAssertionType } from '../../src/client/assertion.js';
import { jwksMaxAgeSeconds } from '../../src/tokens/index.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  form,
  formHeaders,
  type JwtClient,
  makeJwtClient,
  makeTollgate,
  type TestTollgate,
  testIssuer,
} from '../helpers/tollgate.js';

const silent = { stdout: { write: () => true }, stderr: { write: () => true } };

describe('hot reload and key rotation', () => {
  let tg: TestTollgate;
  let client: JwtClient;
  let registryFile: string;
  let keyFile: string;
  let clockOffsetMs = 0;

  const token = async (who: JwtClient = client) => {
    const response = await tg.app.inject({
      method: 'POST',
      url: '/token',
      headers: formHeaders,
      payload: form({
        grant_type: 'client_credentials',
        client_assertion_type: jwtBearerAssertionType,
        client_assertion: await signAssertion(who.key.privateJwk, who.clientId, testIssuer),
      }),
    });
    return response;
  };
  const issue = async () => {
    const response = await token();
    expect(response.statusCode, response.body).toBe(200);
    return response.json().access_token as string;
  };
  const jwks = async () =>
    (await tg.app.inject({ method: 'GET', url: '/jwks' })).json() as JSONWebKeySet;
  const kids = async () => (await jwks()).keys.map((key) => key.kid).sort();
  const keys = (...args: string[]) => main(['keys', ...args, '--file', keyFile], silent);
  const verifyWith = (set: JSONWebKeySet, jwt: string) =>
    jwtVerify(jwt, createLocalJWKSet(set), { issuer: testIssuer, typ: 'at+jwt' }).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    client = await makeJwtClient('svc-reload');
    const dir = (await import('node:fs/promises')).mkdtemp;
    const tmp = await dir(join((await import('node:os')).tmpdir(), 'tollgate-reload-'));
    registryFile = join(tmp, 'registry.json');
    await writeFile(registryFile, JSON.stringify({ clients: [client.metadata] }));
    // The server's clock, moved ahead only for the last rotation step (see there).
    tg = await makeTollgate({
      clients: [],
      registryFile,
      tollgate: { now: () => Date.now() + clockOffsetMs },
    });
    keyFile = join(tg.dir, 'signing-keys.json');
  });
  afterAll(() => tg.dispose());

  it('walks add, activate, retire, remove while a verifier keeps checking tokens', async () => {
    const [keyA] = await kids();
    const t0 = Date.now();
    const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();

    // A verifier that refreshes its JWKS cache only when told to (as caches do, on max-age).
    let verifierCache = await jwks();
    let failures = 0;
    let checked = 0;
    let running = true;
    const background = (async () => {
      for (let i = 0; i < 500 && running; i++) {
        const jwt = await issue();
        checked++;
        if (!(await verifyWith(verifierCache, jwt))) failures++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();

    const tokenA = await issue();
    expect(decodeProtectedHeader(tokenA).kid).toBe(keyA);

    // add: published after reload, not signing.
    expect(await keys('add', '--now', at(0))).toBe(0);
    expect(await tg.reload(false)).toContainEqual({ part: 'signing_keys', outcome: 'reloaded' });
    const [keyB] = (await kids()).filter((kid) => kid !== keyA);
    expect(keyB).toBeDefined();
    expect(decodeProtectedHeader(await issue()).kid).toBe(keyA);

    // activation too early is refused: verifiers may not have the key yet.
    expect(await keys('activate', keyB as string, '--now', at(10))).toBe(1);
    verifierCache = await jwks(); // the verifier's cache expires and refetches: it now knows B

    expect(await keys('activate', keyB as string, '--now', at(jwksMaxAgeSeconds + 1))).toBe(0);
    await tg.reload(false);
    const tokenB = await issue();
    expect(decodeProtectedHeader(tokenB).kid).toBe(keyB);
    expect(await verifyWith(verifierCache, tokenB)).toBe(true);

    // retire A: still published, so tokens it signed keep verifying; it never signs again.
    expect(await keys('retire', keyA as string)).toBe(0);
    await tg.reload(false);
    expect(await kids()).toEqual([keyA, keyB].sort());
    expect(await verifyWith(await jwks(), tokenA)).toBe(true);
    expect(await keys('activate', keyA as string, '--now', at(10_000))).toBe(1);

    // remove A while tokenA (600 s) is still valid: refused (the default wait is the longest
    // lifetime any configuration allows), A stays published, tokenA verifies.
    expect(await keys('remove', keyA as string)).toBe(1);
    await tg.reload(false);
    expect(await kids()).toEqual([keyA, keyB].sort());
    expect(await verifyWith(await jwks(), tokenA)).toBe(true);

    running = false;
    await background;
    expect(checked).toBeGreaterThan(0);
    expect(failures).toBe(0);

    // remove A once every token it signed has expired: no longer published; its tokens stop
    // verifying, B's keep verifying. The server checks this too (it signed tokenA and knows its
    // exp), so its clock moves past tokenA's exp along with the CLI's --now.
    const expired = new Date(Date.now() + 601 * 1000).toISOString();
    expect(await keys('remove', keyA as string, '--token-lifetime', '600', '--now', expired)).toBe(
      0,
    );
    expect(await tg.reload(false)).toContainEqual(
      expect.objectContaining({ part: 'signing_keys', outcome: 'failed' }),
    );
    expect(await kids()).toEqual([keyA, keyB].sort());
    // Once tokenA has expired the refused file is applied by the next poll, without a SIGHUP.
    clockOffsetMs = 601 * 1000;
    expect(await tg.reload(false)).toContainEqual({ part: 'signing_keys', outcome: 'reloaded' });
    clockOffsetMs = 0;
    expect(await kids()).toEqual([keyB]);
    expect(await verifyWith(await jwks(), tokenA)).toBe(false);
    expect(await verifyWith(await jwks(), tokenB)).toBe(true);
  });

  it('keeps the old keys when the new key file is invalid', async () => {
    const before = await readFile(keyFile, 'utf8');
    await writeFile(keyFile, '{"active_kid": "nope", "keys": []}');
    const outcomes = await tg.reload(false);
    expect(outcomes).toContainEqual(
      expect.objectContaining({ part: 'signing_keys', outcome: 'failed' }),
    );
    expect((await token()).statusCode).toBe(200);
    await writeFile(keyFile, before);
    await tg.reload(false);
  });

  it('reloads the registry on change and keeps the old one when the new file is invalid', async () => {
    const newcomer = await makeJwtClient('svc-newcomer');
    expect((await token(newcomer)).statusCode).toBe(401);
    await writeFile(
      registryFile,
      JSON.stringify({ clients: [client.metadata, newcomer.metadata] }),
    );
    expect(await tg.reload(false)).toContainEqual({ part: 'registry', outcome: 'reloaded' });
    expect((await token(newcomer)).statusCode).toBe(200);

    await writeFile(
      registryFile,
      JSON.stringify({
        clients: [{ ...newcomer.metadata, token_endpoint_auth_method: 'client_secret_basic' }],
      }),
    );
    expect(await tg.reload(false)).toContainEqual(
      expect.objectContaining({ part: 'registry', outcome: 'failed' }),
    );
    expect((await token(newcomer)).statusCode).toBe(200);
    expect((await token(client)).statusCode).toBe(200);
    await writeFile(
      registryFile,
      JSON.stringify({ clients: [client.metadata, newcomer.metadata] }),
    );
  });

  it('a forced reload (SIGHUP) re-reads unchanged files too', async () => {
    expect(await tg.reload(true)).toContainEqual({ part: 'registry', outcome: 'reloaded' });
  });
});
