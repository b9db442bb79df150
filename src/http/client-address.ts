/**
 * The source address rate limits count (issue 12, attack 4). TLS listeners use the socket peer
 * address, always: nothing a peer sends can change it. Only on the plain listener (behind a
 * TLS-terminating proxy), and only when the socket peer is a trusted proxy, is the forwarded
 * chain read (`X-Forwarded-For`, or RFC 7239 `Forwarded` when configured), taking the right-most
 * hop that is not itself a trusted proxy: hops to its left were written by the client and prove
 * nothing. A malformed hop where the client's address should be falls back to the peer address.
 *
 * @see RFC 7239 §5.2, §6
 */
import { type BlockList, isIP } from 'node:net';
import { proxiedAddressOf } from './proxy-protocol.js';

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

export interface ClientAddressOptions {
  /** Trusted proxies (socket peers whose forwarded headers are read). */
  readonly trusted: BlockList;
  readonly header: ForwardedHeader;
}

interface PeerSocket {
  readonly remoteAddress?: string | undefined;
  readonly encrypted?: unknown;
}

/**
 * The socket peer address, with IPv4-mapped IPv6 (`::ffff:10.0.0.1`) written as IPv4; on a TLS
 * listener with `proxy.proxyProtocol`, the client address the trusted balancer's PROXY header
 * named (src/http/proxy-protocol.ts).
 */
export function peerAddress(socket: PeerSocket): string {
  const address = proxiedAddressOf(socket) ?? socket.remoteAddress ?? 'unknown';
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

function isTrusted(trusted: BlockList, address: string): boolean {
  const version = isIP(address);
  return version !== 0 && trusted.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

/** The address of the request's client, per the rules in the header comment. */
export function clientAddress(
  socket: PeerSocket,
  rawHeaders: readonly string[],
  options: ClientAddressOptions,
): string {
  const peer = peerAddress(socket);
  if (socket.encrypted === true || !isTrusted(options.trusted, peer)) return peer;
  const hops = forwardedHops(rawHeaders, options.header);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (isIP(hop) === 0) return peer;
    if (!isTrusted(options.trusted, hop)) return hop;
  }
  // Every hop is a trusted proxy: the left-most is as far back as anyone trustworthy saw.
  return hops[0] ?? peer;
}

/** The hops of every instance of the header, in order (several instances are one list). */
function forwardedHops(rawHeaders: readonly string[], header: ForwardedHeader): string[] {
  const hops: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== header) continue;
    for (const element of (rawHeaders[i + 1] as string).split(',')) {
      hops.push(header === 'forwarded' ? forwardedFor(element) : element.trim());
    }
  }
  return hops;
}

/** The `for=` node of one RFC 7239 element, as a bare IP address when it is one. */
function forwardedFor(element: string): string {
  for (const pair of element.split(';')) {
    const [name = '', ...rest] = pair.split('=');
    if (name.trim().toLowerCase() !== 'for') continue;
    let node = rest.join('=').trim();
    if (node.startsWith('"') && node.endsWith('"')) node = node.slice(1, -1);
    // [IPv6]:port, [IPv6], IPv4:port, IPv4, or an obfuscated/unknown node.
    const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(node)?.[1];
    if (v6 !== undefined) return v6;
    const v4 = /^(\d+\.\d+\.\d+\.\d+)(?::\d+)?$/.exec(node)?.[1];
    return v4 ?? node;
  }
  return '';
}
