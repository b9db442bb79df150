/**
 * Writes a planned set of files all-or-nothing with respect to conflicts: every target is checked
 * before the first byte is written, so a refused command (no `--force`) leaves the directory
 * exactly as it was. Each file is written to a temporary name and renamed into place, so readers
 * (a server hot-reloading the registry) never see half a file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

/** Key files: 0600. Everything else: 0644 inside 0700 folders. */
export const privateMode = 0o600;
export const publicMode = 0o644;
export const folderMode = 0o700;

/** One file a command wants to write. */
export interface PlannedFile {
  /** Relative to the PKI directory. */
  readonly path: string;
  readonly content: string | Buffer;
  readonly mode: number;
  /**
   * `create`: an artifact the command makes; refusing to overwrite it without `--force`.
   * `update`: shared state the command maintains (registry, CRLs, manifest, EXAMPLES.md),
   * rewritten only when its content changes.
   */
  readonly kind: 'create' | 'update';
}

/** One file a command made, as reported to the user. */
export interface MadeFile {
  readonly path: string;
  readonly role: string;
  readonly subject?: string;
  readonly serial?: string;
  readonly notAfter?: Date;
}

/** What {@link Plan.add} may say about a file beyond its role. */
export interface AddOptions {
  /** A key or password: 0600. Default 0644. */
  readonly secret?: boolean;
  /** Default `create`. */
  readonly kind?: PlannedFile['kind'];
  /** What the report shows of it: a certificate's subject, serial and notAfter, a CRL's nextUpdate. */
  readonly about?: {
    readonly subject?: string;
    readonly serialHex?: string;
    readonly notAfter: Date;
  };
}

/** The files a command will write and the report line of each (none for an empty role). */
export class Plan {
  readonly files: PlannedFile[] = [];
  readonly made: MadeFile[] = [];

  add(path: string, content: string | Buffer, role: string, options: AddOptions = {}): this {
    const { secret = false, kind = 'create', about } = options;
    this.files.push({ path, content, mode: secret ? privateMode : publicMode, kind });
    if (role === '') return this;
    const { subject, serialHex: serial, notAfter } = about ?? {};
    this.made.push({ path, role, ...defined({ subject, serial, notAfter }) });
    return this;
  }

  /** Takes in another plan's files and report lines. */
  merge(other: Plan): this {
    this.files.push(...other.files);
    this.made.push(...other.made);
    return this;
  }
}

/** JSON files as the dev CA writes them: two-space indent and a final newline, for clean diffs. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A shared file the dev CA maintains (manifest.json, EXAMPLES.md, the SPIFFE bundle): 0644. */
export function sharedFile(path: string, content: string): PlannedFile {
  return { path, content, mode: publicMode, kind: 'update' };
}

/**
 * `value` without its undefined members: how optional fields are passed on under
 * `exactOptionalPropertyTypes`, where `{ a: undefined }` is not an absent `a`.
 */
export function defined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

/** Thrown when files exist and `--force` was not given; nothing was written. */
export class ConflictError extends Error {
  readonly paths: readonly string[];
  constructor(paths: readonly string[]) {
    super(
      `refusing to overwrite ${paths.length} existing file(s) without --force: ${paths.join(', ')}`,
    );
    this.name = 'ConflictError';
    this.paths = paths;
  }
}

/** Throws a {@link ConflictError} naming every `create` file that exists, and `also`. */
export async function refuseConflicts(
  dir: string,
  files: readonly PlannedFile[],
  also: readonly string[] = [],
): Promise<void> {
  const conflicts: string[] = [];
  for (const file of files) {
    if (file.kind === 'create' && (await exists(join(dir, file.path)))) conflicts.push(file.path);
  }
  conflicts.push(...also);
  if (conflicts.length > 0) throw new ConflictError(conflicts);
}

/**
 * Writes `files` under `dir` (in 0700 folders) and returns the paths actually written; an
 * `update` file whose content is unchanged is left alone. Callers refuse conflicts first.
 */
export async function writeFiles(dir: string, files: readonly PlannedFile[]): Promise<string[]> {
  const written: string[] = [];
  for (const file of files) {
    const target = join(dir, file.path);
    const content = typeof file.content === 'string' ? Buffer.from(file.content) : file.content;
    if (
      file.kind === 'update' &&
      (await readFile(target).catch(() => undefined))?.equals(content)
    ) {
      await chmod(target, file.mode);
      continue;
    }
    await mkdir(dirname(target), { recursive: true, mode: folderMode });
    const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    // Create with the final mode so a key is never readable by others, not even briefly.
    await writeFile(temp, content, { mode: file.mode, flag: 'wx' });
    await chmod(temp, file.mode);
    await rename(temp, target);
    written.push(file.path);
  }
  return written;
}

/** Every folder and file under `dir`: its path (relative, `/`-separated), kind and mode; sorted. */
export async function listTree(
  dir: string,
): Promise<{ readonly path: string; readonly folder: boolean; readonly mode: number }[]> {
  const found: { path: string; folder: boolean; mode: number }[] = [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const folder = entry.isDirectory();
    if (!folder && !entry.isFile()) continue;
    const absolute = join(entry.parentPath, entry.name);
    const path = relative(dir, absolute).split(sep).join('/');
    found.push({ path, folder, mode: (await stat(absolute)).mode & 0o777 });
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** True when the path exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Reads a UTF-8 file, or undefined when it does not exist. */
export async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
}
