/** package.json: every declared entry point exists in src/, and engines are what we run on. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
  bin: Record<string, string>;
  engines: { node: string };
  type: string;
};
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
});
