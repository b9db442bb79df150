/**
 * Where a request's client certificate comes from: the TLS socket, or a header written by a
 * TLS-terminating proxy whose address is trusted. Shared by the token endpoint and the
 * resource-server plugin, so both decide trust the same way.
 *
 * Headers are read only on plain (non-TLS) connections, and trust in them is decided by the
 * socket's peer address, never by `X-Forwarded-For` or a framework's `request.ip`. On a TLS
 * connection only the handshake certificate counts. A forwarded certificate is only parsed here; it is validated like any
 * other (chain, CRLs, identity) by whoever consumes it. The same headers from any other peer are
 * ignored and reported.
 *
 * Parsed chains and validation results are shared, through one {@link ChainCache}, between TLS
 * connections and forwarded certificates presenting the same leaf and chain: both are pure
 * functions of the certificate bytes (and of the trust store, pins and time, which the cache
 * keys on), never of how the certificate arrived. Whether it was proven (a handshake, or a trusted
 * proxy) is decided here, per request, before the cache is consulted.
 *
 * @see RFC 8705 §2 and §3, RFC 9440, DESIGN.md §3
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { defaultMaxChainCertificates, type ParsedCertificate } from './certificate.js';
import { ChainCache } from './chain-cache.js';
import type { ChainValidationResult } from './chain-result.js';
import { PeerCertificateCache } from './connection-cache.js';
import { PkiError } from './errors.js';
import {
  type ForwardedCertificate,
  parseNginxEscapedCertHeader,
  parseRfc9440Headers,
  parseXfccHeader,
} from './proxy-headers.js';
import type { TrustStore, ValidateOptions } from './trust-store.js';

/** A client certificate as a request presented it, parsed once. */
export interface PresentedCertificate {
  /** base64url SHA-256 of the leaf DER: the `cnf.x5t#S256` value. @see RFC 8705 §3.1 */
  readonly x5tS256: string;
  readonly leaf: ParsedCertificate;
  /** Certificates sent after the leaf (TLS order), possibly empty. */
  readonly chain: readonly ParsedCertificate[];
  readonly source: 'tls' | 'proxy';
  /** Validates the chain with `store` (the result is cached per certificates, store and pins). */
  validate(store: TrustStore, options: ValidateOptions): ChainValidationResult;
}

/** The proxy header forms Tollgate reads. */
export const proxyCertificateFormats = ['rfc9440', 'nginx', 'xfcc'] as const;
export type ProxyCertificateFormat = (typeof proxyCertificateFormats)[number];

/** Header names that carry a client certificate in any known form (lower case). */
export const certificateHeaderNames = [
  'client-cert',
  'client-cert-chain',
  'x-forwarded-client-cert',
  'x-ssl-client-cert',
  'ssl-client-cert',
];

export interface CertificateSourceOptions {
  /** CIDRs (`10.0.0.0/8`, `::1/128`) or single addresses of proxies whose headers are trusted. */
  readonly trustedProxies: readonly string[];
  /** The header form the trusted proxies write; null when no proxy is trusted. */
  readonly proxyFormat: ProxyCertificateFormat | null;
  /** The header nginx writes `$ssl_client_escaped_cert` into (format `nginx`). */
  readonly nginxHeader?: string;
  /** Longest certificate header accepted, in characters. */
  readonly maxHeaderBytes?: number;
  /** Most chain certificates accepted besides the leaf. */
  readonly maxChainCertificates?: number;
  /** Parsed chains and validation results shared between connections; default a new one. */
  readonly chainCache?: ChainCache;
  /** Called when an untrusted peer sends a certificate header (it is ignored). */
  readonly onUntrustedHeader?: (peer: string, header: string) => void;
}

/** The slice of a request this module reads. */
export interface CertificateRequest {
  readonly socket: unknown;
  /** Node's `rawHeaders`: name, value, name, value... (to see duplicates). */
  readonly rawHeaders: readonly string[];
}

/** Parses a CIDR list into a BlockList; throws TypeError naming the bad entry. */
export function parseCidrs(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address = '', prefixText] = entry.split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (type === undefined) throw new TypeError(`not an IP address or CIDR: ${entry}`);
    const max = type === 'ipv4' ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max)
      throw new TypeError(`bad prefix length: ${entry}`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

/** IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`, from dual-stack sockets) are checked as IPv4. */
function normalizePeer(address: string): { address: string; type: 'ipv4' | 'ipv6' } | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined) return { address: mapped, type: 'ipv4' };
  if (isIPv4(address)) return { address, type: 'ipv4' };
  if (isIPv6(address)) return { address, type: 'ipv6' };
  return undefined;
}

export class CertificateSource {
  readonly #trusted: BlockList;
  readonly #anyTrusted: boolean;
  readonly #options: CertificateSourceOptions;
  readonly #peers: PeerCertificateCache;
  readonly #chains: ChainCache;
  readonly #tlsPresented = new WeakMap<object, { raw: Buffer; presented: PresentedCertificate }>();
  readonly #headerSet: ReadonlySet<string>;

