/** The rate-limit source address: socket peer on TLS, right-most untrusted forwarded hop behind a proxy. */
import { describe, expect, it } from 'vitest';
import { clientAddress, peerAddress } from '../../src/http/client-address.js';
import { addressKey } from '../../src/http/rate-limits.js';
import { parseCidrs } from '../../src/pki/index.js';

const trusted = parseCidrs(['10.0.0.0/8', '2001:db8:ffff::/48']);
const xff = { trusted, header: 'x-forwarded-for' as const };
const fwd = { trusted, header: 'forwarded' as const };
const plain = (remoteAddress: string) => ({ remoteAddress });

describe('clientAddress', () => {
  it('uses the socket peer on TLS connections, whatever the headers say', () => {
    const socket = { remoteAddress: '10.0.0.5', encrypted: true };
    expect(clientAddress(socket, ['X-Forwarded-For', '198.51.100.1'], xff)).toBe('10.0.0.5');
  });

  it('ignores forwarded headers from untrusted peers', () => {
    expect(clientAddress(plain('192.0.2.9'), ['x-forwarded-for', '198.51.100.1'], xff)).toBe(
      '192.0.2.9',
    );
  });

  it('takes the right-most hop that is not a trusted proxy', () => {
    const headers = ['X-Forwarded-For', '1.1.1.1, 198.51.100.7', 'x-forwarded-for', '10.1.2.3'];
    expect(clientAddress(plain('10.0.0.5'), headers, xff)).toBe('198.51.100.7');
  });

  it('falls back to the peer when the client hop is malformed, or there is none', () => {
    expect(clientAddress(plain('10.0.0.5'), ['x-forwarded-for', 'evil, not-an-ip'], xff)).toBe(
      '10.0.0.5',
    );
    expect(clientAddress(plain('10.0.0.5'), [], xff)).toBe('10.0.0.5');
  });

  it('uses the left-most hop when every hop is a trusted proxy', () => {
    expect(clientAddress(plain('10.0.0.5'), ['x-forwarded-for', '10.0.0.1, 10.0.0.2'], xff)).toBe(
      '10.0.0.1',
    );
  });

  it('reads RFC 7239 Forwarded when configured: quoted, bracketed IPv6, ports, other pairs', () => {
    const headers = [
      'Forwarded',
      'for=198.51.100.1;proto=https, for="[2001:db8::17]:4711"',
      'forwarded',
      'for=10.0.0.9:80;by=10.0.0.1',
    ];
    expect(clientAddress(plain('10.0.0.5'), headers, fwd)).toBe('2001:db8::17');
    expect(clientAddress(plain('10.0.0.5'), ['forwarded', 'for=unknown'], fwd)).toBe('10.0.0.5');
    expect(clientAddress(plain('10.0.0.5'), ['forwarded', 'proto=https'], fwd)).toBe('10.0.0.5');
    // X-Forwarded-For is not read when Forwarded is the configured header.
    expect(clientAddress(plain('10.0.0.5'), ['x-forwarded-for', '198.51.100.1'], fwd)).toBe(
      '10.0.0.5',
    );
  });

  it('writes IPv4-mapped peers as IPv4', () => {
    expect(peerAddress({ remoteAddress: '::ffff:10.0.0.5' })).toBe('10.0.0.5');
    expect(peerAddress({})).toBe('unknown');
    expect(clientAddress(plain('::ffff:10.0.0.5'), ['x-forwarded-for', '198.51.100.2'], xff)).toBe(
      '198.51.100.2',
    );
  });
});

describe('addressKey', () => {
  it('counts IPv4 as is and IPv6 by its /64, however it is written', () => {
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('2001:db8:0:1::5')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:DB8:0000:0001:ffff:1:2:3')).toBe('2001:db8:0:1::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::')).toBe('fe80:0:0:0::/64');
  });
});
