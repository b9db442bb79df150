/**
 * Round 22's parser fixes (src/pki/general-name.ts, name-constraints.ts) over a real mTLS
 * connection to a running Tollgate: a client certificate whose subjectAltName holds an otherName,
 * registeredID or ediPartyName that does not decode, and one whose SmtpUTF8Mailbox lies inside
 * an rfc822Name subtree its CA excludes, each get 401 invalid_client; control certificates of
 * the same chains get tokens. Before round 22 all of these were accepted (the unit tests in
 * test/pki/general-name.test.ts pin the same cases against a TrustStore, not a socket).
 *
 * The chains come from the differential test's builder (test/pki/differential, the dev CA's
 * profile), because the dev CA's own builder cannot write a raw SAN or excluded subtrees, and
 * src/dev-ca must not change for a test. The server's TLS certificate comes from the dev CA.
 * (The third round-22 fix, an off-curve leaf key, cannot complete a handshake: no socket test.)
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { ctx, ctxPrimitive, int, oid, seq, utf8 } from '../pki/der-builder.js';
import {
  type Built,
  buildCert,
  type KeyEntry,
  keyEntry,
  oids,
} from '../pki/differential/builder.js';
import {
  basePlan,
  type KeyPool,
  type Plan,
  prng,
  realize,
  setExt,
} from '../pki/differential/cases.js';

const dnsName = (text: string) => ctxPrimitive(2, Buffer.from(text));
const smtpUtf8 = (mailbox: string) => ctx(0, oid('1.3.6.1.5.5.7.8.9'), ctx(0, utf8(mailbox)));
const upn = '1.3.6.1.4.1.311.20.2.3';

/** SAN entries that do not decode (RFC 5280 §4.2.1.6 GeneralName), as round 22 found them. */
const undecodable: readonly (readonly [string, Uint8Array])[] = [
  ['otherName-type-not-oid', ctx(0, int(5), ctx(0, utf8('x')))],
  ['otherName-no-value', ctx(0, oid(upn))],
  ['otherName-value-not-explicit', ctx(0, oid(upn), utf8('x@y.test'))],
  ['registeredID-empty', ctxPrimitive(8)],
  ['registeredID-truncated', ctxPrimitive(8, Uint8Array.of(0x2b, 0x86))],
  ['ediPartyName-garbage', ctx(5, int(1))],
  ['ediPartyName-empty', ctx(5)],
];

interface Identity {
  readonly cert: string;
  readonly key: string;
}

describe('round 22 SAN refusals over a real mTLS connection', () => {
  let server: MtlsTollgate;
  let dir: string;
  const identities = new Map<string, Identity>();
  const clients: unknown[] = [];

  const pool: KeyPool = (() => {
    const good = [0, 1, 2, 3].map((index) =>
      keyEntry(`p256-${index}`, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey),
    );
    return { good, byName: new Map(good.map((key) => [key.name, key])) };
  })();
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);

  /** A leaf of `plan`'s chain with its own subject, serial and SAN, as a client presents it. */
  const leafOf = (plan: Plan, chain: readonly Built[], name: string, san: Uint8Array[]) => {
    const top = plan.cas[plan.cas.length - 1] as { key: KeyEntry; subject: Buffer };
    const options = {
      ...plan.leaf,
      serial: Uint8Array.from(Buffer.from(`1${name}`.padEnd(16, '0').slice(0, 16))),
      extensions: plan.leaf.extensions.map((ext) => ({ ...ext })),
    };
    setExt(options, oids.subjectAltName, () => ({
      oid: oids.subjectAltName,
      critical: false,
      value: seq(...san),
    }));
    const leaf = buildCert(options, top.key);
    identities.set(name, {
      cert: [leaf.pem, ...chain.map((one) => one.pem)].join(''),
      key: plan.leaf.key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    clients.push({
      client_id: name,
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_san_dns: `${name.toLowerCase()}.diff.test`,
      scope: 'read',
    });
  };

  beforeAll(async () => {
    // Chain 1: unconstrained, for the SANs that do not decode.
    const plain = basePlan('s1', prng(25), pool, now, 1);
    const plainCase = realize(plain, 'san-decode');
    for (const [name, bad] of undecodable) {
      leafOf(plain, plainCase.sent, name, [dnsName(`${name.toLowerCase()}.diff.test`), bad]);
    }
    leafOf(plain, plainCase.sent, 'control-plain', [dnsName('control-plain.diff.test')]);

    // Chain 2: its CA excludes the rfc822Name subtree bad.test (RFC 5280 §4.2.1.10).
    const constrained = basePlan('s2', prng(26), pool, now, 1);
    constrained.cas[1]?.extensions.push({
      oid: oids.nameConstraints,
      critical: true,
      value: seq(ctx(1, seq(ctxPrimitive(1, Buffer.from('bad.test'))))),
    });
    const constrainedCase = realize(constrained, 'smtputf8-excluded');
    leafOf(constrained, constrainedCase.sent, 'smtputf8-excluded', [
      dnsName('smtputf8-excluded.diff.test'),
      smtpUtf8('a@bad.test'),
    ]);
    leafOf(constrained, constrainedCase.sent, 'control-smtputf8', [
      dnsName('control-smtputf8.diff.test'),
      smtpUtf8('a@good.test'),
    ]);

    dir = await mkdtemp(join(tmpdir(), 'tollgate-san-decode-'));
    const anchors = join(dir, 'anchors.pem');
    await writeFile(
      anchors,
      [...plainCase.anchors, ...constrainedCase.anchors].map((one) => one.pem).join(''),
    );
    server = await startMtlsTollgate({
      ca: await createDevCa(),
      clients,
      config: {
        clientCertificates: { trustAnchorFiles: [anchors], intermediateFiles: [], crlFiles: [] },
      },
    });
  });
  afterAll(async () => {
    await server?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const request = (name: string) =>
    server.token({ grant_type: 'client_credentials', client_id: name }, identities.get(name));

  it.each(['control-plain', 'control-smtputf8'])('%s: a token over mTLS', async (name) => {
    const result = await request(name);
    expect(result.status, JSON.stringify(result.body)).toBe(200);
  });

  it.each([
    ...undecodable.map(([name]) => [name, 'the client certificate cannot be parsed'] as const),
    ['smtputf8-excluded', 'the client certificate does not chain to a trusted CA'] as const,
  ])('%s: 401 invalid_client over mTLS (%s)', async (name, description) => {
    const result = await request(name);
    expect(result.status, JSON.stringify(result.body)).toBe(401);
    expect(result.body).toEqual({ error: 'invalid_client', error_description: description });
  });
});
