/**
 * The client's credentials on disk, re-read when they change: the TLS material (client
 * certificate chain, its key, extra trust anchors) behind one undici Agent per version, and the
 * private JWK used to sign assertions. Rotating a certificate is then writing new files: the next
 * token request presents the new certificate, so the next token is bound to it (RFC 8705 §3).
 *
 * Change detection is a stat (device, inode, size, mtime and ctime in nanoseconds) rather than
 * fs.watch, which misses atomic renames on some platforms and holds file descriptors; a stat per
 * token request costs nothing next to a TLS handshake.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { CryptoKey, JWK, KeyObject } from 'jose';
import { Agent } from 'undici';

/** One version of the TLS settings, and the dispatcher that uses them. */
export interface TlsMaterial {
  /** Increases by one each time the files change. */
  readonly generation: number;
  readonly dispatcher: Agent;
  /** RFC 8705 §3.1 `x5t#S256` of the client certificate (the first in the chain file), if any. */
  readonly certificateThumbprint: string | undefined;
}

export interface TlsMaterialOptions {
  /** PEM client certificate, optionally followed by its intermediates. */
  readonly certFile?: string | undefined;
  /** PEM private key of the client certificate. */
  readonly keyFile?: string | undefined;
  /** PEM trust anchors for server certificates, in addition to Node's defaults. */
  readonly caFile?: string | undefined;
  /** Inline PEM trust anchors, in addition to `caFile`. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[] | undefined;
  /** Epoch ms. */
  readonly now: () => number;
  /** Between two checks of the files when nothing forces one. */
  readonly checkIntervalMs: number;
  /** Connection timeout for new connections. */
  readonly connectTimeoutMs: number;
  /** Called when changed files cannot be loaded; the previous version stays in use. */
  readonly onReloadError?: ((error: unknown) => void) | undefined;
}

