/**
 * A throw-away copy of the repository where the docs test runs every documented command as
 * printed, so the checkout is never touched (no certs/, dist/ or registry edits left behind).
 *
 * The copy holds the files git knows (tracked, and new files not ignored), with node_modules
 * linked, never copied or installed. The well-known ports the docs print (8443 Tollgate, 8444 its
 * mTLS alias, 9443 the demo API, 8080 the plain listener, 9464 the admin listener) are remapped
 * to free ones in the copy's sources, docs and examples alike, so several runs (other worktrees,
 * CI, other tests' servers) never collide (freePort claims them machine-wide, on 127.0.0.1 and ::1:
 * test/docs/two-suites.test.ts): the commands stay exactly as printed but for those
 * five numbers.
 */
import { spawnSync } from 'node:child_process';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../helpers/net.js';

/** The ports the docs print, in the order they are remapped. */
export const documentedPorts = [8443, 8444, 9443, 8080, 9464] as const;

export interface Sandbox {
  /** The copy's root: the working directory of every block. */
  readonly root: string;
  /** Documented port -> the free port that stands for it in this copy. */
  readonly ports: ReadonlyMap<number, number>;
  /** Rewrites the documented ports of a text to this copy's ports. */
  remap(text: string): string;
  /** The environment blocks run in: the caller's, minus test-runner and Tollgate variables. */
  readonly env: NodeJS.ProcessEnv;
  dispose(): Promise<void>;
}

/** Where the copy rewrites ports: everything a documented command reads or prints. */
const remappedPrefixes = ['src/', 'examples/', 'docs/', 'scripts/', 'certs/', 'README.md'];

/** Makes the copy. `repo` is the checkout's root. */
export async function createSandbox(repo: string): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), 'tollgate-docs-'));
  const ports = new Map<number, number>();
  for (const port of documentedPorts) ports.set(port, await freePort());
  const alternation = documentedPorts.join('|');
  const hostPort = new RegExp(`\\b(localhost|127\\.0\\.0\\.1):(${alternation})\\b`, 'g');
  const portKey = new RegExp(`(\\bport:\\s*|--port[ =])(${alternation})\\b`, 'g');
  const remap = (text: string): string =>
    text
      .replace(hostPort, (_all, host: string, port: string) => `${host}:${ports.get(Number(port))}`)
      .replace(portKey, (_all, key: string, port: string) => `${key}${ports.get(Number(port))}`);

  const listed = spawnSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: repo,
      encoding: 'utf8',
    },
  );
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  const files = listed.stdout.split('\0').filter((file) => file !== '');
  for (const file of files) {
    const from = join(repo, file);
    const to = join(root, file);
    await mkdir(dirname(to), { recursive: true });
    if (remappedPrefixes.some((prefix) => file.startsWith(prefix)) && isText(file)) {
      const text = await readFile(from, 'utf8').catch(() => undefined);
      if (text === undefined) continue; // deleted in the worktree but still in the index
      await writeFile(to, remap(text));
    } else {
      await copyFile(from, to).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
  }
  await symlink(join(repo, 'node_modules'), join(root, 'node_modules'), 'dir');

  // `tollgate` on PATH, as for a user who installed the package: the docs may say `tollgate ...`.
  const bin = join(root, '.docs-test', 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(
    join(bin, 'tollgate'),
    `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'dist/cli/main.js')}" "$@"\n`,
  );
  await chmod(join(bin, 'tollgate'), 0o755);

  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // A user's shell has none of these: vitest's markers, NODE_ENV=test, npm's lifecycle
    // variables from `npm test`, and any Tollgate override of the developer's.
    if (/^(VITEST|__VITEST|TOLLGATE_|npm_|NODE_OPTIONS$|NODE_ENV$|TEST$|FORCE_COLOR$)/.test(name))
      continue;
    env[name] = value;
  }
  env.PATH = `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  env.NO_COLOR = '1';
  // One override all the same: no load shedding for the servers the docs start. With its
  // default (100 ms of event-loop delay) a busy test machine (load average 18) made a documented
  // `serve --dev` answer 503 `overloaded` instead of the token the page shows; shedding has its
  // own test (test/http/load-shedding.test.ts).
  env.TOLLGATE_UNDER_PRESSURE__MAX_EVENT_LOOP_DELAY_MS = '0';

  return {
    root,
    ports,
    remap,
    env,
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

function isText(file: string): boolean {
  return /\.(ts|mts|js|mjs|json|md|txt|sh|yaml|yml)$/.test(file);
}
