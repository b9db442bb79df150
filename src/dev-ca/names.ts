/**
 * Name-constraint arithmetic the dev CA needs before it signs: which permitted subtrees the CAs
 * carry by default, and whether a SAN falls inside them, so a bad `--san` fails with a clear
 * message at issue time instead of as an opaque handshake error later.
 *
 * @see RFC 5280 §4.2.1.10
 */
import { isIP } from 'node:net';
import { ipBytes } from './x509.js';

/** The default permitted subtrees: loopback names and addresses, and the RFC 2606/6761 `.test`. */
export const defaultPermittedSubtrees: readonly string[] = [
  'localhost',
  '.localhost',
  '.test',
  '127.0.0.1/32',
  '::1/128',
];

/** True when the DNS name or IP address `value` lies inside one of `permitted`. */
export function isPermitted(value: string, permitted: readonly string[]): boolean {
  const ipVersion = isIP(value);
  if (ipVersion !== 0) {
    const address = ipBytes(value);
    return permitted.some((entry) => ipInRange(address, entry));
  }
  const name = value.toLowerCase().replace(/\.$/, '');
  return permitted.some((entry) => {
    const slash = entry.indexOf('/');
    if (isIP(slash < 0 ? entry : entry.slice(0, slash)) !== 0) return false;
    const constraint = entry.toLowerCase();
    // RFC 5280: "host.example.com" covers itself and its subdomains; OpenSSL and Go read a
    // leading dot as "subdomains only".
    if (constraint.startsWith('.')) return name.endsWith(constraint);
    return name === constraint || name.endsWith(`.${constraint}`);
  });
}

function ipInRange(address: Buffer, entry: string): boolean {
  const slash = entry.indexOf('/');
  const base = slash < 0 ? entry : entry.slice(0, slash);
  if (isIP(base) === 0) return false;
  const network = ipBytes(base);
  if (network.length !== address.length) return false;
  const bits = slash < 0 ? network.length * 8 : Number(entry.slice(slash + 1));
  for (let i = 0; i < bits; i += 1) {
    const bit = 0x80 >> (i & 7);
    if (((address[i >> 3] as number) & bit) !== ((network[i >> 3] as number) & bit)) return false;
  }
  return true;
}