/** Stat-based identity of a file's current content. */
async function fileSignature(path: string): Promise<string> {
  const info = await stat(path, { bigint: true });
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

async function signatures(paths: readonly string[]): Promise<string> {
  return (await Promise.all(paths.map(fileSignature))).join('|');
}

/** Holds the current {@link TlsMaterial}, reloading it when the files change. */
export class TlsMaterialSource {
  readonly #options: TlsMaterialOptions;
  readonly #paths: readonly string[];
  #current: TlsMaterial | undefined;
  #previous: Agent | undefined;
  #signature = '';
  #checkedAtMs = Number.NEGATIVE_INFINITY;
  #checking: Promise<TlsMaterial> | undefined;
  #closed = false;

  constructor(options: TlsMaterialOptions) {
    if ((options.certFile === undefined) !== (options.keyFile === undefined))
      throw new TypeError('a client certificate needs both certFile and keyFile');
    this.#options = options;
    this.#paths = [options.certFile, options.keyFile, options.caFile].filter(
      (one): one is string => one !== undefined,
    );
  }

  /** Whether a client certificate is configured. */
  get hasCertificate(): boolean {
    return this.#options.certFile !== undefined;
  }

  /**
   * The current material. The files are checked when `force` is set (every token request) or
   * when the check interval has passed; concurrent callers share one check.
   */
  current(force: boolean): Promise<TlsMaterial> {
    if (this.#closed) return Promise.reject(new TypeError('the TokenClient is closed'));
    const current = this.#current;
    if (
      current !== undefined &&
      !force &&
      this.#options.now() - this.#checkedAtMs < this.#options.checkIntervalMs
    ) {
      return Promise.resolve(current);
    }
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<TlsMaterial> {
    const current = this.#current;
    try {
      const signature = await signatures(this.#paths);
      this.#checkedAtMs = this.#options.now();
      if (current !== undefined && signature === this.#signature) return current;
      const next = await this.#load(current === undefined ? 1 : current.generation + 1);
      // The files may have changed while they were read; then this version is already stale and
      // the next check reloads.
      this.#signature = signature;
      this.#install(next);
      return next;
    } catch (error) {
      // A half-written rotation (new certificate, old key) must not take the client down: keep
      // what worked and look again at the next check.
      if (current === undefined) throw error;
      this.#options.onReloadError?.(error);
      return current;
    }
  }

  async #load(generation: number): Promise<TlsMaterial> {
    const { certFile, keyFile, caFile } = this.#options;
    const [cert, key, caFromFile] = await Promise.all([
      certFile === undefined ? undefined : readFile(certFile),
      keyFile === undefined ? undefined : readFile(keyFile),
      caFile === undefined ? undefined : readFile(caFile),
    ]);
    const inline = this.#options.ca;
    const ca = [
      ...(inline === undefined
        ? []
        : typeof inline === 'string' || Buffer.isBuffer(inline)
          ? [inline]
          : inline),
      ...(caFromFile === undefined ? [] : [caFromFile]),
    ];
    const connect = {
      ...(ca.length === 0 ? {} : { ca: [...ca] }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    };
    // Fails now, with the reason, when the key does not match the certificate or a PEM is broken,
    // instead of at the first handshake.
    createSecureContext(connect);
    return {
      generation,
      dispatcher: new Agent({ connect: { ...connect, timeout: this.#options.connectTimeoutMs } }),
      certificateThumbprint:
        cert === undefined
          ? undefined
          : createHash('sha256').update(new X509Certificate(cert).raw).digest('base64url'),
    };
  }

  #install(next: TlsMaterial): void {
    // Requests already sent on the previous Agent finish; the one before that is closed. A
    // caller still holding it gets a closed-client error, which only happens if it held a
    // material across two rotations.
    const older = this.#previous;
    this.#previous = this.#current?.dispatcher;
    this.#current = next;
    older?.close().catch(() => undefined);
  }

  /** Closes every Agent (waiting for requests in flight). */
  async close(): Promise<void> {
    this.#closed = true;
    const agents = [this.#previous, this.#current?.dispatcher].filter(
      (one): one is Agent => one !== undefined,
    );
    this.#previous = undefined;
    await Promise.all(agents.map((agent) => agent.close().catch(() => undefined)));
  }
}

/** A signing key as given: a private JWK, an imported key, or the path of a private JWK file. */
export type SigningKeyInput = JWK | CryptoKey | KeyObject | string;

export interface SigningKey {
  readonly key: JWK | CryptoKey | KeyObject;
}

/** The private_key_jwt key, re-read from its file when it changes. */
export class SigningKeySource {
  readonly #input: SigningKeyInput;
  readonly #onReloadError: ((error: unknown) => void) | undefined;
  #current: SigningKey | undefined;
  #signature = '';

  constructor(input: SigningKeyInput, onReloadError?: (error: unknown) => void) {
    this.#input = input;
    this.#onReloadError = onReloadError;
    if (typeof input !== 'string') this.#current = { key: input };
  }

  /** The current key; a key file is checked at every call (one per token request). */
  async current(): Promise<SigningKey> {
    const input = this.#input;
    if (typeof input !== 'string') return this.#current as SigningKey;
    const current = this.#current;
    try {
      const signature = await fileSignature(input);
      if (current !== undefined && signature === this.#signature) return current;
      const next = { key: parsePrivateJwk(await readFile(input, 'utf8'), input) };
      this.#signature = signature;
      this.#current = next;
      return next;
    } catch (error) {
      if (current === undefined) throw error;
      this.#onReloadError?.(error);
      return current;
    }
  }
}

/** Longest workload token file read (a JWT-SVID or service-account token is a few KiB). */
const maxTokenFileBytes = 64 * 1024;

/**
 * A workload token file (a JWT-SVID written by a SPIRE agent helper, a projected Kubernetes
 * service-account token), re-read when it changes: the kubelet and SPIRE rewrite it in place
 * or by rename before the old token expires. Checked at every call (one per token request).
 */
export class TokenFileSource {
  readonly #path: string;
  readonly #onReloadError: ((error: unknown) => void) | undefined;
  #current: string | undefined;
  #signature = '';

  constructor(path: string, onReloadError?: (error: unknown) => void) {
    this.#path = path;
    this.#onReloadError = onReloadError;
  }

  async current(): Promise<string> {
    const current = this.#current;
    try {
      const signature = await fileSignature(this.#path);
      if (current !== undefined && signature === this.#signature) return current;
      const text = await readFile(this.#path, 'utf8');
      if (text.length > maxTokenFileBytes) throw new TypeError(`${this.#path} is too large`);
      const token = text.trim();
      if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token))
        throw new TypeError(`${this.#path} does not hold a compact JWT`);
      this.#signature = signature;
      this.#current = token;
      return token;
    } catch (error) {
      if (current === undefined) throw error;
      this.#onReloadError?.(error);
      return current;
    }
  }
}

/** Parses a private JWK file (a JWK, or a JWKS with exactly one private key). */
export function parsePrivateJwk(text: string, source: string): JWK {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TypeError(`${source} is not JSON`);
  }
  if (typeof parsed === 'object' && parsed !== null && 'keys' in parsed) {
    const keys = (parsed as { keys: unknown }).keys;
    const privateKeys = Array.isArray(keys) ? keys.filter(isPrivateJwk) : [];
    if (privateKeys.length !== 1)
      throw new TypeError(`${source} must hold exactly one private JWK`);
    return privateKeys[0] as JWK;
  }
  if (!isPrivateJwk(parsed)) throw new TypeError(`${source} is not a private JWK (no "d")`);
  return parsed;
}

function isPrivateJwk(value: unknown): value is JWK {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as JWK).kty === 'string' &&
    typeof (value as JWK).d === 'string'
  );
}
