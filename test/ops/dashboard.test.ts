/**
 * The operator's view of a real `tollgate serve` process: every metric the Grafana dashboard and
 * the alerting rules name is one the server exports (scraped from /metrics after real token
 * requests), Node's process metrics carry their standard names, settings come from TOLLGATE_*
 * variables, `log.format: iso` writes string levels and ISO times, and `scopesSupported` is
 * advertised.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { generateSigningJwk, writeSigningKeyFile } from '../../src/tokens/index.js';
import { freePort } from '../helpers/net.js';
import {
  processTestTimeoutMs,
  type ServeProcess,
  spawnServe,
  waitForHttps,
} from '../helpers/process.js';
import { assertionOf, makeJwtClient, postWithAssertion } from '../helpers/tollgate.js';

const ops = join(import.meta.dirname, '../../docs/ops');

function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? request : httpRequest;
    const req = send(url, ca === undefined ? {} : { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// PromQL words that are not metric names.
const promqlWords = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'rate',
  'increase',
  'irate',
  'histogram_quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'label_values',
  'topk',
  'bottomk',
  'abs',
  'time',
  'vector',
  'scalar',
]);

/** The metric names a PromQL expression reads. */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\boffset\s+\d+[smhdwy]+/g, '') // offsets
    .replace(/\blabel_values\(([^,)]+)(?:,[^)]*)?\)/g, '$1') // Grafana: (metric, label)
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\$\w+/g, ''); // Grafana variables
  return [...stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)]
    .filter((m) => {
      const next = stripped.slice((m.index ?? 0) + m[0].length).trimStart();
      return !next.startsWith('(') && !promqlWords.has(m[0]);
    })
    .map((m) => m[0]);
}

/** Every sample name a scrape can contain: each family, and a histogram's _bucket/_sum/_count. */
function exportedNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name as string);
    if (type === 'histogram' || type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(join(ops, 'grafana-dashboard.json'), 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ definition?: string }> };
  };
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) => (v.definition === undefined ? [] : [v.definition])),
  ];
}

function alertExpressions(): string[] {
  const rules = readFileSync(join(ops, 'prometheus-alerts.yml'), 'utf8');
  // `expr: one line` or `expr: >-` followed by an indented block.
  return [...rules.matchAll(/expr: (?:>-\n((?:\s{10}.*\n)+)|(.+)\n)/g)].map((m) =>
    (m[1] ?? m[2] ?? '').trim(),
  );
}

describe('operators: dashboard, alerts, metric names, logs', () => {
  let serve: ServeProcess | undefined;
  let ca: DevCa;
  let base: string;
  let exposition: string;

  beforeAll(async () => {
    ca = await createDevCa();
    const server = await ca.issueServer();
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-ops-'));
    const client = await makeJwtClient('svc-ops');
    const port = await freePort();
    const adminPort = await freePort();
    const issuer = `https://localhost:${port}`;
    const key = await generateSigningJwk('ES256');
    writeSigningKeyFile(join(dir, 'keys.json'), { active_kid: key.kid as string, keys: [key] });
    await writeFile(join(dir, 'server.pem'), server.chainPem);
    await writeFile(join(dir, 'server-key.pem'), server.keyPem, { mode: 0o600 });
    await writeFile(join(dir, 'registry.json'), JSON.stringify({ clients: [client.metadata] }));
    await writeFile(
      join(dir, 'tollgate.json'),
      JSON.stringify({
        tls: { host: '127.0.0.1', certFile: 'server.pem', keyFile: 'server-key.pem' },
        signingKeys: { file: 'keys.json' },
        registry: { file: 'registry.json' },
        clientCertificates: { trustAnchorFiles: [], intermediateFiles: [], crlFiles: [] },
        // No load shedding: on a loaded machine a 503 would replace the verdicts counted here.
        underPressure: { maxEventLoopDelayMs: 0, maxEventLoopUtilization: 0 },
      }),
    );
    // Settings from the environment, the documented way.
    serve = spawnServe(join(dir, 'tollgate.json'), {
      TOLLGATE_ISSUER: issuer,
      TOLLGATE_TLS__PORT: String(port),
      TOLLGATE_ADMIN__PORT: String(adminPort),
      TOLLGATE_LOG__FORMAT: 'iso',
      TOLLGATE_SCOPES_SUPPORTED: 'read,write',
    });
    base = `https://127.0.0.1:${port}`;
    await waitForHttps(`${base}/healthz`, ca.root.certPem, undefined, serve).catch(
      (error: Error) => {
        throw new Error(`${error.message}; output:\n${serve?.output()}`);
      },
    );

    const assertion = () => assertionOf(client, issuer);
    const post = (clientAssertion: string) =>
      postWithAssertion(`${base}/token`, ca.root.certPem, clientAssertion);
    const once = await assertion();
    expect((await post(once)).ok).toBe(true);
    expect((await post(once)).ok).toBe(false); // replayed: a failure with a reason
    // /metrics lives on the admin listener (plain HTTP, loopback).
    const scraped = await get(`http://127.0.0.1:${adminPort}/metrics`);
    expect(scraped.status).toBe(200);
    exposition = scraped.body;
  }, processTestTimeoutMs);
  afterAll(() => serve?.kill());

  it('the dashboard and the alerts name only metrics the server exports', () => {
    const exported = exportedNames(exposition);
    const expressions = [...dashboardExpressions(), ...alertExpressions()];
    expect(expressions.length).toBeGreaterThan(20);
    const named = new Set(expressions.flatMap(metricNamesIn));
    expect(named.size).toBeGreaterThan(10);
    const missing = [...named].filter((name) => !exported.has(name));
    expect(missing, `not exported: ${missing.join(', ')}`).toEqual([]);
    // the extraction itself finds names (and would report one the server lacks)
    expect(metricNamesIn('sum by (le) (rate(tollgate_nope_total{a="b"}[5m])) / 2')).toEqual([
      'tollgate_nope_total',
    ]);
  });

  it("Node's process metrics keep their standard names; tollgate_ is only on Tollgate's own", () => {
    const names = [...exportedNames(exposition)];
    for (const standard of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(names).toContain(standard);
    expect(names.filter((n) => /^tollgate_(?:process|nodejs)_/.test(n))).toEqual([]);
    const own = names.filter((n) => !/^(?:process|nodejs)_/.test(n));
    expect(own.filter((n) => !n.startsWith('tollgate_'))).toEqual([]);
  });

  it('counts the failed authentication with its reason code', () => {
    expect(exposition).toMatch(
      /^tollgate_client_authentications_total\{endpoint="token",method="private_key_jwt",outcome="failure",reason="assertion_replayed"\} 1$/m,
    );
  });

  it('advertises scopes_supported when told the scope list', async () => {
    const metadata = JSON.parse(
      (await get(`${base}/.well-known/oauth-authorization-server`, ca.root.certPem)).body,
    ) as Record<string, unknown>;
    expect(metadata.scopes_supported).toEqual(['read', 'write']);
  });

  it('log.format iso: string levels and ISO 8601 times', async () => {
    // The buffered log is flushed at least every second: wait for the start-up line (bounded).
    let line: Record<string, unknown> | undefined;
    for (let i = 0; i < 50 && line === undefined; i++) {
      line = serve
        ?.output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'tollgate listening');
      if (line === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(line).toMatchObject({ level: 'info', service: 'tollgate' });
    expect(line?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});
