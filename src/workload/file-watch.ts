/**
 * A configured file re-read when its content changes, checked at most once per interval on the
 * caller's clock (no watcher: secret mounts replace files by rename, where watches go stale).
 * A change that does not parse keeps the last good value.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** Largest trust file read (a bundle or JWKS of at most 64 keys fits easily). */
export const maxTrustFileBytes = 1024 * 1024;

export class WatchedFile<T> {
  readonly #path: string;
  readonly #parse: (text: string) => T;
  readonly #clock: () => number;
  readonly #intervalMs: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  #value: T;
  #hash: string;
  #checkedAtMs: number;

  /** Reads the file once; throws (start-up fails) if it cannot be read or parsed. */
  constructor(options: {
    readonly path: string;
    readonly parse: (text: string) => T;
    readonly clock: () => number;
    readonly intervalMs: number;
    readonly onError?: (error: unknown) => void;
  }) {
    this.#path = options.path;
    this.#parse = options.parse;
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs;
    this.#onError = options.onError;
    const text = readBounded(this.#path);
    this.#value = this.#parse(text);
    this.#hash = sha256(text);
    this.#checkedAtMs = this.#clock();
  }

  /** The current value, re-read first when the interval has passed and the content changed. */
  get(): T {
    const now = this.#clock();
    if (now - this.#checkedAtMs < this.#intervalMs) return this.#value;
    this.#checkedAtMs = now;
    try {
      const text = readBounded(this.#path);
      const hash = sha256(text);
      if (hash !== this.#hash) {
        this.#value = this.#parse(text);
        this.#hash = hash;
      }
    } catch (error) {
      this.#onError?.(error);
    }
    return this.#value;
  }
}

function readBounded(path: string): string {
  if (statSync(path).size > maxTrustFileBytes) {
    throw new RangeError(`${path} is larger than ${maxTrustFileBytes} bytes`);
  }
  return readFileSync(path, 'utf8');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
