/**
 * Suite-wide log audit: every test server writes its logs to a shared folder, and after the
 * whole suite the folder is searched for things that must never be logged: client assertions,
 * access tokens, private key material. A finding fails the run.
 *
 * Suite-wide scratch: `TMPDIR` points every test process (and everything it spawns: Tollgate,
 * redis-server, nginx, haproxy) at one folder of this run, removed at the end, so a run leaves
 * no certificates, keys or sockets behind in the machine's temporary folder, even from a test
 * that failed before its own cleanup.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { machineTmpdirVariable } from './helpers/net.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where test servers write their logs for the suite-wide secret search. */
    tollgateLogDir: string;
  }
}

const forbidden: readonly { name: string; pattern: RegExp }[] = [
  // Any compact JWS/JWT: assertions and access tokens alike.
  {
    name: 'a JWT (assertion or token)',
    pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/,
  },
  { name: 'a private JWK member', pattern: /"(d|p|q|dp|dq|qi)"\s*:\s*"[A-Za-z0-9_-]{16,}/ },
  { name: 'a PEM private key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { name: 'a client_assertion parameter', pattern: /client_assertion=/ },
];

export function setup(project: TestProject): () => void {
  // The machine's own, kept for what must be shared across suites (test ports' locks: net.ts).
  process.env[machineTmpdirVariable] ??= tmpdir();
  const scratch = mkdtempSync(join(tmpdir(), 'tollgate-suite-'));
  // Read by os.tmpdir() at every call, and inherited by the test workers forked after setup.
  process.env.TMPDIR = scratch;
  const dir = mkdtempSync(join(scratch, 'logs-'));
  project.provide('tollgateLogDir', dir);
  return () => {
    const files = readdirSync(dir);
    const findings: string[] = [];
    let auditLines = 0;
    for (const file of files) {
      const lines = readFileSync(join(dir, file), 'utf8').split('\n');
      lines.forEach((line, index) => {
        if (line.includes('"audit":')) auditLines++;
        for (const { name, pattern } of forbidden) {
          if (pattern.test(line)) findings.push(`${file}:${index + 1}: ${name}`);
        }
      });
    }
    rmSync(scratch, { recursive: true, force: true });
    if (findings.length > 0) {
      throw new Error(
        `secrets found in the logs of the test suite:\n${findings.slice(0, 20).join('\n')}`,
      );
    }
    // The check must be able to fail: it only means something if servers did log.
    if (files.length > 0 && auditLines === 0)
      throw new Error('the test servers wrote no audit lines');
    console.log(`log audit: ${files.length} log files, ${auditLines} audit lines, no secrets`);
  };
}
