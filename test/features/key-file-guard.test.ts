/**
 * A running `tollgate serve` and its signing-key file edited by hand (or by a secret manager),
 * bypassing the `tollgate keys` checks. A reload that would drop a key whose tokens may still be
 * valid, or that reuses a kid with other key material, is refused: the previous keys stay
 * published and signing, and the log says why. `tollgate keys remove --force` (it names the kid in
 * `forced_kids`) still withdraws a key at once, as a compromised key needs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { decodeProtectedHeader, type JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createDevCa } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { prepareServeDir } from '../helpers/serve-dir.js';
import { assertionOf, makeJwtClient, postWithAssertion } from '../helpers/tollgate.js';

const silent = { stdout: { write: () => true }, stderr: { write: () => true } };

describe('hand edits of the signing-key file on a running server', {
  timeout: processTestTimeoutMs,
}, () => {
  let serve: ServeProcess | undefined;
  afterAll(() => serve?.kill());

  it('refuses drops of keys with valid tokens and reused kids, and applies a forced removal', async () => {
    const ca = await createDevCa();
    const client = await makeJwtClient('svc-keys');
    const serveDir = await prepareServeDir({
      ca,
      clients: [client.metadata],
      prefix: 'tollgate-key-guard-',
      // Reloads happen on the SIGHUPs below, never by a poll in between.
      config: { reload: { pollIntervalSeconds: 3600 } },
    });
    const { port, issuer } = serveDir;
    const [a, b, impostor] = await Promise.all([
      generateSigningJwk('ES256'),
      generateSigningJwk('ES256'),
      generateSigningJwk('ES256'),
    ]);
    const kidA = a.kid as string;
    const kidB = b.kid as string;
    const keyFile = join(serveDir.dir, 'keys.json');
    const writeKeys = (content: Record<string, unknown>) =>
      writeFile(keyFile, JSON.stringify(content), { mode: 0o600 });
    writeSigningKeyFile(keyFile, { active_kid: kidA, keys: [a, b] });
    const running = spawnServe(serveDir.configFile);
    serve = running;
    await waitForHttps(`https://127.0.0.1:${port}/healthz`, ca.root.certPem, undefined, running);

    /** The kid that signed a fresh token. */
    const signingKid = async () => {
      const result = await postWithAssertion(
        `https://127.0.0.1:${port}/token`,
        ca.root.certPem,
        await assertionOf(client, issuer),
      );
      if (!result.ok) throw new Error(`no token: ${JSON.stringify(result.body)}`);
      return decodeProtectedHeader(result.accessToken).kid;
    };
    const published = () =>
      new Promise<JWK[]>((resolve, reject) => {
        const req = request(`https://127.0.0.1:${port}/jwks`, { ca: ca.root.certPem }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve((JSON.parse(text) as { keys: JWK[] }).keys));
        });
        req.on('error', reject);
        req.end();
      });
    const publishedKids = async () => (await published()).map((key) => key.kid).sort();
    const failures = () => running.output().match(/reload failed: keeping the previous state/g);
    const sighupAndWaitForFailure = async (count: number) => {
      running.kill('SIGHUP');
      for (let i = 0; i < 100 && (failures()?.length ?? 0) < count; i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(failures()?.length ?? 0, running.output()).toBe(count);
    };
    /** SIGHUP, then wait until `/jwks` shows `kids` (bounded). */
    const sighupAndWaitForKids = async (kids: string[]) => {
      running.kill('SIGHUP');
      let now = await publishedKids();
      for (let i = 0; i < 100 && JSON.stringify(now) !== JSON.stringify(kids.sort()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        now = await publishedKids();
      }
      expect(now, running.output()).toEqual(kids.sort());
    };

    expect(await signingKid()).toBe(kidA);
    expect(await publishedKids()).toEqual([kidA, kidB].sort());

    // 1. The active key dropped by hand (B made active in the same edit): refused; A still signs.
    await writeKeys({ active_kid: kidB, keys: [b] });
    await sighupAndWaitForFailure(1);
    expect(running.output()).toContain(`${kidA} is the active signing key`);
    expect(await publishedKids()).toEqual([kidA, kidB].sort());
    expect(await signingKid()).toBe(kidA);

    // 2. B's kid kept with other key material: refused; /jwks still has B's own key.
    await writeKeys({ active_kid: kidA, keys: [a, { ...impostor, kid: kidB }] });
    await sighupAndWaitForFailure(2);
    expect(running.output()).toContain(`kid ${kidB} now names other key material`);
    const bPublished = (await published()).find((key) => key.kid === kidB);
    expect(bPublished?.x).toBe(b.x);
    expect(bPublished?.x).not.toBe(impostor.x);

    // 3. A proper switch (B active, A retired and still published) is applied.
    await writeKeys({ active_kid: kidB, keys: [a, b], retired_kids: [kidA] });
    running.kill('SIGHUP');
    let kid = await signingKid();
    for (let i = 0; i < 100 && kid !== kidB; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      kid = await signingKid();
    }
    expect(kid, running.output()).toBe(kidB);

    // 4. A dropped while tokens it signed a moment ago are valid: refused, still published.
    await writeKeys({ active_kid: kidB, keys: [b] });
    await sighupAndWaitForFailure(3);
    expect(running.output()).toContain(`${kidA} signed tokens that may be valid until`);
    expect(await publishedKids()).toEqual([kidA, kidB].sort());

    // 5. The operator forces the removal (a compromised key): applied at once.
    await writeKeys({ active_kid: kidB, keys: [a, b], retired_kids: [kidA] });
    await sighupAndWaitForKids([kidA, kidB]);
    expect(await main(['keys', 'remove', kidA, '--force', '--file', keyFile], silent)).toBe(0);
    const forced = JSON.parse(await readFile(keyFile, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(forced.forced_kids as object)).toEqual([kidA]);
    await sighupAndWaitForKids([kidB]);
    expect(failures()?.length ?? 0).toBe(3);
    expect(await signingKid()).toBe(kidB);
    expect(running.child.exitCode).toBeNull();
  });
});
