/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) on the TLS listeners, for a layer-4 load
 * balancer that forwards TCP (TLS, and so mutual TLS, end at Tollgate) but connects from its own
 * address: Kubernetes Services with `externalTrafficPolicy: Cluster`, HAProxy or nginx `stream`
 * in TCP mode, cloud network load balancers that do not preserve the client address. Without
 * it every client arrives from the balancer's few addresses, and every per-address limit becomes
 * one shared limit: `limits.connectionsPerAddress` idle connections through the balancer, or
 * `rateLimits.failedAuthPerAddress` bad assertions, switched Tollgate off for every client
 * (round 25). With `proxy.proxyProtocol`, a connection from a `proxy.trustedCidrs` peer must
 * start with a PROXY header, and the source address it names is the connection's address for
 * every limit and log line; other peers connect as before and cannot send one (their bytes go to
 * TLS, which refuses them).
 *
 * Bounds: a header is at most {@link maxHeaderBytes} and must arrive within `timeoutMs`, or the
 * connection is closed; nothing is kept per connection but the address (a WeakMap entry that
 * goes with the socket).
 *
 * @see https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt (versions 1 and 2)
 */
import { isIP, type Socket } from 'node:net';

/** Version 2's 12-octet signature. */
const v2Signature = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** Longest header accepted: version 1's 107 octets, or version 2 with 2 KiB of TLVs. */
export const maxHeaderBytes = 16 + 2048;

/** What a header says: the client's address, or `local` (the balancer's own connection). */
export type ProxyHeader =
  | { readonly kind: 'proxied'; readonly address: string; readonly length: number }
  | { readonly kind: 'local'; readonly length: number };

/** A header that is not one: the connection is closed. */
export class ProxyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyProtocolError';
  }
}

/**
 * Parses the PROXY header at the start of `data`: the header and its length, `undefined` when
 * more octets are needed, or a {@link ProxyProtocolError}.
 */
export function parseProxyHeader(data: Buffer): ProxyHeader | undefined {
  if (data.length === 0) return undefined;
  if (data[0] === 0x0d) return parseV2(data);
  if (data[0] === 0x50) return parseV1(data);
  throw new ProxyProtocolError('the connection does not start with a PROXY header');
}

/** `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN ...\r\n`. */
function parseV1(data: Buffer): ProxyHeader | undefined {
  const prefix = 'PROXY ';
  const seen = data.subarray(0, Math.min(data.length, prefix.length)).toString('latin1');
  if (!prefix.startsWith(seen)) {
    throw new ProxyProtocolError('the connection does not start with a PROXY header');
  }
  const end = data.indexOf('\r\n');
  if (end === -1) {
    if (data.length >= 107) throw new ProxyProtocolError('PROXY header (v1) too long');
    return undefined;
  }
  if (end + 2 > 107) throw new ProxyProtocolError('PROXY header (v1) too long');
  const words = data.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (words[1] === 'UNKNOWN') return { kind: 'local', length };
  const [, family, source, , sourcePort, destinationPort] = words;
  const version = family === 'TCP4' ? 4 : family === 'TCP6' ? 6 : 0;
  if (
    words.length !== 6 ||
    version === 0 ||
    isIP(source ?? '') !== version ||
    isIP(words[3] ?? '') !== version ||
    !isPort(sourcePort) ||
    !isPort(destinationPort)
  ) {
    throw new ProxyProtocolError('malformed PROXY header (v1)');
  }
  return { kind: 'proxied', address: source as string, length };
}

function isPort(text: string | undefined): boolean {
  return text !== undefined && /^(0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65_535;
}

/** The binary header: signature, version and command, family, length, addresses, TLVs. */
function parseV2(data: Buffer): ProxyHeader | undefined {
  const seen = Math.min(data.length, v2Signature.length);
  if (!data.subarray(0, seen).equals(v2Signature.subarray(0, seen))) {
    throw new ProxyProtocolError('the connection does not start with a PROXY header');
  }
  if (data.length < 16) return undefined;
  const versionCommand = data[12] as number;
  const family = data[13] as number;
  const length = 16 + data.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError('PROXY header version is not 2');
  if (length > maxHeaderBytes) throw new ProxyProtocolError('PROXY header (v2) too long');
  if (data.length < length) return undefined;
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { kind: 'local', length };
  if (command !== 0x1) throw new ProxyProtocolError('PROXY header (v2) has an unknown command');
  // TCP over IPv4 (0x11) or IPv6 (0x21); UDP and UNIX sockets are not clients of a TLS listener.
  if (family === 0x11 && length >= 16 + 12) {
    return { kind: 'proxied', address: [...data.subarray(16, 20)].join('.'), length };
  }
  if (family === 0x21 && length >= 16 + 36) {
    // An IPv4 client of a dual-stack balancer (::ffff:a.b.c.d) is that IPv4 address: written
    // out as IPv6 groups it would count every IPv4 client under one /64.
    if (data.subarray(16, 26).every((octet) => octet === 0) && data.readUInt16BE(26) === 0xffff) {
      return { kind: 'proxied', address: [...data.subarray(28, 32)].join('.'), length };
    }
    const groups: string[] = [];
    for (let offset = 16; offset < 32; offset += 2) {
      groups.push(data.readUInt16BE(offset).toString(16));
    }
    return { kind: 'proxied', address: groups.join(':'), length };
  }
  if (family === 0x00) return { kind: 'local', length };
  throw new ProxyProtocolError('PROXY header (v2) is not for a TCP connection');
}

/** The client addresses PROXY headers named, by the TCP socket they came on. */
const proxiedAddresses = new WeakMap<object, string>();

/**
 * The address the PROXY header of a connection named, if any: `socket` is its TCP socket, or
 * the TLS socket over it (Node keeps the TCP one as `_parent`).
 */
export function proxiedAddressOf(socket: object): string | undefined {
  return (
    proxiedAddresses.get(socket) ??
    proxiedAddresses.get((socket as { _parent?: object })._parent ?? socket)
  );
}

/**
 * Reads the PROXY header off `socket` (without reading past it), records the address it names
 * and resolves with it (`undefined` for a `LOCAL`/`UNKNOWN` header: the balancer's own
 * connection, such as a health check). Rejects, having destroyed the socket, when the header is
 * malformed, too long, or not complete within `timeoutMs`.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, address?: string) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onClose);
      if (error !== undefined) {
        socket.destroy();
        reject(error);
        return;
      }
      resolve(address);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let header: ProxyHeader | undefined;
      try {
        header = parseProxyHeader(buffered);
      } catch (error) {
        finish(error as Error);
        return;
      }
      if (header === undefined) {
        if (buffered.length > maxHeaderBytes)
          finish(new ProxyProtocolError('PROXY header too long'));
        return;
      }
      socket.pause();
      // What came after the header is the TLS handshake: hand it back for TLS to read.
      if (buffered.length > header.length) socket.unshift(buffered.subarray(header.length));
      if (header.kind === 'proxied') {
        proxiedAddresses.set(socket, header.address);
        finish(undefined, header.address);
      } else finish(undefined, undefined);
    };
    const onClose = () => finish(new ProxyProtocolError('closed before its PROXY header'));
    const timer = setTimeout(
      () => finish(new ProxyProtocolError('no PROXY header in time')),
      timeoutMs,
    );
    timer.unref();
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
  });
}
