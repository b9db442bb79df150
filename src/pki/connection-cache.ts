/**
 * Per-connection memory of what a TLS connection's client certificate yielded, so that
 * keep-alive requests neither re-read, re-parse nor re-validate it.
 *
 * Entries live in a WeakMap keyed by the socket, so they go away with the connection. On a new
 * connection the leaf comes from `getPeerX509Certificate()` and the chain the client sent from
 * that object's `issuerCertificate` links (about 165 µs on Node 20, against about 420 µs with
 * `getPeerCertificate(true)`, which builds three fingerprints and subject objects per
 * certificate). The parse and the validation results come from a {@link ChainCache} shared
 * between connections, so a client that opens a connection per request presenting the same
 * certificates is parsed and validated once per trust store.
 *
 * Node quirk (Node 20, OpenSSL 3): on a server socket, the first `getPeerX509Certificate()` moves
 * the client's chain out of OpenSSL's peer chain into its `issuerCertificate` links; later calls,
 * and `getPeerCertificate(true)`, see the leaf alone. So this cache must be the first reader of
 * the socket's certificate, and the chain is read from that first object only. If something read
 * it earlier, the chain comes out empty and the trust store's configured intermediates must
 * complete the path (fail closed, never open).
 *
 * Renegotiation: TLS 1.3 has none (and Node exposes no post-handshake client authentication), so
 * a TLS 1.3 connection's certificate is fixed for its life and later requests reuse the entry
 * without touching the socket. On TLS 1.2 a renegotiation can replace the client certificate, so
 * every request re-reads the leaf (about 12 µs) and starts over when it changed. Tollgate's
 * listeners also call `disableRenegotiation()`, but this module serves other servers too (the
 * resource-server plugin runs on the application's), so it does not rely on that.
 */
import type { X509Certificate } from 'node:crypto';
import { defaultMaxChainCertificates } from './certificate.js';
import { type CachedChain, ChainCache, type PeerCertificates } from './chain-cache.js';
import type { ChainValidationResult } from './chain-result.js';
import { PkiError } from './errors.js';
import type { TrustStore, ValidateOptions } from './trust-store.js';

export type { PeerCertificates } from './chain-cache.js';

/** The slice of `tls.TLSSocket` this module uses (tests pass a stand-in). */
export interface PeerCertificateSocket {
  getPeerX509Certificate(): X509Certificate | undefined;
  /** The negotiated protocol (`TLSv1.3`, `TLSv1.2`...), `null` when not connected. */
  getProtocol(): string | null;
}

interface Entry {
  readonly raw: Buffer;
  /** TLS 1.3: no renegotiation, so later requests need not re-read the certificate. */
  readonly fixed: boolean;
  readonly chain: CachedChain;
}

/** Options of {@link PeerCertificateCache}. */
export interface PeerCertificateCacheOptions {
  /** Most chain certificates read from a connection; default {@link defaultMaxChainCertificates}. */
  readonly maxChainCertificates?: number;
  /** Parsed chains and results shared between connections; default a private one. */
  readonly chains?: ChainCache;
}

/**
 * Caches, per TLS socket, the parsed client certificate and validation results.
 *
 * @see RFC 8705 §2.1
 */
export class PeerCertificateCache {
  readonly #entries = new WeakMap<object, Entry>();
  readonly #maxChain: number;
  readonly #chains: ChainCache;

  constructor(options: PeerCertificateCacheOptions = {}) {
    this.#maxChain = options.maxChainCertificates ?? defaultMaxChainCertificates;
    this.#chains = options.chains ?? new ChainCache();
  }

  /**
   * The connection's client certificate and chain, or `null` when the client sent none.
   * Throws {@link PkiError} when the certificate cannot be parsed (cached as well).
   */
  peer(socket: PeerCertificateSocket): PeerCertificates | null {
    const entry = this.#entry(socket);
    if (entry === undefined) return null;
    if (entry.chain.peer instanceof PkiError) throw entry.chain.peer;
    return entry.chain.peer;
  }

  /**
   * Validates the connection's client certificate with `store`, reusing an earlier result for
   * the same certificates, store and pins when still current; `null` when there is no client
   * certificate.
   */
  validate(
    socket: PeerCertificateSocket,
    store: TrustStore,
    options: ValidateOptions,
  ): ChainValidationResult | null {
    const entry = this.#entry(socket);
    if (entry === undefined) return null;
    return entry.chain.validate(store, options);
  }

  #entry(socket: PeerCertificateSocket): Entry | undefined {
    const existing = this.#entries.get(socket);
    // TLS 1.3 cannot renegotiate: the handshake's certificate is the connection's for life.
    if (existing?.fixed === true) return existing;
    // A new connection, or TLS 1.2 (or older, or unknown), whose certificate a renegotiation may
    // have replaced: read it. On a new connection (and the first read after a renegotiation)
    // this object is the one that carries the chain (see the module comment).
    const x509 = socket.getPeerX509Certificate();
    if (x509 === undefined) {
      if (existing !== undefined) this.#entries.delete(socket);
      return undefined;
    }
    const raw = x509.raw;
    if (existing?.raw.equals(raw) === true) return existing;
    const entry: Entry = {
      raw,
      fixed: socket.getProtocol() === 'TLSv1.3',
      chain: this.#read(raw, x509),
    };
    this.#entries.set(socket, entry);
    return entry;
  }

  #read(raw: Buffer, x509: X509Certificate): CachedChain {
    let chain: Buffer[];
    try {
      chain = peerChain(x509, this.#maxChain);
    } catch (error) {
      if (!(error instanceof PkiError)) throw error;
      // Not shared: the chain was not read whole, so it has no key.
      return { peer: error, validate: () => malformed(error) };
    }
    return this.#chains.get(raw, chain);
  }
}

/**
 * The DER of the certificates the client sent after its leaf, following `issuerCertificate`
 * links; stops at a certificate already seen (a self-issued root may link to itself, and
 * `issuerCertificate` returns objects, not identities, so repeats are found by DER).
 */
function peerChain(leaf: X509Certificate, max: number): Buffer[] {
  const chain: Buffer[] = [];
  const seen: Buffer[] = [leaf.raw];
  let current = leaf.issuerCertificate;
  while (current !== undefined) {
    const raw = current.raw;
    if (seen.some((one) => one.equals(raw))) break;
    if (chain.length >= max) throw new PkiError('too_large', 'client sent too many certificates');
    seen.push(raw);
    chain.push(raw);
    current = current.issuerCertificate;
  }
  return chain;
}

function malformed(error: PkiError): ChainValidationResult {
  return { ok: false, reason: 'malformed', check: 'parse', detail: error.message };
}
