/**
 * Reads the files trace-preload.cjs wrote (BENCH_TRACE_DIR) for an open-loop run and splits every
 * request's latency into where it was spent, joined by the x-bench-trace id:
 *
 *   late    scheduled -> loadgen called pool.request (the generator's timer was late)
 *   queue   pool.request -> undici wrote the request (waiting for a free connection)
 *   inbound written -> the server's 'request' event (kernel, the server's event loop busy)
 *   server  'request' -> res.end() (Tollgate's handler)
 *   back    res.end() -> undici parsed the response head (kernel, the generator's loop busy)
 *   body    head -> body read and loadgen's record() (JSON.parse, checks)
 *
 * Usage: node scripts/bench/trace-analyze.mjs DIR [SKIP_MS=2500] [SHOW=15]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, skipArg, showArg] = process.argv.slice(2);
const skipMs = Number(skipArg ?? 2500);
const show = Number(showArg ?? 15);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const generator = files.filter((f) => f.role === 'generator' && f.ticks.length > 0).at(-1);
if (generator === undefined) throw new Error('no open-loop generator trace');
const first = generator.client.reduce((m, r) => Math.min(m, r[1]), Infinity);
const last = generator.client.reduce((m, r) => Math.max(m, r[6]), 0);
// The server whose requests overlap the generator's.
const server = files
  .filter((f) => f.role !== 'generator' && f.requests.length > 0)
  .find((f) => f.requests.some((r) => r[0] > first && r[0] < last));
if (server === undefined) throw new Error('no server trace overlapping the generator');
const serverById = new Map(server.requests.map((r) => [r[4], r]));

const rows = [];
for (const c of generator.client) {
  const [id, scheduled, issued, , sent, head, done, port, status] = c;
  if (scheduled < first + skipMs * 1000) continue;
  const s = serverById.get(id);
  if (s === undefined || sent === 0 || head === 0) continue;
  rows.push({
    id,
    scheduled,
    port,
    status,
    total: done - scheduled,
    late: issued - scheduled,
    queue: sent - issued,
    inbound: s[0] - sent,
    server: (s[5] || s[1]) - s[0],
    back: head - (s[5] || s[1]),
    finishLag: s[1] - (s[5] || s[1]),
    body: done - head,
    // What the server and the pool's connections account for: the generator's own delays (its
    // timer before the send, its event loop after the answer) left out.
    serverSide: s[5] ? (s[5] || s[1]) - issued : 0,
    turn: s[3],
    srvStart: s[0],
    srvEnd: s[1],
  });
}
const parts = ['late', 'queue', 'inbound', 'server', 'back', 'body'];
const pct = (values, p) => {
  const sorted = Float64Array.from(values).sort();
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};
const ms = (us) => (us / 1000).toFixed(2);
console.log(`${rows.length} requests joined (of ${generator.client.length}), after ${skipMs} ms`);
console.log(`part     p50 ms   p90 ms   p99 ms  p99.9 ms   max ms`);
for (const part of ['total', ...parts, 'finishLag', 'serverSide']) {
  const v = rows.map((r) => r[part]);
  console.log(
    `${part.padEnd(8)} ${[50, 90, 99, 99.9, 100].map((p) => ms(pct(v, p)).padStart(8)).join(' ')}`,
  );
}
const byTotal = [...rows].sort((a, b) => a.total - b.total);
const slow = byTotal.slice(Math.floor(byTotal.length * 0.99));
console.log(
  `\nslowest 1% (${slow.length}, total >= ${ms(slow[0]?.total ?? 0)} ms): mean ms per part`,
);
console.log(
  parts.map((p) => `${p} ${ms(slow.reduce((s, r) => s + r[p], 0) / slow.length)}`).join('  '),
);

// Server batching: requests per event-loop turn, and how long a turn's requests took.
const turns = new Map();
for (const r of server.requests) {
  const t = turns.get(r[3]) ?? { n: 0, start: Infinity, end: 0 };
  t.n++;
  t.start = Math.min(t.start, r[0]);
  t.end = Math.max(t.end, r[1]);
  turns.set(r[3], t);
}
const perTurn = [...turns.values()].filter((t) => t.start > first + skipMs * 1000);
const hist = new Map();
for (const t of perTurn) hist.set(Math.min(t.n, 17), (hist.get(Math.min(t.n, 17)) ?? 0) + 1);
console.log(
  `\nserver: requests per event-loop turn (turns: ${perTurn.length}): ` +
    [...hist]
      .sort((a, b) => a[0] - b[0])
      .map(([n, c]) => `${n === 17 ? '17+' : n}:${c}`)
      .join(' '),
);
console.log(
  `server: turn length (first start to last finish) p50 ${ms(
    pct(
      perTurn.map((t) => t.end - t.start),
      50,
    ),
  )} ` +
    `p99 ${ms(
      pct(
        perTurn.map((t) => t.end - t.start),
        99,
      ),
    )} max ${ms(
      pct(
        perTurn.map((t) => t.end - t.start),
        100,
      ),
    )} ms`,
);
const serverTimes = rows.map((r) => r.server);
console.log(
  `server: per-request handler time p50 ${ms(pct(serverTimes, 50))} p99 ${ms(pct(serverTimes, 99))} ms`,
);

// In flight at the generator when each slow request was scheduled.
const bucketAt = (trace, t) => trace.buckets.find((b) => b.t >= t);
const gcIn = (trace, a, b) => trace.gc.filter((g) => g[0] + g[1] >= a && g[0] <= b);
console.log(`\nthe ${show} slowest, with what each process did around them:`);
for (const r of byTotal.slice(-show).reverse()) {
  const sb = bucketAt(server, r.scheduled);
  const gb = bucketAt(generator, r.scheduled);
  const sgc = gcIn(server, r.scheduled, r.scheduled + r.total);
  const ggc = gcIn(generator, r.scheduled, r.scheduled + r.total);
  console.log(
    `#${r.id} at +${ms(r.scheduled - first)} ms: total ${ms(r.total)} = ` +
      parts.map((p) => `${p} ${ms(r[p])}`).join(' ') +
      ` port ${r.port}\n` +
      `   server 100ms: elu ${sb?.elu} eldMax ${ms(sb?.eldMaxUs ?? 0)} runq-wait ${ms(sb?.waitUs ?? 0)} invCs ${sb?.invCs} cpu ${ms(sb?.cpuUs ?? 0)}; ` +
      `gc ${sgc.map((g) => `${ms(g[1])}(k${g[2]})`).join(',') || '-'}\n` +
      `   gen    100ms: elu ${gb?.elu} eldMax ${ms(gb?.eldMaxUs ?? 0)} runq-wait ${ms(gb?.waitUs ?? 0)} invCs ${gb?.invCs} cpu ${ms(gb?.cpuUs ?? 0)}; ` +
      `gc ${ggc.map((g) => `${ms(g[1])}(k${g[2]})`).join(',') || '-'}`,
  );
}

// Whole-run series summaries.
for (const [name, trace] of [
  ['server', server],
  ['generator', generator],
]) {
  const b = trace.buckets.filter((x) => x.t > first + skipMs * 1000 && x.t < last);
  const gcs = trace.gc.filter((g) => g[0] > first + skipMs * 1000 && g[0] < last);
  console.log(
    `\n${name}: ${b.length} buckets; elu p50 ${pct(
      b.map((x) => x.elu),
      50,
    )}; ` +
      `eld max p50 ${ms(
        pct(
          b.map((x) => x.eldMaxUs),
          50,
        ),
      )} p90 ${ms(
        pct(
          b.map((x) => x.eldMaxUs),
          90,
        ),
      )} max ${ms(
        pct(
          b.map((x) => x.eldMaxUs),
          100,
        ),
      )} ms; ` +
      `run-queue wait per 100 ms p50 ${ms(
        pct(
          b.map((x) => x.waitUs),
          50,
        ),
      )} p90 ${ms(
        pct(
          b.map((x) => x.waitUs),
          90,
        ),
      )} max ${ms(
        pct(
          b.map((x) => x.waitUs),
          100,
        ),
      )} ms; ` +
      `invol. cs per 100 ms p50 ${pct(
        b.map((x) => x.invCs),
        50,
      )} max ${pct(
        b.map((x) => x.invCs),
        100,
      )}; ` +
      `gc ${gcs.length} pauses, p50 ${ms(
        pct(
          gcs.map((g) => g[1]),
          50,
        ),
      )} max ${ms(
        pct(
          gcs.map((g) => g[1]),
          100,
        ),
      )} ms`,
  );
}
const ticks = generator.ticks.filter((t) => t[0] > first + skipMs * 1000);
const gaps = ticks.slice(1).map((t, i) => t[0] - ticks[i][0]);
console.log(
  `generator ticks: ${ticks.length}, gap p50 ${ms(pct(gaps, 50))} p99 ${ms(pct(gaps, 99))} max ${ms(pct(gaps, 100))} ms; ` +
    `requests due per tick p50 ${pct(
      ticks.map((t) => t[1]),
      50,
    )} p99 ${pct(
      ticks.map((t) => t[1]),
      99,
    )} max ${pct(
      ticks.map((t) => t[1]),
      100,
    )}`,
);
