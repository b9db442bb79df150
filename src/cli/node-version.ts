/**
 * Imported first by main.ts: on a Node.js older than package.json's `engines` the CLI stops here
 * with one sentence, before Fastify and its dependencies load (on Node 20.18 and older, one of
 * them fails deep inside with ERR_REQUIRE_ESM and a stack trace that names no version).
 */
import { readFileSync } from 'node:fs';

/** What is wrong with running on Node.js `version` given `engines.node` (`>=X.Y.Z`), if anything. */
export function nodeVersionProblem(version: string, required: string): string | undefined {
  const minimum = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(required.trim());
  const running = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (minimum === null || running === null) return undefined;
  for (let i = 1; i <= 3; i++) {
    const have = Number(running[i]);
    const need = Number(minimum[i]);
    if (have > need) return undefined;
    if (have < need) {
      return `tollgate needs Node.js ${required.replace(/^>=\s*/, '')} or later; this is Node.js ${version.replace(/^v/, '')} (${process.execPath}). Install a newer Node.js (nodejs.org, or nvm install 20).\n`;
    }
  }
  return undefined;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines?: { node?: string };
};
const problem = nodeVersionProblem(process.versions.node, pkg.engines?.node ?? '');
if (problem !== undefined) {
  process.stderr.write(problem);
  process.exit(1);
}
