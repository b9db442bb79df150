/**
 * Registered tls_client_auth identities against certificate SANs (dev CA fixtures), and the
 * parsing of registered values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import {
  compileIdentity,
  formatIpAddress,
  type IdentityType,
  identityMatches,
  type ParsedCertificate,
  PkiError,
  parseCertificate,
  parseIpAddress,
  subjectAltNames,
} from '../../src/pki/index.js';

describe('SAN identities', () => {
  let ca: DevCa;
  let cert: ParsedCertificate;
  beforeAll(async () => {
    ca = await createDevCa({ permit: ['.example.test'] });
    const issued = await ca.issueClient({
      subject: 'CN=svc-san,O=Tollgate Dev,C=US',
      sanDns: ['Svc.Example.TEST', '*.wild.test'],
      sanUri: ['spiffe://tollgate.test/ns/prod/sa/payments'],
      sanIp: ['127.0.0.1', '::1'],
      sanEmail: ['Ops.Team@Example.TEST'],
    });
    cert = parseCertificate(issued.certDer);
  });

  const matches = (type: IdentityType, value: string): boolean =>
    identityMatches(compileIdentity(type, value), cert);

  it('extracts every SAN form', () => {
    const names = subjectAltNames(cert);
    expect(names.dns).toEqual(['Svc.Example.TEST', '*.wild.test']);
    expect(names.uri).toEqual(['spiffe://tollgate.test/ns/prod/sa/payments']);
    expect(names.ip.map(formatIpAddress)).toEqual(['127.0.0.1', '0:0:0:0:0:0:0:1']);
    expect(names.email).toEqual(['Ops.Team@Example.TEST']);
  });

  it.each([
    ['san_dns', 'svc.example.test', true],
    ['san_dns', 'SVC.EXAMPLE.TEST', true],
    ['san_dns', 'example.test', false],
    ['san_dns', 'svc.example.test.', false],
    ['san_dns', 'other.wild.test', false],
    ['san_dns', '*.wild.test', true],
    ['san_dns', '*.example.test', false],
    ['san_uri', 'spiffe://tollgate.test/ns/prod/sa/payments', true],
    ['san_uri', 'spiffe://tollgate.test/ns/prod/sa/Payments', false],
    ['san_uri', 'SPIFFE://tollgate.test/ns/prod/sa/payments', false],
    ['san_uri', 'spiffe://tollgate.test/ns/prod/sa/payments/', false],
    ['san_ip', '127.0.0.1', true],
    ['san_ip', '::1', true],
    ['san_ip', '0:0:0:0:0:0:0:1', true],
    ['san_ip', '127.0.0.2', false],
    ['san_ip', '::ffff:127.0.0.1', false],
    ['san_ip', '::127.0.0.1', false],
    ['san_email', 'Ops.Team@example.test', true],
    ['san_email', 'Ops.Team@EXAMPLE.TEST', true],
    ['san_email', 'ops.team@example.test', false],
    ['san_email', 'Ops.Team@other.test', false],
    ['subject_dn', 'cn=SVC-SAN,o=tollgate dev,c=us', true],
    ['subject_dn', 'CN=svc-san,O=Tollgate Dev', false],
  ] as const)('%s %s -> %s', (type, value, expected) => {
    expect(matches(type, value)).toBe(expected);
  });

  it('never matches a SAN kind the certificate lacks', async () => {
    const bare = parseCertificate((await ca.issueClient({ clientId: 'bare' })).certDer);
    expect(subjectAltNames(bare)).toEqual({ dns: [], uri: [], ip: [], email: [] });
    expect(identityMatches(compileIdentity('san_dns', 'bare'), bare)).toBe(false);
  });
});

describe('compileIdentity', () => {
  it.each([
    ['san_dns', ''],
    ['san_dns', 'has space.test'],
    ['san_dns', 'bücher.test'],
    ['san_uri', 'not a uri'],
    ['san_uri', 'relative/path'],
    ['san_ip', '127.1'],
    ['san_ip', '01.2.3.4'],
    ['san_ip', 'fe80::1%eth0'],
    ['san_ip', 'localhost'],
    ['san_email', 'no-at-sign'],
    ['san_email', '@example.test'],
    ['san_email', 'user@'],
    ['subject_dn', 'CN=a,,O=b'],
  ] as const)('refuses %s %j', (type, value) => {
    expect(() => compileIdentity(type, value)).toThrow(PkiError);
  });

  it('refuses non-string values and unknown types', () => {
    expect(() => compileIdentity('san_dns', 42)).toThrow(PkiError);
    expect(() => compileIdentity('san_dns', 'x'.repeat(3000))).toThrow(PkiError);
    expect(() => compileIdentity('nope' as IdentityType, 'x')).toThrow(TypeError);
  });
});

describe('parseIpAddress', () => {
  it.each([
    ['127.0.0.1', '7f000001'],
    ['::1', '00000000000000000000000000000001'],
    ['2001:db8::8:800:200c:417a', '20010db80000000000080800200c417a'],
    ['2001:DB8:0:0:8:800:200C:417A', '20010db80000000000080800200c417a'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['fe80::', 'fe800000000000000000000000000000'],
    ['::', '00000000000000000000000000000000'],
  ])('%s', (text, hex) => {
    expect(Buffer.from(parseIpAddress(text)).toString('hex')).toBe(hex);
  });
});
