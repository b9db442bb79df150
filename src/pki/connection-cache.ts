/**
 * Per-connection memory of what a TLS connection's client certificate yielded, so that
 * keep-alive requests neither re-parse nor re-validate it.
 *
 * Entries live in a WeakMap keyed by the socket, so they go away with the connection. On a new
 * connection the leaf and the chain the client sent come from `getPeerCertificate(true)`,
 * following `issuerCertificate` links (which end in a self-reference at a root). On later
 * requests the leaf is read with `getPeerX509Certificate()` (about a microsecond) and compared
 * with the cached DER: a TLS 1.2 renegotiation that changes the client certificate invalidates
 * the entry. Call this cache before anything else calls `getPeerX509Certificate()` on the socket
 * (see `#entry` for the Node quirk).
 *
 * Validation results are cached per trust store instance (a reloaded store re-validates) and per
 * pin set; a success is reused only until its `recheckAfter`, and `not_yet_valid` is never cached
 * (time heals it).
 */
import type { X509Certificate } from 'node:crypto';
import { type ParsedCertificate, parseCertificate } from './certificate.js';
import type { ChainValidationResult } from './chain-result.js';
import { PkiError } from './errors.js';
import type { TrustStore, ValidateOptions } from './trust-store.js';

/** The slice of `tls.TLSSocket` this module uses (tests pass a stand-in). */
export interface PeerCertificateSocket {
  getPeerX509Certificate(): X509Certificate | undefined;
  getPeerCertificate(detailed: true): unknown;
}

/** A connection's client certificate and the chain it sent, parsed. */
export interface PeerCertificates {
  readonly leaf: ParsedCertificate;
  /** Certificates the client sent besides the leaf (TLS order). */
  readonly chain: readonly ParsedCertificate[];
}

interface Entry {
  readonly raw: Buffer;
  readonly peer: PeerCertificates | PkiError;
  readonly results: WeakMap<TrustStore, Map<string, ChainValidationResult>>;
}

/** Options of {@link PeerCertificateCache}. */
export interface PeerCertificateCacheOptions {
  /** Most chain certificates read from a connection; default 8. */
  readonly maxChainCertificates?: number;
}

/**
 * Caches, per TLS socket, the parsed client certificate and validation results.
 *
 * @see RFC 8705 §2.1
 */
export class PeerCertificateCache {
  readonly #entries = new WeakMap<object, Entry>();
  readonly #maxChain: number;

  constructor(options: PeerCertificateCacheOptions = {}) {
    this.#maxChain = options.maxChainCertificates ?? 8;
  }

  /**
   * The connection's client certificate and chain, or `null` when the client sent none.
   * Throws {@link PkiError} when the certificate cannot be parsed (cached as well).
   */
  peer(socket: PeerCertificateSocket): PeerCertificates | null {
    const entry = this.#entry(socket);
    if (entry === undefined) return null;
    if (entry.peer instanceof PkiError) throw entry.peer;
    return entry.peer;
  }

  /**
   * Validates the connection's client certificate with `store`, reusing an earlier result for
   * the same store and pins when still current; `null` when there is no client certificate.
   */
  validate(
    socket: PeerCertificateSocket,
    store: TrustStore,
    options: ValidateOptions,
  ): ChainValidationResult | null {
    const entry = this.#entry(socket);
    if (entry === undefined) return null;
    if (entry.peer instanceof PkiError) {
      return { ok: false, reason: 'malformed', check: 'parse', detail: entry.peer.message };
    }
    let byPins = entry.results.get(store);
    if (byPins === undefined) {
      byPins = new Map();
      entry.results.set(store, byPins);
    }
    const pinKey =
      options.pinnedSpkiSha256 === undefined
        ? '*'
        : JSON.stringify([...options.pinnedSpkiSha256].sort());
    const cached = byPins.get(pinKey);
    if (cached !== undefined && stillCurrent(cached, options.now)) return cached;
    const result = store.validate(entry.peer.leaf, entry.peer.chain, options);
    if (result.ok || result.reason !== 'not_yet_valid') byPins.set(pinKey, result);
    return result;
  }

  #entry(socket: PeerCertificateSocket): Entry | undefined {
    const existing = this.#entries.get(socket);
    if (existing === undefined) {
      // A new connection: getPeerCertificate(true) must come first. On a server socket, Node 20
      // drops the issuerCertificate links from getPeerCertificate(true) once
      // getPeerX509Certificate() has been called on that socket.
      const detailed = socket.getPeerCertificate(true);
      const raw = rawOf(detailed);
      if (raw === undefined) return undefined;
      return this.#store(socket, raw, detailed);
    }
    const x509 = socket.getPeerX509Certificate();
    if (x509 === undefined) {
      this.#entries.delete(socket);
      return undefined;
    }
    const raw = x509.raw;
    if (existing.raw.equals(raw)) return existing;
    // The certificate changed (TLS 1.2 renegotiation): start over. The chain may be missing here
    // (see above), in which case configured intermediates must complete the path.
    return this.#store(socket, raw, socket.getPeerCertificate(true));
  }

  #store(socket: PeerCertificateSocket, raw: Buffer, detailed: unknown): Entry {
    const entry: Entry = { raw, peer: this.#read(raw, detailed), results: new WeakMap() };
    this.#entries.set(socket, entry);
    return entry;
  }

  #read(raw: Buffer, detailed: unknown): PeerCertificates | PkiError {
    try {
      const leaf = parseCertificate(raw);
      const chain = peerChain(detailed, leaf, this.#maxChain).map((der) => parseCertificate(der));
      return { leaf, chain };
    } catch (error) {
      if (error instanceof PkiError) return error;
      throw error;
    }
  }
}

/** Follows `issuerCertificate` links, stopping at the self-reference of a root or a repeat. */
function peerChain(detailed: unknown, leaf: ParsedCertificate, max: number): Buffer[] {
  const chain: Buffer[] = [];
  const seen = new Set<unknown>([detailed]);
  let current = issuerOf(detailed);
  while (current !== undefined && !seen.has(current)) {
    seen.add(current);
    const raw = (current as { raw?: unknown }).raw;
    if (!Buffer.isBuffer(raw)) break;
    if (!raw.equals(leaf.der)) {
      if (chain.length >= max) throw new PkiError('too_large', 'client sent too many certificates');
      chain.push(raw);
    }
    current = issuerOf(current);
  }
  return chain;
}

/** The DER of a `getPeerCertificate()` result; `undefined` for `{}` (no client certificate). */
function rawOf(detailed: unknown): Buffer | undefined {
  if (typeof detailed !== 'object' || detailed === null) return undefined;
  const raw = (detailed as { raw?: unknown }).raw;
  return Buffer.isBuffer(raw) ? raw : undefined;
}

function issuerOf(certificate: unknown): object | undefined {
  if (typeof certificate !== 'object' || certificate === null) return undefined;
  const issuer = (certificate as { issuerCertificate?: unknown }).issuerCertificate;
  return typeof issuer === 'object' && issuer !== null ? issuer : undefined;
}

function stillCurrent(result: ChainValidationResult, now: Date): boolean {
  if (!result.ok) return true;
  const time = now.getTime();
  if (time > result.recheckAfter.getTime()) return false;
  return result.path.every((certificate) => certificate.notBefore.getTime() <= time);
}
