/**
 * Parsed client certificate chains and their validation results, shared between connections
 * (and proxied requests) that present the same leaf and chain.
 *
 * A TLS connection's certificates are parsed and validated once per connection (see
 * `connection-cache.ts`); clients that open a connection per token would pay both every time. This
 * cache keys an entry by SHA-256 over the leaf DER and the chain DERs, each length-prefixed, and
 * on a hit also compares the bytes, so neither a hash collision nor a differently split chain can
 * select another entry. The parse is a pure function of those bytes; a validation result is a pure
 * function of the bytes, the trust store, the pins and the time. So results are kept per trust
 * store instance (a reload or new CRLs build a new store, which re-validates: a certificate
 * revoked by a fresh CRL is refused on the next request) and per pin set, a success is reused only
 * until its `recheckAfter` and while the time is past every notBefore on its path, and
 * `not_yet_valid` is never kept (time heals it). Other failures stay failures for the same store
 * (expiry and stale CRLs only get worse with time).
 *
 * Bounded (least recently used goes first) by entry count and by an estimate of the memory the
 * entries hold, because anyone who completes a handshake can make an entry: a client may send up
 * to `maxChainCertificates` certificates of up to 16 KiB each.
 *
 * @see RFC 8705 §2.1, RFC 5280 §6
 */
import { createHash } from 'node:crypto';
import { type ParsedCertificate, parseCertificate } from './certificate.js';
import type { ChainValidationResult } from './chain-result.js';
import { PkiError } from './errors.js';
import type { TrustStore, ValidateOptions } from './trust-store.js';

/** A client certificate and the chain it came with, parsed. */
export interface PeerCertificates {
  readonly leaf: ParsedCertificate;
  /** Certificates the client sent besides the leaf (TLS order). */
  readonly chain: readonly ParsedCertificate[];
}

/** One leaf and chain: its parse (or why it failed) and its validation results. */
export interface CachedChain {
  /** The parsed certificates, or the error that refused them. */
  readonly peer: PeerCertificates | PkiError;
  /**
   * Validates with `store`, reusing an earlier result for the same store and pins while it is
   * still current. A parse failure is a `malformed` result.
   */
  validate(store: TrustStore, options: ValidateOptions): ChainValidationResult;
}

/** Options of {@link ChainCache}. */
export interface ChainCacheOptions {
  /** Most entries kept; default 10,000. 0 keeps nothing (every lookup parses). */
  readonly maxEntries?: number;
  /**
   * Most memory the entries may hold, estimated as DER bytes plus {@link parsedOverheadBytes}
   * per certificate; default 64 MiB.
   */
  readonly maxBytes?: number;
}

/** Heap a parsed certificate takes besides its DER (measured about 4.4 KB on Node 20, x64). */
export const parsedOverheadBytes = 5 * 1024;

const defaultMaxEntries = 10_000;
const defaultMaxBytes = 64 * 1024 * 1024;

interface Entry extends CachedChain {
  readonly leafDer: Uint8Array;
  readonly chainDers: readonly Uint8Array[];
  readonly bytes: number;
}

/**
 * Shares parsed chains and validation results between connections and requests that present the
 * same certificates.
 *
 * @see RFC 8705 §2.1
 */
export class ChainCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(options: ChainCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? defaultMaxEntries;
    const maxBytes = options.maxBytes ?? defaultMaxBytes;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new TypeError('maxEntries must be a non-negative integer');
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new TypeError('maxBytes must be a non-negative integer');
    }
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The entry for this leaf and chain (TLS order), parsing them on a miss. Parse failures are
   * cached too and come back as `peer`, never thrown.
   */
  get(leafDer: Uint8Array, chainDers: readonly Uint8Array[]): CachedChain {
    const key = chainKey(leafDer, chainDers);
    const found = this.#entries.get(key);
    if (found !== undefined && sameBytes(found, leafDer, chainDers)) {
      // Least recently used goes first: move the hit to the end of the insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, found);
      return found;
    }
    const entry = newEntry(leafDer, chainDers);
    if (found !== undefined) this.#remove(key, found);
    if (entry.bytes <= this.#maxBytes && this.#maxEntries > 0) {
      this.#entries.set(key, entry);
      this.#bytes += entry.bytes;
      this.#evict();
    }
    return entry;
  }

  #evict(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) return;
      this.#remove(key, entry);
    }
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

function newEntry(leafDer: Uint8Array, chainDers: readonly Uint8Array[]): Entry {
  let bytes = leafDer.length + parsedOverheadBytes;
  for (const der of chainDers) bytes += der.length + parsedOverheadBytes;
  const peer = parse(leafDer, chainDers);
  const results = new WeakMap<TrustStore, Map<string, ChainValidationResult>>();
  return {
    // parseCertificate keeps private copies; these are for the byte comparison on a hit.
    leafDer: peer instanceof PkiError ? Buffer.from(leafDer) : peer.leaf.der,
    chainDers:
      peer instanceof PkiError
        ? chainDers.map((der) => Buffer.from(der))
        : peer.chain.map((certificate) => certificate.der),
    bytes,
    peer,
    validate(store, options) {
      if (!(options.now instanceof Date) || Number.isNaN(options.now.getTime())) {
        throw new TypeError('validate() needs a valid `now`');
      }
      if (peer instanceof PkiError) {
        return { ok: false, reason: 'malformed', check: 'parse', detail: peer.message };
      }
      let byPins = results.get(store);
      if (byPins === undefined) {
        byPins = new Map();
        results.set(store, byPins);
      }
      const pinKey =
        options.pinnedSpkiSha256 === undefined
          ? '*'
          : JSON.stringify([...options.pinnedSpkiSha256].sort());
      const cached = byPins.get(pinKey);
      if (cached !== undefined && stillCurrent(cached, options.now)) return cached;
      const result = store.validate(peer.leaf, peer.chain, options);
      if (result.ok || result.reason !== 'not_yet_valid') byPins.set(pinKey, result);
      else byPins.delete(pinKey);
      return result;
    },
  };
}

function parse(leafDer: Uint8Array, chainDers: readonly Uint8Array[]): PeerCertificates | PkiError {
  try {
    return {
      leaf: parseCertificate(leafDer),
      chain: chainDers.map((der) => parseCertificate(der)),
    };
  } catch (error) {
    if (error instanceof PkiError) return error;
    throw error;
  }
}

/** SHA-256 over the count, then each DER with its length: unambiguous for any split. */
function chainKey(leafDer: Uint8Array, chainDers: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(chainDers.length);
  hash.update(length);
  for (const der of [leafDer, ...chainDers]) {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(der.length);
    hash.update(prefix);
    hash.update(der);
  }
  return hash.digest('base64');
}

function sameBytes(entry: Entry, leafDer: Uint8Array, chainDers: readonly Uint8Array[]): boolean {
  return (
    entry.chainDers.length === chainDers.length &&
    Buffer.compare(entry.leafDer, leafDer) === 0 &&
    entry.chainDers.every((der, index) => Buffer.compare(der, chainDers[index] as Uint8Array) === 0)
  );
}

/** A success is current until its recheckAfter, and only once every notBefore has passed. */
function stillCurrent(result: ChainValidationResult, now: Date): boolean {
  if (!result.ok) return true;
  const time = now.getTime();
  if (time > result.recheckAfter.getTime()) return false;
  return result.path.every((certificate) => certificate.notBefore.getTime() <= time);
}
