/**
 * Round 23, the open follow-up of round 22's availability pass: path building verifies a presented
 * chain from the trust anchor down, so a stranger's chain of signatures that do not lead to a
 * trusted anchor costs no verification with the stranger's keys.
 *
 * Before, the search verified each link from the leaf up as it went: ten "CA" certificates
 * sharing one key in two layers of five (each of the first verifies under each of the second), with a leaf of
 * that key, made the store verify up to 30 signatures with keys no anchor certifies before
 * learning that no path reaches an anchor; with P-521 or RSA-16384 keys (both within the key
 * policy, 1 to 2.5 ms a verification on the CI machine) that is tens of milliseconds of CPU per
 * TLS connection, for the price of a handshake. Now
 * names are matched first, without cryptography, and only a path of names that ends at an anchor
 * is verified, anchor link first: a key is used only once the certificate carrying it has been
 * verified by a trusted key.
 *
 * Certificates are built at test time with the dev CA's certificate builder and keys.
 */
import { createPublicKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, encodeDn } from '../../src/dev-ca/index.js';
import { type DevKeyPair, generateDevKeyPair } from '../../src/dev-ca/keys.js';
import { buildCertificate, ekuOids, randomSerial } from '../../src/dev-ca/x509.js';
import { decodePem, TrustStore } from '../../src/pki/index.js';

const hourMs = 3_600_000;
const suffix = 'O=Tollgate Dev,C=US';

/** A certificate `subject` issued by `issuer`, signed with `key` (whose public key it may not hold). */
function certificate(options: {
  subject: string;
  issuer: string;
  subjectKey: DevKeyPair;
  signer: DevKeyPair;
  ca: boolean;
  now: Date;
}): Buffer {
  return buildCertificate({
    serial: randomSerial(),
    subject: encodeDn(options.subject),
    issuer: encodeDn(options.issuer),
    notBefore: new Date(options.now.getTime() - hourMs),
    notAfter: new Date(options.now.getTime() + hourMs),
    subjectSpki: options.subjectKey.spkiDer,
    issuerSpki: createPublicKey(options.signer.privateKey).export({ type: 'spki', format: 'der' }),
    signer: options.signer,
    ...(options.ca
      ? { ca: {}, keyUsage: ['keyCertSign', 'cRLSign'] as const }
      : { keyUsage: ['digitalSignature'] as const, extKeyUsage: [ekuOids.clientAuth] }),
  }).der;
}

describe('path building from the trust anchor down (round 23)', () => {
  let ca: DevCa;
  let now: Date;
  let store: TrustStore;
  let attacker: DevKeyPair;

  beforeAll(async () => {
    now = new Date();
    ca = await createDevCa({ now });
    store = TrustStore.fromPem({
      anchors: [ca.root.certPem],
      intermediates: [ca.intermediate.certPem],
    });
    // The most expensive key the dev CA makes; an attacker would use P-521 or RSA-16384.
    attacker = await generateDevKeyPair('p384');
  });

  /**
   * The costliest shape ten certificates allow: five CAs named `first` issued by `second`, and
   * five named `second` issued by `top`, all of the attacker's key, so each of the first five
   * verifies under each of the second five: 5 + 25 links that verify, none leading anywhere.
   */
  function layers(first: string, second: string, top: string): Buffer[] {
    const ca = (subject: string, issuer: string) =>
      certificate({ subject, issuer, subjectKey: attacker, signer: attacker, ca: true, now });
    return [
      ...Array.from({ length: 5 }, () => ca(first, second)),
      ...Array.from({ length: 5 }, () => ca(second, top)),
    ];
  }

  function leafOf(issuer: string): Buffer {
    return certificate({
      subject: `CN=victim,${suffix}`,
      issuer,
      subjectKey: attacker,
      signer: attacker,
      ca: false,
      now,
    });
  }

  /** Signature verifications one validation spends. */
  function work(leaf: Buffer, chain: readonly Buffer[]): { ok: boolean; verifications: number } {
    const before = store.signatureVerifications;
    const result = store.validate(leaf, chain, { now });
    return { ok: result.ok, verifications: store.signatureVerifications - before };
  }

  it('spends no verification on a chain whose names never reach an anchor', () => {
    const a = `CN=Attacker CA 1,${suffix}`;
    const b = `CN=Attacker CA 2,${suffix}`;
    // Before the fix: 30 verifications with the attacker's key.
    expect(work(leafOf(a), layers(a, b, `CN=Nobody,${suffix}`))).toEqual({
      ok: false,
      verifications: 0,
    });
  });

  it('spends no verification with the attacker key when the names do reach an anchor', () => {
    // The attacker names its first CAs after the trusted intermediate and says the root issued
    // the second ones: 25 paths of names now end at the anchor. Verified from the anchor down,
    // each of the five top links fails under the root's key and nothing below them is tried;
    // the configured intermediate costs two more (it verifies under the root, the leaf does not
    // verify under it). Before the fix: 31, of which 30 with the attacker's key.
    const a = ca.intermediate.subject;
    const result = work(leafOf(a), layers(a, `CN=Attacker CA 2,${suffix}`, ca.root.subject));
    expect(result.ok).toBe(false);
    expect(result.verifications).toBeLessThanOrEqual(7);
  });

  it('still validates a genuine chain with one verification per link', async () => {
    const issued = await ca.issueClient({ clientId: 'genuine', now });
    const [leaf, ...chain] = decodePem(issued.chainPem, 'CERTIFICATE');
    const result = work(leaf as Buffer, chain);
    expect(result).toEqual({ ok: true, verifications: 2 });
  });
});
