/**
 * PROXY protocol headers (HAProxy's v1 and v2) as a trusted layer-4 balancer sends them, and
 * the ways a header can be wrong; then reading one off a real socket, leaving what follows it
 * (the TLS handshake) to be read.
 */
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  maxHeaderBytes,
  ProxyProtocolError,
  parseProxyHeader,
  proxiedAddressOf,
  readProxyHeader,
} from '../../src/http/proxy-protocol.js';

const signature = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A version 2 header: command, family, address block (and TLVs) as given. */
function v2(command: number, family: number, body: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([signature, Buffer.from([0x20 | command, family]), length, body]);
}

const ipv4Block = Buffer.from([10, 1, 2, 3, 10, 0, 0, 1, 0x13, 0x88, 0x01, 0xbb]);
const ipv6Block = Buffer.concat([
  Buffer.from('20010db8000000000000000000000001', 'hex'),
  Buffer.from('20010db8000000000000000000000002', 'hex'),
  Buffer.from([0x13, 0x88, 0x01, 0xbb]),
]);

describe('parseProxyHeader', () => {
  it.each([
    ['v1 TCP4', Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n'), '192.0.2.7'],
    ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n'), '2001:db8::7'],
    ['v2 TCP over IPv4', v2(1, 0x11, ipv4Block), '10.1.2.3'],
    ['v2 TCP over IPv6', v2(1, 0x21, ipv6Block), '2001:db8:0:0:0:0:0:1'],
    [
      'v2 TCP over IPv6 from an IPv4 client of a dual-stack balancer',
      v2(
        1,
        0x21,
        Buffer.concat([
          Buffer.from('00000000000000000000ffffc0000207', 'hex'),
          ipv6Block.subarray(16),
        ]),
      ),
      '192.0.2.7',
    ],
    [
      'v1 TCP6 from an IPv4 client of a dual-stack balancer',
      Buffer.from('PROXY TCP6 ::ffff:192.0.2.7 ::ffff:198.51.100.1 56324 443\r\n'),
      '::ffff:192.0.2.7',
    ],
    [
      'v2 with TLVs after the addresses (AWS, GCP)',
      v2(1, 0x11, Buffer.concat([ipv4Block, Buffer.from([0xea, 0x00, 0x03, 0x01, 0x02, 0x03])])),
      '10.1.2.3',
    ],
  ])('reads the client address of %s', (_label, header, address) => {
    const parsed = parseProxyHeader(Buffer.concat([header, Buffer.from('\x16\x03\x01')]));
    expect(parsed).toEqual({ kind: 'proxied', address, length: header.length });
  });

  it.each([
    ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n')],
    ['v2 LOCAL', v2(0, 0x00, Buffer.alloc(0))],
  ])('reads %s as the balancer speaking for itself', (_label, header) => {
    expect(parseProxyHeader(header)).toEqual({ kind: 'local', length: header.length });
  });

  it('asks for more octets while a header is incomplete', () => {
    const v1 = Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n');
    const binary = v2(1, 0x11, ipv4Block);
    for (const header of [v1, binary]) {
      for (let cut = 1; cut < header.length; cut++) {
        expect(parseProxyHeader(header.subarray(0, cut))).toBeUndefined();
      }
    }
  });

  it.each([
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00])],
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\n')],
    ['a v1 header without its ports', Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1\r\n')],
    ['a v1 TCP4 header with IPv6 addresses', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
    ['a v1 port over 65535', Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 65536 443\r\n')],
    ['a v1 header over 107 octets', Buffer.from(`PROXY TCP4 ${'1'.repeat(110)}`)],
    ['a v2 header of version 1', Buffer.concat([signature, Buffer.from([0x11, 0x11, 0, 0])])],
    ['a v2 command 2', v2(2, 0x11, ipv4Block)],
    ['v2 UDP', v2(1, 0x12, ipv4Block)],
    ['v2 UNIX', v2(1, 0x31, Buffer.alloc(216))],
    ['v2 TCP4 with a short address block', v2(1, 0x11, ipv4Block.subarray(0, 8))],
    ['a v2 header over the bound', v2(1, 0x11, Buffer.alloc(maxHeaderBytes))],
  ])('refuses %s', (_label, data) => {
    expect(() => parseProxyHeader(data)).toThrow(ProxyProtocolError);
  });
});

describe('readProxyHeader', () => {
  /** A TCP server whose first connection is handed to `use`. */
  async function serverSide(use: (socket: Socket) => Promise<void>) {
    let done: Promise<void> = Promise.resolve();
    const server = createServer((socket) => {
      done = use(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return {
      port,
      finished: () => done,
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  }

  it('records the address and leaves what follows the header to be read', async () => {
    let address: string | undefined;
    let rest = '';
    let recorded: string | undefined;
    const side = await serverSide(async (socket) => {
      address = await readProxyHeader(socket, 5000);
      recorded = proxiedAddressOf(socket);
      socket.setEncoding('latin1');
      for await (const chunk of socket) rest += chunk;
    });
    const client = connect(side.port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    client.end('PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nhello, TLS');
    await new Promise((resolve) => client.once('close', resolve));
    await side.finished();
    expect(address).toBe('192.0.2.7');
    expect(recorded).toBe('192.0.2.7');
    expect(rest).toBe('hello, TLS');
    await side.close();
  });

  it('closes a connection whose header does not come in time, or is not one', async () => {
    const outcomes: string[] = [];
    const side = await serverSide((socket) =>
      readProxyHeader(socket, 200).then(
        () => {
          outcomes.push('read');
        },
        (error: Error) => {
          outcomes.push(error.message);
        },
      ),
    );
    for (const bytes of ['', 'GET / HTTP/1.1\r\n']) {
      const client = connect(side.port, '127.0.0.1');
      client.on('error', () => {});
      await new Promise((resolve) => client.once('connect', resolve));
      if (bytes !== '') client.write(bytes);
      await new Promise((resolve) => client.once('close', resolve));
      await side.finished();
    }
    expect(outcomes).toEqual([
      'no PROXY header in time',
      'the connection does not start with a PROXY header',
    ]);
    await side.close();
  });
});
