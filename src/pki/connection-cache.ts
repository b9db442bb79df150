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
 * Resumption: a resumed session (TLS 1.3 PSK or a TLS 1.2 ticket or session ID) carries the leaf of
 * the handshake that created it, but not the chain that came with it: OpenSSL keeps only the
 * leaf in a session. A client that relies on the certificates it sends (its intermediate is not
 * configured) would then fail validation on every resumed connection. So the chain a leaf came
 * with on a full handshake is remembered (bounded, {@link SessionChains}) and offered again when
 * a resumed connection of that leaf comes with none: the chain of its last successful validation
 * first, else the one it last presented (a client's first full handshake may carry a request
 * that validates nothing, such as a metadata fetch, before it resumes for its token). Either is
 * only a set of path-building candidates, as a sent chain is: the path is validated again against
 * the configured anchors, CRLs and the time, so revocation and expiry are noticed on resumed
 * connections as on new ones. Chains that validated are kept apart from merely presented ones,
 * so strangers completing handshakes can push out presented chains only.
 *
 * A known leaf on a new TLS 1.3 connection (round 24): reading the chain a client sent is most of
 * what this module costs per connection. Node's `getPeerX509Certificate()` copies every sent
 * certificate with `X509_dup`, and OpenSSL 3.0 decodes each copy again, public key included
 * (about 130 µs per intermediate, against 15-30 µs for the leaf alone). So a new TLS 1.3
 * connection reads its leaf first from the connection's TLS session (`getSession()`: the
 * session's `peer` field, which is where `getPeerX509Certificate()` takes the leaf from too),
 * without touching the sent chain. When that leaf has a chain that validated before (the
 * validated tier of {@link SessionChains}), the connection starts with that chain as its
 * path-building candidates, exactly as a resumed session does, and the sent chain is not read.
 * The path is validated all the same (the chain cache's result for those bytes, store, pins and
 * time: revocation and expiry are noticed as on any connection), and the identity is the leaf's,
 * byte for byte. If that validation fails (a store without that intermediate, an intermediate
 * since revoked or expired while the client sends a renewed one), the chain the client sent is
 * read after all and decides, so the shortcut never refuses what the full read would accept.
 * What the shortcut skips is the parse of the sent certificates: a client whose leaf validated
 * before is not refused for sending unparseable or too many certificates besides it (OpenSSL has
 * parsed them in the handshake; the cap on them bounds our parsing work, of which there is none).
 * The leaf read from the session is the one the handshake authenticated (CertificateVerify); if
 * the session cannot be read or has no peer, the connection takes the full read.
 *
 * A resumed TLS 1.3 connection (round 25) reads its leaf from the session as well: a resumed
 * handshake sends no certificates, so the session's peer field is the connection's certificate
 * and `getPeerX509Certificate()` would return the same field (about 16 µs for the session
 * against about 33 µs for the object). Its chain is the remembered one, as for every resumed
 * connection. A TLS 1.3 connection whose client sent no certificate is remembered as such (no
 * certificate can come later), so keep-alive requests without one read nothing.
 *
 * Renegotiation: TLS 1.3 has none (and Node exposes no post-handshake client authentication), so
 * a TLS 1.3 connection's certificate is fixed for its life and later requests reuse the entry
 * without touching the socket. On TLS 1.2 a renegotiation can replace the client certificate, so
 * every request re-reads the leaf (about 12 µs) and starts over when it changed. Tollgate's
 * listeners also call `disableRenegotiation()`, but this module serves other servers too (the
 * resource-server plugin runs on the application's), so it does not rely on that.
 */
import { hash, type X509Certificate } from 'node:crypto';
import { defaultMaxChainCertificates } from './certificate.js';
import { type CachedChain, ChainCache, type PeerCertificates } from './chain-cache.js';
import type { ChainValidationResult } from './chain-result.js';
import { isContext, isUniversal, readTlv, tagClass, universalTag } from './der.js';
import { PkiError } from './errors.js';
import type { TrustStore, ValidateOptions } from './trust-store.js';

export type { PeerCertificates } from './chain-cache.js';

/** The slice of `tls.TLSSocket` this module uses (tests pass a stand-in). */
export interface PeerCertificateSocket {
  getPeerX509Certificate(): X509Certificate | undefined;
  /** The negotiated protocol (`TLSv1.3`, `TLSv1.2`...), `null` when not connected. */
  getProtocol(): string | null;
  /** Whether the handshake resumed an earlier session (absent: never resumed). */
  isSessionReused?(): boolean;
  /** The TLS session as OpenSSL serializes it (absent: the leaf is read the long way). */
  getSession?(): Buffer | undefined;
}

interface Entry {
  readonly raw: Buffer;
  /** TLS 1.3: no renegotiation, so later requests need not re-read the certificate. */
  readonly fixed: boolean;
  readonly chain: CachedChain;
  /** SHA-256 of the leaf: the key of the remembered chains. */
  readonly leafKey: string;
  /** Whether this connection's chain is among the validated chains already. */
  remembered: boolean;
  /**
   * The chain is one that validated for this leaf before, and the one this connection sent has
   * not been read (a known leaf on a new TLS 1.3 connection, see the module comment).
   */
  readonly sentUnread: boolean;
}

/** Options of {@link PeerCertificateCache}. */
export interface PeerCertificateCacheOptions {
  /** Most chain certificates read from a connection; default {@link defaultMaxChainCertificates}. */
  readonly maxChainCertificates?: number;
  /** Parsed chains and results shared between connections; default a private one. */
  readonly chains?: ChainCache;
  /**
   * Most leaves whose chain is remembered for resumed sessions (validated chains also serve new
   * TLS 1.3 connections of the same leaf), for validated and for merely presented chains each;
   * default 10,000.
   */
  readonly maxSessionChains?: number;
}

/**
 * Caches, per TLS socket, the parsed client certificate and validation results.
 *
 * @see RFC 8705 §2.1
 */
export class PeerCertificateCache {
  readonly #entries = new WeakMap<object, Entry>();
  /**
   * TLS 1.3 connections whose client sent no certificate: none can come later on them (no
   * renegotiation, no post-handshake authentication), so their requests (every keep-alive
   * private_key_jwt request) neither read the session nor the socket again.
   */
  readonly #withoutCertificate = new WeakSet<object>();
  readonly #maxChain: number;
  readonly #chains: ChainCache;
  /** Chains that validated, by leaf: only certificates chaining to an anchor get in. */
  readonly #validatedChains: SessionChains;
  /** Chains presented on full handshakes, by leaf: anyone who completes a handshake adds one. */
  readonly #presentedChains: SessionChains;

  constructor(options: PeerCertificateCacheOptions = {}) {
    this.#maxChain = options.maxChainCertificates ?? defaultMaxChainCertificates;
    this.#chains = options.chains ?? new ChainCache();
    const maxSessionChains = options.maxSessionChains ?? defaultMaxSessionChains;
    this.#validatedChains = new SessionChains(maxSessionChains);
    this.#presentedChains = new SessionChains(maxSessionChains);
  }

  /**
   * Reads a new connection's certificates now, before any request needs them, so that the chain
   * of a full handshake is remembered for the sessions it lets the client resume even when this
   * connection's requests never look at the certificate (a metadata fetch before the token
   * request). Cheap on a resumed connection or one without a client certificate.
   */
  remember(socket: PeerCertificateSocket): void {
    this.#entry(socket);
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
    let entry = this.#entry(socket);
    if (entry === undefined) return null;
    let result = entry.chain.validate(store, options);
    if (!result.ok && entry.sentUnread) {
      // The remembered path does not validate here: what the client sent decides, as if the
      // shortcut had not been taken.
      entry = this.#readSent(socket, entry);
      result = entry.chain.validate(store, options);
    }
    if (
      result.ok &&
      !entry.remembered &&
      !(entry.chain.peer instanceof PkiError) &&
      entry.chain.peer.chain.length > 0
    ) {
      entry.remembered = true;
      this.#validatedChains.remember(
        entry.leafKey,
        entry.chain.peer.chain.map((certificate) => certificate.der),
      );
    }
    return result;
  }

  #entry(socket: PeerCertificateSocket, shortcut = true): Entry | undefined {
    if (this.#withoutCertificate.has(socket)) return undefined;
    const existing = this.#entries.get(socket);
    // TLS 1.3 cannot renegotiate: the handshake's certificate is the connection's for life.
    if (existing?.fixed === true) return existing;
    if (existing === undefined && shortcut) {
      const known = this.#knownLeaf(socket);
      if (known !== undefined) {
        this.#entries.set(socket, known);
        return known;
      }
    }
    // A new connection, or TLS 1.2 (or older, or unknown), whose certificate a renegotiation may
    // have replaced: read it. On a new connection (and the first read after a renegotiation)
    // this object is the one that carries the chain (see the module comment).
    const x509 = socket.getPeerX509Certificate();
    if (x509 === undefined) {
      if (existing !== undefined) this.#entries.delete(socket);
      else if (socket.getProtocol() === 'TLSv1.3') this.#withoutCertificate.add(socket);
      return undefined;
    }
    const raw = x509.raw;
    if (existing?.raw.equals(raw) === true) return existing;
    const leafKey = leafKeyOf(raw);
    const entry: Entry = {
      raw,
      fixed: socket.getProtocol() === 'TLSv1.3',
      chain: this.#read(raw, x509, leafKey, socket.isSessionReused?.() === true),
      leafKey,
      remembered: false,
      sentUnread: false,
    };
    this.#entries.set(socket, entry);
    return entry;
  }

  /**
   * A TLS 1.3 connection's leaf from its session: on a resumed connection, an entry with the
   * remembered chain (a resumed handshake sends no certificates); on a new one, when that leaf
   * has a chain that validated before, an entry with that chain, the sent one unread. Otherwise
   * undefined, and the connection takes the full read.
   */
  #knownLeaf(socket: PeerCertificateSocket): Entry | undefined {
    if (socket.getSession === undefined || socket.getProtocol() !== 'TLSv1.3') return undefined;
    const raw = sessionPeerCertificate(socket.getSession());
    if (raw === undefined) return undefined;
    const leafKey = leafKeyOf(raw);
    const chain = this.#validatedChains.get(leafKey);
    if (socket.isSessionReused?.() === true) {
      // The session's leaf is the certificate the original handshake authenticated, and what
      // getPeerX509Certificate() would return (both read the session's peer); the session holds
      // no chain, so the remembered one is offered, as #read does for a resumed connection.
      return {
        raw,
        fixed: true,
        chain: this.#chains.get(raw, chain ?? this.#presentedChains.get(leafKey) ?? []),
        leafKey,
        remembered: false,
        sentUnread: false,
      };
    }
    if (chain === undefined) return undefined;
    return {
      raw,
      fixed: true,
      chain: this.#chains.get(raw, chain),
      leafKey,
      remembered: false,
      sentUnread: true,
    };
  }

  /**
   * Replaces a shortcut entry with the full read of what the connection sent (its first
   * `getPeerX509Certificate()`, so the sent chain is still there). A different leaf cannot happen
   * (both come from the session's peer); if it did, the connection is refused, never served
   * with either.
   */
  #readSent(socket: PeerCertificateSocket, shortcut: Entry): Entry {
    this.#entries.delete(socket);
    const entry = this.#entry(socket, false);
    if (entry === undefined || !entry.raw.equals(shortcut.raw)) {
      const error = new PkiError('malformed', 'the client certificate changed on the connection');
      const refused: Entry = {
        ...shortcut,
        chain: { peer: error, validate: () => malformed(error) },
        sentUnread: false,
      };
      this.#entries.set(socket, refused);
      return refused;
    }
    return entry;
  }

  #read(raw: Buffer, x509: X509Certificate, leafKey: string, resumed: boolean): CachedChain {
    let chain: readonly Buffer[];
    try {
      chain = peerChain(x509, this.#maxChain);
    } catch (error) {
      if (!(error instanceof PkiError)) throw error;
      // Not shared: the chain was not read whole, so it has no key.
      return { peer: error, validate: () => malformed(error) };
    }
    // A resumed session has the leaf but not the chain (see the module comment).
    if (chain.length > 0 && !resumed) this.#presentedChains.remember(leafKey, chain);
    else if (chain.length === 0 && resumed) {
      chain = this.#validatedChains.get(leafKey) ?? this.#presentedChains.get(leafKey) ?? chain;
    }
    return this.#chains.get(raw, chain);
  }
}