  constructor(options: CertificateSourceOptions) {
    this.#options = options;
    this.#trusted = parseCidrs(options.trustedProxies);
    this.#anyTrusted = options.trustedProxies.length > 0;
    if (this.#anyTrusted && options.proxyFormat === null) {
      throw new TypeError('trusted proxies need a proxy certificate header format');
    }
    this.#chains = options.chainCache ?? new ChainCache();
    this.#peers = new PeerCertificateCache({
      maxChainCertificates: options.maxChainCertificates ?? defaultMaxChainCertificates,
      chains: this.#chains,
    });
    const nginx = (options.nginxHeader ?? 'x-ssl-client-cert').toLowerCase();
    this.#headerSet = new Set([...certificateHeaderNames, nginx]);
  }

  /**
   * Reads a new TLS connection's client certificate at the end of its handshake (see
   * {@link PeerCertificateCache.remember}); call it from the server's `secureConnection`.
   */
  rememberConnection(socket: TLSSocket): void {
    try {
      this.#peers.remember(socket);
    } catch {
      // Never let a hostile handshake throw in an event handler: a request that needs the
      // certificate reads it again and is refused with the reason.
    }
  }

  /** Whether the socket's peer is a trusted proxy. */
  isTrustedPeer(socket: unknown): boolean {
    if (!this.#anyTrusted) return false;
    const remote = (socket as { remoteAddress?: string }).remoteAddress;
    const peer = remote === undefined ? undefined : normalizePeer(remote);
    return peer !== undefined && this.#trusted.check(peer.address, peer.type);
  }

  /**
   * The request's client certificate, or undefined when it has none.
   *
   * @throws PkiError (`malformed`, `too_large`, `duplicate`) for a certificate or header that
   *   cannot be accepted; the caller turns it into an OAuth error.
   */
  fromRequest(request: CertificateRequest): PresentedCertificate | undefined {
    // On a TLS connection, the handshake is the only source: the certificate there was proven by
    // CertificateVerify (RFC 8705 §2). A header, even from a trusted address, is never a
    // substitute: otherwise any host in the trusted range could present anyone's public
    // certificate. Headers count only on plain connections, i.e. behind a TLS-terminating proxy.
    const encrypted = (request.socket as { encrypted?: unknown }).encrypted === true;
    if (!encrypted && this.isTrustedPeer(request.socket)) return this.#fromHeaders(request);
    const header = firstHeaderOf(request.rawHeaders, this.#headerSet);
    if (header !== undefined) {
      const peer = (request.socket as { remoteAddress?: string }).remoteAddress ?? 'unknown';
      this.#options.onUntrustedHeader?.(peer, header);
    }
    return encrypted ? this.#fromSocket(request.socket) : undefined;
  }

  #fromSocket(socket: unknown): PresentedCertificate | undefined {
    const tls = socket as Partial<TLSSocket>;
    if (typeof tls.getPeerX509Certificate !== 'function') return undefined;
    const tlsSocket = socket as TLSSocket;
    const peer = this.#peers.peer(tlsSocket);
    if (peer === null) return undefined;
    const cached = this.#tlsPresented.get(tlsSocket);
    if (cached !== undefined && cached.raw === peer.leaf.der) return cached.presented;
    const peers = this.#peers;
    const presented: PresentedCertificate = {
      x5tS256: peer.leaf.x5tS256,
      leaf: peer.leaf,
      chain: peer.chain,
      source: 'tls',
      validate(store, options) {
        const result = peers.validate(tlsSocket, store, options);
        if (result === null)
          throw new PkiError('malformed', 'the connection has no client certificate');
        return result;
      },
    };
    this.#tlsPresented.set(tlsSocket, { raw: peer.leaf.der, presented });
    return presented;
  }

  #fromHeaders(request: CertificateRequest): PresentedCertificate | undefined {
    const limits = {
      maxHeaderLength: this.#options.maxHeaderBytes ?? 16_384,
      maxChainLength: this.#options.maxChainCertificates ?? defaultMaxChainCertificates,
    };
    let forwarded: ForwardedCertificate | null;
    switch (this.#options.proxyFormat) {
      case 'rfc9440':
        forwarded = parseRfc9440Headers(
          headerValues(request.rawHeaders, 'client-cert'),
          headerValues(request.rawHeaders, 'client-cert-chain'),
          limits,
        );
        break;
      case 'nginx':
        forwarded = parseNginxEscapedCertHeader(
          headerValues(
            request.rawHeaders,
            (this.#options.nginxHeader ?? 'x-ssl-client-cert').toLowerCase(),
          ),
          limits,
        );
        break;
      case 'xfcc':
        forwarded = parseXfccHeader(
          headerValues(request.rawHeaders, 'x-forwarded-client-cert'),
          limits,
        );
        break;
      default:
        forwarded = null;
    }
    if (forwarded === null) return undefined;
    // Only now, with the peer a trusted proxy and the headers well-formed, may the cache be used.
    const cached = this.#chains.get(forwarded.leaf, forwarded.chain);
    if (cached.peer instanceof PkiError) throw cached.peer;
    return {
      x5tS256: cached.peer.leaf.x5tS256,
      leaf: cached.peer.leaf,
      chain: cached.peer.chain,
      source: 'proxy',
      validate: (store, options) => cached.validate(store, options),
    };
  }
}

/** The first of `names` present in the raw headers (one pass, each name lowercased once). */
function firstHeaderOf(
  rawHeaders: readonly string[],
  names: ReadonlySet<string>,
): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (names.has(name)) return name;
  }
  return undefined;
}

/** Every value of a header, in order: two values means it was sent twice (parsers reject that). */
function headerValues(rawHeaders: readonly string[], name: string): string[] | undefined {
  let values: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== name) continue;
    values ??= [];
    values.push(rawHeaders[i + 1] as string);
  }
  return values;
}
