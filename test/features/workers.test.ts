/**
 * `tollgate serve --workers 2` as a real process: both workers share the listener, claims go to
 * the one replay store in the primary (the same assertion sent to every worker at once gets
 * exactly one token), a scrape of /metrics sums every worker, SIGHUP reloads every worker, and
 * SIGTERM drains them all and exits 0.
 */
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertion, jwtBearerAssertionType } from '../../src/client/assertion.js';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { freePort } from '../helpers/net.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { prepareServeDir, type ServeDir } from '../helpers/serve-dir.js';
import { form, type JwtClient, makeJwtClient } from '../helpers/tollgate.js';

/** One POST on a connection of its own (no agent), so the cluster hands each to a worker. */
function post(
  url: string,
  body: string,
  ca: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca,
        agent: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded', connection: 'close' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function getPlain(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serve --workers 2', () => {
  let serve: ServeProcess;
  let ca: DevCa;
  let serveDir: ServeDir;
  let issuer: string;
  let base: string;
  /** The admin listener (plain HTTP on loopback), where /metrics lives. */
  let admin: string;
  let client: JwtClient;
  /** One client per burst of the exactly-once test, so audit lines tell the bursts apart. */
  let bursts: JwtClient[];

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('svc-workers');
    bursts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => makeJwtClient(`svc-burst-${i}`)),
    );
    const adminPort = await freePort();
    admin = `http://127.0.0.1:${adminPort}`;
    serveDir = await prepareServeDir({
      ca,
      clients: [client.metadata, ...bursts.map((one) => one.metadata)],
      config: {
        reload: { pollIntervalSeconds: 3600 },
        admin: { enabled: true, host: '127.0.0.1', port: adminPort },
        metrics: { enabled: true, allowedCidrs: ['127.0.0.1/32'] },
        log: { level: 'info' },
      },
      prefix: 'tollgate-workers-',
    });
    issuer = serveDir.issuer;
    base = `https://127.0.0.1:${serveDir.port}`;
    serve = spawnServe(serveDir.configFile, {}, ['--workers', '2']);
    // Two workers compile through tsx at once: slow on a busy machine; the wait ends on the
    // answer or on the process's exit, the guard only against a hang.
    await waitForHttps(`${base}/healthz`, ca.root.certPem, undefined, serve);
  }, processTestTimeoutMs);
  afterAll(() => serve?.kill());

  const tokenBody = async (who: JwtClient = client) =>
    form({
      grant_type: 'client_credentials',
      client_assertion_type: jwtBearerAssertionType,
      client_assertion: await createClientAssertion({
        clientId: who.clientId,
        audience: issuer,
        key: who.key.privateJwk,
      }),
    });

  it('claims a jti exactly once across workers: one assertion sent to every worker at once gets one token', async () => {
    const copies = 24;
    // Audit lines name the claimed client_id and the worker's pid. Logs are buffered (flushed
    // every second, later on a starved machine), so wait for every copy's line to be out: on
    // the output itself, not a stopwatch (a 5 s poll failed at load 30).
    const pidsThatSaw = async (clientId: string) => {
      const lines = () =>
        serve
          .output()
          .split('\n')
          .filter((line) => line.includes('"audit"') && line.includes(`"${clientId}"`));
      await serve.waitForOutput(new RegExp(`^(?=.*"audit")(?=.*"${clientId}").*$`, 'm'), copies);
      expect(lines()).toHaveLength(copies);
      return new Set(lines().map((line) => (JSON.parse(line) as { pid: number }).pid));
    };
    // Round-robin hands each connection to the next free worker; on a busy machine one worker
    // may take a whole burst. Burst again (another client, a fresh assertion; bounded) until the
    // copies of one assertion reached both workers: every burst must give exactly one token.
    let sawBoth = false;
    for (const who of bursts) {
      const body = await tokenBody(who);
      const answers = await Promise.all(
        Array.from({ length: copies }, () => post(`${base}/token`, body, ca.root.certPem)),
      );
      expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
      for (const refused of answers.filter((answer) => answer.status !== 200)) {
        expect(refused.status, JSON.stringify(refused.body)).toBe(401);
        expect(refused.body.error).toBe('invalid_client');
        expect(String(refused.body.error_description)).toMatch(/replayed/);
      }
      sawBoth = (await pidsThatSaw(who.clientId)).size === 2;
      if (sawBoth) break;
    }
    expect(sawBoth).toBe(true);
  });

  it('answers a scrape on any worker with the metrics of every worker', async () => {
    const before = await authenticationsCounted();
    const fresh = await Promise.all(
      Array.from({ length: 6 }, async () =>
        post(`${base}/token`, await tokenBody(), ca.root.certPem),
      ),
    );
    expect(fresh.every((answer) => answer.status === 200)).toBe(true);
    // Each scrape lands on one worker or the other; each must see all six.
    for (let i = 0; i < 4; i++) expect((await authenticationsCounted()) - before).toBe(6);
  });

  async function authenticationsCounted(): Promise<number> {
    const text = await getPlain(`${admin}/metrics`);
    expect(text).toContain('tollgate_cluster_workers{reporting="true"} 2');
    let sum = 0;
    for (const line of text.split('\n')) {
      if (
        line.startsWith('tollgate_client_authentications_total{') &&
        line.includes('outcome="success"')
      )
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  it('reloads every worker on SIGHUP, and drains every worker on SIGTERM (exit 0)', async () => {
    const second = await makeJwtClient('svc-workers-second');
    await serveDir.writeRegistry([client.metadata, second.metadata]);
    serve.kill('SIGHUP');
    let reloaded = 0;
    for (let i = 0; i < 100 && reloaded < 2; i++) {
      reloaded = (
        serve
          .output()
          .match(/"part":"registry".*"msg":"reloaded"|"msg":"reloaded".*"part":"registry"/g) ?? []
      ).length;
      if (reloaded < 2) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(reloaded).toBe(2);
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () =>
        post(`${base}/token`, await tokenBody(second), ca.root.certPem),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(200));

    serve.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  }, 20_000);
});
