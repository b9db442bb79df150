/**
 * A TeletexString subject value with a non-ASCII octet names no client, over real mutual TLS.
 *
 * The attack: T.61 and Latin-1 read the same octets as different names (`0xC2 0x65` is `é` in
 * T.61, `Âe` in Latin-1). Tollgate reads TeletexString as Latin-1 (as OpenSSL does), so before
 * this rule a certificate whose CA wrote `Zo` + 0xE9 in a TeletexString (`Zoé` in Latin-1, an
 * unassigned octet in T.61) authenticated as the client registered `CN=Zoé`; a CA that writes
 * real T.61 issues that octet string for some other name. Every certificate is issued by the
 * trusted dev CA's intermediate with the dev CA's own builder.
 */
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, encodeDn } from '../../src/dev-ca/index.js';
import { generateDevKeyPair, loadDevKeyPair } from '../../src/dev-ca/keys.js';
import { buildCertificate, ekuOids, randomSerial } from '../../src/dev-ca/x509.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { oid, seq, set, tlv } from '../pki/der-builder.js';

const hourMs = 3_600_000;
const teletex = 0x14;
const utf8String = 0x0c;

/** `CN=<cn>,O=Tollgate Dev,C=US` with the CN in the given string type and octets. */
function name(tag: number, cn: Uint8Array): Buffer {
  const rdn = (type: string, value: Uint8Array) => set(seq(oid(type), value));
  return Buffer.from(
    seq(
      rdn('2.5.4.6', tlv(0x13, Buffer.from('US'))),
      rdn('2.5.4.10', tlv(utf8String, Buffer.from('Tollgate Dev'))),
      rdn('2.5.4.3', tlv(tag, cn)),
    ),
  );
}

async function issue(ca: DevCa, subject: Buffer): Promise<{ cert: string; key: string }> {
  const key = await generateDevKeyPair('p256');
  const now = Date.now();
  const certificate = buildCertificate({
    serial: randomSerial(),
    subject,
    issuer: encodeDn(ca.intermediate.subject),
    notBefore: new Date(now - hourMs),
    notAfter: new Date(now + hourMs),
    subjectSpki: key.spkiDer,
    issuerSpki: createPublicKey(ca.intermediate.certPem).export({ type: 'spki', format: 'der' }),
    signer: loadDevKeyPair(ca.intermediate.keyPem),
    keyUsage: ['digitalSignature'],
    extKeyUsage: [ekuOids.clientAuth],
  });
  return { cert: `${certificate.pem}${ca.intermediate.certPem}`, key: key.privateKeyPem };
}

describe('TeletexString subjects over mutual TLS', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  const presented = new Map<string, { cert: string; key: string }>();

  beforeAll(async () => {
    ca = await createDevCa({ permittedSubtrees: [] });
    presented.set('teletex Zo+E9', await issue(ca, name(teletex, Uint8Array.of(0x5a, 0x6f, 0xe9))));
    presented.set('utf8 Zoé', await issue(ca, name(utf8String, Buffer.from('Zoé'))));
    presented.set('teletex ASCII', await issue(ca, name(teletex, Buffer.from('svc-t61'))));
    server = await startMtlsTollgate({
      ca,
      clients: [
        ['zoe', 'CN=Zoé,O=Tollgate Dev,C=US'],
        ['ascii', 'CN=svc-t61,O=Tollgate Dev,C=US'],
      ].map(([clientId, dn]) => ({
        client_id: clientId,
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: dn,
        scope: 'read',
      })),
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  const request = (certificate: string, clientId: string) =>
    server.token(
      { grant_type: 'client_credentials', client_id: clientId },
      presented.get(certificate) as { cert: string; key: string },
    );

  it('refuses a non-ASCII TeletexString subject as the client of its Latin-1 reading', async () => {
    const result = await request('teletex Zo+E9', 'zoe');
    expect(result.ok, JSON.stringify(result)).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(401);
    expect(result.error).toBe('invalid_client');
    expect(result.errorDescription).toBe(
      "the client certificate does not match the client's registered tls_client_auth_subject_dn",
    );
  });

  it('authenticates the same name written as UTF8String', async () => {
    const result = await request('utf8 Zoé', 'zoe');
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (result.ok) expect(claimsOf(result.accessToken).client_id).toBe('zoe');
  });

  it('authenticates an ASCII TeletexString subject (T.61 and Latin-1 agree on ASCII)', async () => {
    const result = await request('teletex ASCII', 'ascii');
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (result.ok) expect(claimsOf(result.accessToken).client_id).toBe('ascii');
  });
});
