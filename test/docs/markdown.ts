/**
 * Runnable blocks of a Markdown file, for the docs test (STYLE.md §22: docs are executable).
 *
 * The convention, fixed for every Markdown file of the repository (BRIEF, "Docs are tests"):
 * fenced blocks tagged `sh`/`bash`/`shell` and `ts`/`typescript`/`js`/`javascript` run; other
 * tags and untagged blocks do not. A line directly above a fence may say how the block runs:
 *
 * - `<!-- docs-test: skip (reason) -->`: not run; the reason is required and reported.
 * - `<!-- docs-test: background (… localhost:PORT …) -->`: a server. It runs in the background
 *   and the next block starts once PORT accepts connections; it is stopped when its file ends.
 *
 * Any other `docs-test:` directive is an error, so that a typo cannot silently skip a block.
 */

/** Tags whose blocks run. */
export const shellTags: ReadonlySet<string> = new Set(['sh', 'bash', 'shell']);
export const scriptTags: ReadonlySet<string> = new Set(['ts', 'typescript', 'js', 'javascript']);

export type BlockMode =
  | { readonly kind: 'run' }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'background'; readonly port: number; readonly note: string };

export interface DocBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The info string's first word, lower-case. */
  readonly tag: string;
  readonly language: 'shell' | 'script';
  /** The block's text, its fence indentation removed, ending with a newline. */
  readonly code: string;
  readonly mode: BlockMode;
}

const directive = /^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$/;
const fenceOpen = /^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)/;

/**
 * Every runnable block of `markdown`, in order.
 *
 * @throws Error naming the line for a malformed `docs-test` directive or an unclosed fence.
 */
export function runnableBlocks(markdown: string, file = 'markdown'): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = fenceOpen.exec(lines[i] ?? '');
    if (open === null) {
      const stray = directive.exec(lines[i] ?? '');
      // A directive must sit directly above a fence; anywhere else it would silently do nothing.
      if (stray !== null && !fenceOpen.test(lines[i + 1] ?? '')) {
        throw new Error(`${file}:${i + 1}: a docs-test directive must be directly above a fence`);
      }
      continue;
    }
    const [, indent = '', fence = '```', info = ''] = open;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const line = lines[i] ?? '';
      if (line.trimStart().startsWith(fence) && line.trim() === line.trim().replace(/[^`~]/g, '')) {
        break;
      }
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: unclosed code fence`);
    const tag = info.toLowerCase();
    const language = shellTags.has(tag) ? 'shell' : scriptTags.has(tag) ? 'script' : undefined;
    const above = directive.exec(lines[start - 1] ?? '');
    if (language === undefined) {
      if (above !== null) {
        throw new Error(`${file}:${start}: docs-test directive above a block that never runs`);
      }
      continue;
    }
    blocks.push({
      line: start + 1,
      tag,
      language,
      code: `${body.join('\n')}\n`,
      mode: above === null ? { kind: 'run' } : parseDirective(above[1] ?? '', `${file}:${start}`),
    });
  }
  return blocks;
}

function parseDirective(text: string, where: string): BlockMode {
  const match = /^(skip|background)\s*\((.+)\)$/.exec(text);
  if (match === null) {
    throw new Error(
      `${where}: unknown docs-test directive "${text}": use "skip (reason)" or "background (… localhost:PORT …)"`,
    );
  }
  const [, kind, note = ''] = match;
  if (kind === 'skip') return { kind: 'skip', reason: note.trim() };
  const port = /localhost:(\d{2,5})\b/.exec(note)?.[1];
  if (port === undefined) {
    throw new Error(
      `${where}: a background block must name the port it waits for (localhost:PORT)`,
    );
  }
  return { kind: 'background', port: Number(port), note: note.trim() };
}

/**
 * The text of every fenced block tagged `tag` (any tag, runnable or not), for tests that run a
 * documented configuration themselves (docs/deployment.md's nginx and HAProxy blocks).
 */
export function fencedBlocks(markdown: string, tag: string): string[] {
  const found: string[] = [];
  const pattern = /^```([^\s`]*)[^\n]*\n([\s\S]*?)^```\s*$/gm;
  for (const match of markdown.matchAll(pattern)) {
    if ((match[1] ?? '').toLowerCase() === tag.toLowerCase()) found.push(match[2] ?? '');
  }
  return found;
}
