/**
 * package.json: every declared entry point exists in src/, engines are what we run on, and no
 * installed package says it does not run there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
  bin: Record<string, string>;
  engines: { node: string };
  type: string;
};
// npm's own engines check is semver's; semver comes with Fastify (a dependency of ours).
const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
};

interface Installed {
  readonly at: string;
  readonly id: string;
  readonly node: string | undefined;
}

/** Every package under node_modules, nested ones too, with its `engines.node`. */
function installedPackages(dir: string, found: Installed[] = []): Installed[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return found;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const at = join(dir, name);
    if (name.startsWith('@')) {
      installedPackages(at, found);
      continue;
    }
    let manifest: { name?: string; version?: string; engines?: { node?: string } };
    try {
      manifest = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    found.push({
      at: at.slice(root.length),
      id: `${manifest.name}@${manifest.version}`,
      node: manifest.engines?.node,
    });
    installedPackages(join(at, 'node_modules'), found);
  }
  return found;
}

const sourceOf = (distPath: string) =>
  `${root}${distPath
    .replace(/^\.\//, '')
    .replace(/^dist\//, 'src/')
    .replace(/\.js$/, '.ts')}`;

describe('package.json', () => {
  it('declares only entry points that exist (dist/X.js is built from src/X.ts)', () => {
    for (const [name, target] of Object.entries(pkg.exports)) {
      if (name === './package.json') continue;
      const file = typeof target === 'string' ? target : target.default;
      expect(existsSync(sourceOf(file)), `${name} -> ${file}`).toBe(true);
    }
  });

  it('has a tollgate bin with a node shebang, ESM, and honest engines', () => {
    const main = sourceOf(pkg.bin.tollgate as string);
    expect(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    expect(pkg.type).toBe('module');
    expect(pkg.engines.node).toBe('>=20.19.0');
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(major > 20 || (major === 20 && minor >= 19)).toBe(true);
  });

  it('installs no package whose engines exclude the Node versions we declare and run on', () => {
    // npm only warns (EBADENGINE) and installs it all the same. cookie@2 (Node >= 22), pulled in
    // by light-my-request@6.8 (Fastify's inject), was one: package.json's overrides pin
    // light-my-request to 6.6.0, the newest whose dependencies run on Node 20.
    const minimum = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node)?.[1] as string;
    const installed = installedPackages(join(root, 'node_modules'));
    // The walk must find what is there: Fastify alone brings dozens.
    expect(installed.length).toBeGreaterThan(100);
    expect(installed.some((one) => one.node !== undefined)).toBe(true);
    const excluding = installed
      .filter(
        (one) =>
          one.node !== undefined &&
          !(
            semver.satisfies(minimum, one.node) && semver.satisfies(process.versions.node, one.node)
          ),
      )
      .map((one) => `${one.at}: ${one.id} engines.node ${one.node}`);
    expect(excluding).toEqual([]);
  });
});
