/**
 * docs/troubleshooting.md covers every error Tollgate can produce: each `error_description`
 * built in src/ (read out of the source by the TypeScript parser, so a new one cannot slip by)
 * and each internal reason code of the two closed unions (token endpoint and resource server).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reasonCodes } from '../../src/errors/index.js';
import { resourceReasonCodes } from '../../src/resource/errors.js';
import { extractErrorCatalog } from '../helpers/error-catalog.js';

const root = join(import.meta.dirname, '../..');
const doc = readFileSync(join(root, 'docs/troubleshooting.md'), 'utf8');

/** A description as a pattern: its fixed text exactly, `…` (a run-time part) as anything short. */
function pattern(description: string): RegExp {
  const escaped = description.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(escaped.join('.{1,80}?'));
}

describe('docs/troubleshooting.md', () => {
  const catalog = extractErrorCatalog(join(root, 'src'), root);

  it('the extractor follows every way a description is built', () => {
    expect(catalog.unresolved).toEqual([]);
    // It finds the descriptions (a broken extractor would find none and pass everything).
    expect(catalog.descriptions.length).toBeGreaterThan(80);
    const texts = catalog.descriptions.map((d) => d.text);
    expect(texts).toContain('client_assertion was replayed: its jti has already been used');
    expect(texts).toContain('the client certificate or its chain has been revoked'); // a table
    expect(texts).toContain('the … accepts POST only'); // a template
  });

  it('lists every error_description', () => {
    const missing = catalog.descriptions
      .filter((d) => !pattern(d.text).test(doc))
      .map((d) => `${d.where}: ${d.text}`);
    expect(missing, `add to docs/troubleshooting.md:\n${missing.join('\n')}`).toEqual([]);
  });

  it('has a section for every reason code, and none for a code that does not exist', () => {
    const codes = [...new Set([...reasonCodes, ...resourceReasonCodes])];
    const headings = [...doc.matchAll(/^#### `([a-z_]+)`$/gm)].map((m) => m[1]);
    const missing = codes.filter((code) => !headings.includes(code));
    expect(missing, 'reason codes without a section').toEqual([]);
    expect(headings.filter((h) => !(codes as string[]).includes(h as string))).toEqual([]);
  });

  it('gives each section a cause and a fix', () => {
    const sections = doc.split(/^#### /m).slice(1);
    for (const section of sections) {
      const title = section.slice(0, section.indexOf('\n'));
      expect(section, title).toMatch(/Cause:|Reserved for/);
      expect(section, title).toMatch(/Fix:|not Tollgate's|made elsewhere/);
    }
  });
});
