/** The docs test's extractor: which blocks run, and the directives that change that. */
import { describe, expect, it } from 'vitest';
import { runnableBlocks } from './markdown.js';

const fence = '```';

describe('runnableBlocks', () => {
  it('takes shell and script tags, leaves every other tag and untagged blocks', () => {
    const doc = [
      `${fence}sh`,
      'echo one',
      fence,
      `${fence}json`,
      '{}',
      fence,
      `${fence}`,
      'plain',
      fence,
      `  ${fence}TypeScript`,
      '  const x = 1;',
      `  ${fence}`,
      `${fence}nginx`,
      'server {}',
      fence,
    ].join('\n');
    const blocks = runnableBlocks(doc);
    expect(blocks.map((b) => [b.line, b.tag, b.language, b.code])).toEqual([
      [1, 'sh', 'shell', 'echo one\n'],
      [10, 'typescript', 'script', 'const x = 1;\n'],
    ]);
  });

  it('reads skip with its reason and background with its port', () => {
    const doc = [
      '<!-- docs-test: skip (needs the network (npm registry)) -->',
      `${fence}bash`,
      'npm install',
      fence,
      '<!-- docs-test: background (the server on localhost:8443) -->',
      `${fence}sh`,
      'npm start',
      fence,
    ].join('\n');
    expect(runnableBlocks(doc).map((b) => b.mode)).toEqual([
      { kind: 'skip', reason: 'needs the network (npm registry)' },
      { kind: 'background', port: 8443, note: 'the server on localhost:8443' },
    ]);
  });

  it('refuses directives that would silently do nothing or were mistyped', () => {
    const under =
      (directive: string, tag = 'sh') =>
      () =>
        runnableBlocks([directive, `${fence}${tag}`, 'x', fence].join('\n'), 'doc.md');
    expect(under('<!-- docs-test: skip -->')).toThrow(/doc\.md:1: unknown docs-test directive/);
    expect(under('<!-- docs-test: skp (typo) -->')).toThrow(/unknown docs-test directive/);
    expect(under('<!-- docs-test: background (a server) -->')).toThrow(/must name the port/);
    expect(under('<!-- docs-test: skip (json never runs) -->', 'json')).toThrow(/never runs/);
    expect(() => runnableBlocks('<!-- docs-test: skip (x) -->\n\ntext', 'doc.md')).toThrow(
      /doc\.md:1: a docs-test directive must be directly above a fence/,
    );
    expect(() => runnableBlocks(`${fence}sh\necho`, 'doc.md')).toThrow(/unclosed code fence/);
  });
});
