/**
 * How long a `forced_kids` entry lives, over two running servers sharing one key file (rolled
 * out by copying it, as a secret mount would) and the real `tollgate keys` CLI. The entry is what
 * lets a server drop a key whose tokens may be valid (src/tokens/key-reload.ts); `tollgate keys`
 * now forgets it once the kid is gone and the longest token lifetime has passed since the force,
 * and a server that never saw the entry still drops the key from the pruned file. Before, every
 * forced removal stayed in the file for ever.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { jwksMaxAgeSeconds, longestTokenLifetimeSeconds } from '../../src/tokens/index.js';
import { makeTollgate, type TestTollgate } from '../helpers/tollgate.js';

const silent = { stdout: { write: () => true }, stderr: { write: () => true } };

describe('forced_kids entries are dropped once no server can need them', () => {
  const t0 = Date.now();
  /** Each server's clock, as an offset from t0 in seconds. */
  const clocks = [0, 0];
  let servers: TestTollgate[];
  let keyFile: string;

  const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString();
  const keys = (...args: string[]) => main(['keys', ...args, '--file', keyFile], silent);
  const forcedKids = async () =>
    (JSON.parse(await readFile(keyFile, 'utf8')) as { forced_kids?: Record<string, string> })
      .forced_kids;
  const kidsOf = async (server: TestTollgate) =>
    ((await server.app.inject({ method: 'GET', url: '/jwks' })).json() as JSONWebKeySet).keys
      .map((key) => key.kid)
      .sort();
  /** Copies the key file to `server` and reloads it there. */
  const rollOut = async (index: number) => {
    const server = servers[index] as TestTollgate;
    if (server !== servers[0]) await copyFile(keyFile, join(server.dir, 'signing-keys.json'));
    const outcome = (await server.reload(false)).find((one) => one.part === 'signing_keys');
    return outcome?.outcome;
  };

  beforeAll(async () => {
    servers = await Promise.all(
      [0, 1].map((index) =>
        makeTollgate({
          clients: [],
          tollgate: { now: () => t0 + (clocks[index] as number) * 1000 },
        }),
      ),
    );
    keyFile = join((servers[0] as TestTollgate).dir, 'signing-keys.json');
    // makeTollgate gave server 1 a key of its own: replacing it by server 0's file drops an
    // active key, which only a forced entry in that copy allows (the next roll-out overwrites it).
    const own = join((servers[1] as TestTollgate).dir, 'signing-keys.json');
    const ownKid = (JSON.parse(await readFile(own, 'utf8')) as { active_kid: string }).active_kid;
    const shared = JSON.parse(await readFile(keyFile, 'utf8')) as Record<string, unknown>;
    await writeFile(own, JSON.stringify({ ...shared, forced_kids: { [ownKid]: at(0) } }), {
      mode: 0o600,
    });
    expect((await (servers[1] as TestTollgate).reload(false)).map((one) => one.outcome)).toContain(
      'reloaded',
    );
    expect(await kidsOf(servers[1] as TestTollgate)).toEqual(
      await kidsOf(servers[0] as TestTollgate),
    );
  });
  afterAll(() => Promise.all(servers.map((server) => server.dispose())));

  it('keeps the entry for a day after the force, then the next rotation step drops it', async () => {
    const [keyA] = await kidsOf(servers[0] as TestTollgate);
    expect(await keys('add', '--now', at(0))).toBe(0);
    expect(await kidsOf(servers[0] as TestTollgate)).toEqual([keyA]); // not reloaded yet
    expect(await rollOut(0)).toBe('reloaded');
    expect(await rollOut(1)).toBe('reloaded');
    const b = (await kidsOf(servers[0] as TestTollgate)).find((kid) => kid !== keyA) as string;
    expect(await keys('activate', b, '--now', at(jwksMaxAgeSeconds + 1))).toBe(0);
    expect(await keys('retire', keyA as string, '--now', at(jwksMaxAgeSeconds + 2))).toBe(0);
    for (const index of [0, 1]) expect(await rollOut(index)).toBe('reloaded');

    // A compromised key: removed at once. Server 0 applies it (its tokens may be valid: only the
    // entry lets it); server 1 does not get this version of the file.
    const forcedAt = jwksMaxAgeSeconds + 10;
    expect(await keys('remove', keyA as string, '--force', '--now', at(forcedAt))).toBe(0);
    expect(Object.keys((await forcedKids()) ?? {})).toEqual([keyA]);
    clocks[0] = forcedAt;
    expect(await rollOut(0)).toBe('reloaded');
    expect(await kidsOf(servers[0] as TestTollgate)).toEqual([b]);

    // Any later step within the longest token lifetime keeps the entry.
    const lastNeeded = forcedAt + longestTokenLifetimeSeconds - 1;
    expect(await keys('add', '--now', at(lastNeeded))).toBe(0);
    expect(Object.keys((await forcedKids()) ?? {})).toEqual([keyA]);

    // The first step a day after the force drops it, and the member with it.
    expect(await keys('add', '--now', at(lastNeeded + 1))).toBe(0);
    expect(await forcedKids()).toBeUndefined();
    const published = await kidsOf(servers[0] as TestTollgate);
    expect(await rollOut(0)).toBe('reloaded');
    expect((await kidsOf(servers[0] as TestTollgate)).length).toBe(published.length + 2);
    expect(await kidsOf(servers[0] as TestTollgate)).not.toContain(keyA);

    // Server 1 still publishes A and never saw the entry: by then no token A signed can be valid,
    // so its own guard drops A from the pruned file.
    clocks[1] = lastNeeded + 1;
    expect(await kidsOf(servers[1] as TestTollgate)).toContain(keyA);
    expect(await rollOut(1)).toBe('reloaded');
    expect(await kidsOf(servers[1] as TestTollgate)).toEqual(
      await kidsOf(servers[0] as TestTollgate),
    );
  });
});
