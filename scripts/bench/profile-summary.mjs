/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per area
 * (Tollgate's dist/ modules, each node_modules package, Node internals, GC, idle), and inclusive
 * time (self plus everything called from it, each sample counted once per function) of
 * Tollgate's own functions, which is where a cost spread over many small callees shows.
 *
 * Usage: node profile-summary.mjs FILE.cpuprofile [TOP] [FROM_MS] [TO_MS]
 */
import { readFileSync } from 'node:fs';

/**
 * Self time (ms) by function and by area, from one profile. `fromMs`/`toMs` (relative to the
 * profile's start) keep only the timed window, so start-up (module loading) does not show.
 */
export function summarizeProfile(file, top = 25, fromMs = 0, toMs = Number.POSITIVE_INFINITY) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  const selfUs = new Map();
  let atUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    atUs += delta;
    if (atUs < fromMs * 1000 || atUs > toMs * 1000) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const functions = new Map();
  const areas = new Map();
  const inclusive = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    const name = callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const key = functionKey(callFrame);
    functions.set(key, (functions.get(key) ?? 0) + us);
    const area = areaOf(callFrame.url, name);
    areas.set(area, (areas.get(area) ?? 0) + us);
    // Up the stack: every Tollgate function on it, once (recursion counts once).
    const seen = new Set();
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const frame = byId.get(at).callFrame;
      if (!areaOf(frame.url, frame.functionName).startsWith('tollgate:')) continue;
      const own = functionKey(frame);
      if (seen.has(own)) continue;
      seen.add(own);
      inclusive.set(own, (inclusive.get(own) ?? 0) + us);
    }
  }
  const rank = (map) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000, percent: (100 * us) / total }));
  return {
    busyMs: total / 1000,
    idleMs: idle / 1000,
    functions: rank(functions).slice(0, top),
    areas: rank(areas).slice(0, top),
    tollgateInclusive: rank(inclusive).slice(0, top),
  };
}

function functionKey(callFrame) {
  const where = shortUrl(callFrame.url);
  const name = callFrame.functionName || '(anonymous)';
  return `${name} ${where}${where === '' ? '' : `:${callFrame.lineNumber + 1}`}`;
}

function shortUrl(url) {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

function areaOf(url, name) {
  if (url === '') return name.startsWith('(') ? name : '(native/builtin)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `tollgate:${url.slice(dist + 6).split('/')[0]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[1] ?? url.slice(5)}`;
  return url;
}

export function formatSummary(summary) {
  const lines = [`busy ${summary.busyMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms`];
  lines.push('  self time by area:');
  for (const one of summary.areas.slice(0, 12)) {
    lines.push(`    ${one.percent.toFixed(1).padStart(5)}%  ${one.name}`);
  }
  lines.push('  top functions (self time):');
  for (const one of summary.functions) {
    lines.push(`    ${one.percent.toFixed(1).padStart(5)}%  ${one.name}`);
  }
  if (summary.tollgateInclusive !== undefined) {
    lines.push("  Tollgate's functions (inclusive time):");
    for (const one of summary.tollgateInclusive.slice(0, 15)) {
      lines.push(`    ${one.percent.toFixed(1).padStart(5)}%  ${one.name}`);
    }
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node profile-summary.mjs FILE.cpuprofile [TOP]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(
      `${formatSummary(
        summarizeProfile(
          file,
          Number(process.argv[3] ?? 25),
          Number(process.argv[4] ?? 0),
          Number(process.argv[5] ?? Number.POSITIVE_INFINITY),
        ),
      )}\n`,
    );
  }
}