const defaultMaxSessionChains = 10_000;
/** Most chain bytes {@link SessionChains} holds (DER shared with the chain cache's entries). */
const maxSessionChainBytes = 16 * 1024 * 1024;

/**
 * A chain per leaf for resumed sessions (and new TLS 1.3 connections of a known leaf), bounded by
 * count and bytes, least recently used out.
 */
class SessionChains {
  readonly #chains = new Map<
    string,
    { readonly ders: readonly Buffer[]; readonly bytes: number }
  >();
  readonly #maxEntries: number;
  #bytes = 0;

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
      throw new TypeError('maxSessionChains must be a non-negative integer');
    }
    this.#maxEntries = maxEntries;
  }

  get(leafKey: string): readonly Buffer[] | undefined {
    return this.#chains.get(leafKey)?.ders;
  }

  remember(leafKey: string, ders: readonly Buffer[]): void {
    const existing = this.#chains.get(leafKey);
    if (existing !== undefined) {
      // Least recently used goes first: move it to the end of the insertion order.
      this.#chains.delete(leafKey);
      this.#bytes -= existing.bytes;
    }
    const bytes = ders.reduce((sum, der) => sum + der.length, 0);
    if (this.#maxEntries === 0 || bytes > maxSessionChainBytes) return;
    this.#chains.set(leafKey, { ders, bytes });
    this.#bytes += bytes;
    for (const [key, entry] of this.#chains) {
      if (this.#chains.size <= this.#maxEntries && this.#bytes <= maxSessionChainBytes) return;
      this.#chains.delete(key);
      this.#bytes -= entry.bytes;
    }
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

/** The key of the remembered chains: SHA-256 of the leaf's DER (one-shot, no Hash object). */
function leafKeyOf(raw: Uint8Array): string {
  return hash('sha256', raw, 'base64');
}

/**
 * The peer's leaf certificate (DER) from a serialized TLS session, or undefined when there is
 * none or the session cannot be read. OpenSSL's `SSL_SESSION_ASN1` (ssl/ssl_asn1.c, a persisted
 * format, stable since OpenSSL 1.0): SEQUENCE { version, sslVersion, cipher, sessionId,
 * masterKey, [0] keyArg OPTIONAL, [1] time OPTIONAL, [2] timeout OPTIONAL, [3] EXPLICIT peer
 * Certificate OPTIONAL, ... }; fields before `[3]` are skipped, fields after it are never read.
 * The session may hold a TLS 1.2 master secret: it is zeroed here once the leaf is copied out.
 */
export function sessionPeerCertificate(session: Buffer | undefined): Buffer | undefined {
  if (session === undefined) return undefined;
  try {
    const { tlv: top } = readTlv(session, 0);
    if (!isUniversal(top, universalTag.sequence) || !top.constructed) return undefined;
    let offset = 0;
    while (offset < top.value.length) {
      const { tlv, next } = readTlv(top.value, offset);
      offset = next;
      if (!isContext(tlv, 3)) {
        // Context tags come in order: past [3], the session has no peer.
        if (tlv.tagClass === tagClass.context && tlv.tagNumber > 3) return undefined;
        continue;
      }
      if (!tlv.constructed) return undefined;
      const { tlv: certificate, next: end } = readTlv(tlv.value, 0);
      if (end !== tlv.value.length || !isUniversal(certificate, universalTag.sequence)) {
        return undefined;
      }
      return Buffer.from(certificate.raw);
    }
    return undefined;
  } catch {
    // Not DER (the reader throws DerError and nothing else): the connection takes the full read.
    return undefined;
  } finally {
    session.fill(0);
  }
}

function malformed(error: PkiError): ChainValidationResult {
  return { ok: false, reason: 'malformed', check: 'parse', detail: error.message };
}
