/**
 * Path validation rules through TrustStore.validate with certificates the dev CA's builder makes
 * to order (a CA without name constraints, intermediates offered by the client with odd key usage,
 * EKU or basic constraints, a self-issued intermediate, an expired anchor), plus store
 * construction and the validate() contract.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, encodeDn } from '../../src/dev-ca/index.js';
import { type DevKeyPair, generateDevKeyPair } from '../../src/dev-ca/keys.js';
import {
  buildCertificate,
  buildCrl,
  type CertificateTemplate,
  ekuOids,
  randomSerial,
} from '../../src/dev-ca/x509.js';
import {
  keyPurposeOids,
  parseCertificate,
  TrustStore,
  TrustStoreError,
} from '../../src/pki/index.js';

const hourMs = 3_600_000;
const now = new Date();

interface Made {
  readonly subject: string;
  readonly key: DevKeyPair;
  readonly der: Buffer;
}

/** A certificate for `key` named `subject`, issued by `issuer` (self-signed when omitted). */
async function make(
  subject: string,
  options: Partial<
    Pick<
      CertificateTemplate,
      | 'ca'
      | 'keyUsage'
      | 'extKeyUsage'
      | 'notBefore'
      | 'notAfter'
      | 'permittedSubtrees'
      | 'subjectAltNames'
    >
  > & {
    issuer?: Made;
    key?: DevKeyPair;
  } = {},
): Promise<Made> {
  const key = options.key ?? (await generateDevKeyPair('p256'));
  const issuer = options.issuer ?? { subject, key };
  const { der } = buildCertificate({
    serial: randomSerial(),
    subject: encodeDn(subject),
    issuer: encodeDn(issuer.subject),
    notBefore: options.notBefore ?? new Date(now.getTime() - hourMs),
    notAfter: options.notAfter ?? new Date(now.getTime() + hourMs),
    subjectSpki: key.spkiDer,
    issuerSpki: issuer.key.spkiDer,
    signer: issuer.key,
    keyUsage: options.keyUsage ?? ['digitalSignature'],
    ...(options.ca === undefined ? {} : { ca: options.ca }),
    ...(options.extKeyUsage === undefined ? {} : { extKeyUsage: options.extKeyUsage }),
    ...(options.permittedSubtrees === undefined
      ? {}
      : { permittedSubtrees: options.permittedSubtrees }),
    ...(options.subjectAltNames === undefined ? {} : { subjectAltNames: options.subjectAltNames }),
  });
  return { subject, key, der };
}

const caUsage = ['keyCertSign', 'cRLSign'] as const;
const leafOf = (issuer: Made, extra: Parameters<typeof make>[1] = {}) =>
  make('CN=svc,O=Tollgate Test', { issuer, extKeyUsage: [ekuOids.clientAuth], ...extra });

describe('path checks through TrustStore.validate', () => {
  let root: Made;
  let store: TrustStore;
  beforeAll(async () => {
    // No name constraints on this root: the name-constraint check has nothing to apply.
    root = await make('CN=Branch Root,O=Tollgate Test', { ca: {}, keyUsage: caUsage });
    store = TrustStore.fromPem({ anchors: [root.der] });
  });

  const intermediate = (extra: Parameters<typeof make>[1]) =>
    make('CN=Offered Intermediate,O=Tollgate Test', { issuer: root, ...extra });

  it('accepts a leaf of a root without name constraints', async () => {
    const result = store.validate((await leafOf(root)).der, [], { now });
    expect(result.ok).toBe(true);
  });

  it('refuses a leaf whose key usage lacks digitalSignature', async () => {
    const leaf = await leafOf(root, { keyUsage: ['keyEncipherment'] });
    expect(store.validate(leaf.der, [], { now })).toMatchObject({
      ok: false,
      reason: 'untrusted',
      check: 'key_usage',
      detail: 'leaf key usage lacks digitalSignature',
    });
  });

  it('refuses an offered intermediate whose key usage lacks keyCertSign', async () => {
    const ca = await intermediate({ ca: {}, keyUsage: ['cRLSign'] });
    const leaf = await leafOf(ca);
    expect(store.validate(leaf.der, [ca.der], { now })).toMatchObject({
      ok: false,
      reason: 'untrusted',
      check: 'key_usage',
      detail: 'intermediate 1 key usage lacks keyCertSign',
    });
  });

  it('refuses an offered intermediate that is not a CA', async () => {
    const notCa = await intermediate({ keyUsage: ['keyCertSign'] });
    const leaf = await leafOf(notCa);
    expect(store.validate(leaf.der, [notCa.der], { now })).toMatchObject({
      ok: false,
      reason: 'untrusted',
      check: 'basic_constraints',
      detail: 'intermediate 1 is not a CA certificate',
    });
  });

  it('refuses an intermediate whose EKU lacks clientAuth (anyExtendedKeyUsage alone too, as OpenSSL does)', async () => {
    const serverOnly = await intermediate({
      ca: {},
      keyUsage: caUsage,
      extKeyUsage: [ekuOids.serverAuth],
    });
    expect(store.validate((await leafOf(serverOnly)).der, [serverOnly.der], { now })).toMatchObject(
      {
        ok: false,
        reason: 'eku',
        check: 'extended_key_usage',
        detail: 'intermediate 1 extended key usage excludes clientAuth',
      },
    );
    const anyOnly = await intermediate({
      ca: {},
      keyUsage: caUsage,
      extKeyUsage: [keyPurposeOids.anyExtendedKeyUsage],
    });
    expect(store.validate((await leafOf(anyOnly)).der, [anyOnly.der], { now })).toMatchObject({
      ok: false,
      check: 'extended_key_usage',
    });
    const clientAuth = await intermediate({
      ca: {},
      keyUsage: caUsage,
      extKeyUsage: [keyPurposeOids.clientAuth],
    });
    expect(store.validate((await leafOf(clientAuth)).der, [clientAuth.der], { now }).ok).toBe(true);
  });

  it('names the trust anchor when it is the certificate out of its validity', async () => {
    const expiredRoot = await make('CN=Expired Root,O=Tollgate Test', {
      ca: {},
      keyUsage: caUsage,
      notBefore: new Date(now.getTime() - 3 * hourMs),
      notAfter: new Date(now.getTime() - 2 * hourMs),
    });
    const leaf = await leafOf(expiredRoot);
    const result = TrustStore.fromPem({ anchors: [expiredRoot.der] }).validate(leaf.der, [], {
      now,
    });
    expect(result).toMatchObject({ ok: false, reason: 'expired', check: 'validity' });
    expect(!result.ok && result.detail).toMatch(/^trust anchor expired at /);
  });

  it('does not count a self-issued intermediate against pathLenConstraint or name constraints', async () => {
    const key = await generateDevKeyPair('p256');
    const strictRoot = await make('CN=Strict Root,O=Tollgate Test', {
      key,
      ca: { pathLength: 0 },
      keyUsage: caUsage,
      permittedSubtrees: ['.test'],
    });
    const strict = TrustStore.fromPem({ anchors: [strictRoot.der] });
    const sans = { dns: ['svc.tollgate.test'] };
    // Same name as the root, another key: a self-issued (key rollover) certificate.
    const selfIssued = await make(strictRoot.subject, {
      issuer: strictRoot,
      ca: {},
      keyUsage: caUsage,
    });
    expect(parseCertificate(selfIssued.der).selfIssued).toBe(true);
    const viaSelfIssued = await leafOf(selfIssued, { subjectAltNames: sans });
    const result = strict.validate(viaSelfIssued.der, [selfIssued.der], { now });
    expect(result.ok && result.path.length).toBe(3);
    // The same shape with a differently named intermediate exceeds pathLenConstraint 0.
    const other = await make('CN=Other,O=Tollgate Test', {
      issuer: strictRoot,
      ca: {},
      keyUsage: caUsage,
    });
    expect(
      strict.validate((await leafOf(other, { subjectAltNames: sans })).der, [other.der], { now }),
    ).toMatchObject({ ok: false, check: 'path_length' });
  });

  it('stops building paths at its bound and still returns a valid one', async () => {
    const key = await generateDevKeyPair('p256');
    const subject = 'CN=Many Roots,O=Tollgate Test';
    const roots: Made[] = [];
    for (let index = 0; index < 10; index++) {
      roots.push(await make(subject, { key, ca: {}, keyUsage: caUsage }));
    }
    const many = TrustStore.fromPem({ anchors: roots.map((made) => made.der) });
    expect(many.anchors).toHaveLength(10);
    const result = many.validate((await leafOf(roots[0] as Made)).der, [], { now });
    expect(result.ok).toBe(true);
  });

  it('truncates a very long issuer name in the failure detail', async () => {
    const longName = `CN=${'x'.repeat(300)},O=Tollgate Test`;
    const stranger = await make(longName, { ca: {}, keyUsage: caUsage });
    const result = store.validate((await leafOf(stranger)).der, [], { now });
    expect(result).toMatchObject({ ok: false, reason: 'untrusted', check: 'path' });
    const detail = result.ok ? '' : result.detail;
    expect(detail).toMatch(/^no trust anchor or intermediate named CN=x+\.\.\.$/);
    expect(detail.length).toBe('no trust anchor or intermediate named '.length + 203);
  });
});

describe('TrustStore construction', () => {
  it('refuses an anchor whose key usage lacks keyCertSign', async () => {
    const root = await make('CN=No Cert Sign', { ca: {}, keyUsage: ['cRLSign'] });
    expect(() => TrustStore.fromPem({ anchors: [root.der] })).toThrow(
      new TrustStoreError('anchors[0]', 'CA key usage lacks keyCertSign'),
    );
  });

  it('refuses a CRL from a CA whose key usage lacks cRLSign', async () => {
    const root = await make('CN=No CRL Sign', { ca: {}, keyUsage: ['keyCertSign'] });
    const crl = buildCrl({
      issuer: encodeDn(root.subject),
      issuerSpki: root.key.spkiDer,
      signer: root.key,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + hourMs),
      crlNumber: 1,
      entries: [],
    });
    expect(() => TrustStore.fromPem({ anchors: [root.der], crls: [crl.der] })).toThrow(
      new TrustStoreError('crls[0]', 'CRL issuer key usage lacks cRLSign'),
    );
  });

  it('keeps the most recent of several CRLs of one CA, whatever their order', async () => {
    const ca = await createDevCa({ now });
    const leaf = await ca.issueClient({ clientId: 'rolled', now });
    const before = (await ca.crls({ now })).intermediate.der;
    ca.revoke(leaf);
    const after = (await ca.crls({ now: new Date(now.getTime() + 60_000) })).intermediate.der;
    for (const crls of [
      [after, before],
      [before, after],
    ]) {
      const store = TrustStore.fromPem({
        anchors: [ca.root.certPem],
        intermediates: [ca.intermediate.certPem],
        crls,
      });
      expect(store.validate(leaf.certDer, [], { now })).toMatchObject({
        ok: false,
        reason: 'revoked',
      });
    }
  });

  describe('from files with anchors only', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tollgate-trust-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('validates a client sending its chain, and reloads to itself when nothing changed', async () => {
      const ca = await createDevCa({ now });
      const root = join(dir, 'root.pem');
      await writeFile(root, ca.root.certPem);
      const store = await TrustStore.fromFiles({ anchors: [root] });
      const leaf = await ca.issueClient({ clientId: 'files', now });
      expect(store.validate(leaf.certDer, [ca.intermediate.certDer], { now }).ok).toBe(true);
      expect(store.earliestCrlNextUpdate).toBeUndefined();
      expect(await store.reload()).toBe(store);
    });
  });
});

describe('TrustStore bounds and reload', () => {
  it('builds no path with more intermediates than maxIntermediates', async () => {
    const ca = await createDevCa({ now });
    const leaf = await ca.issueClient({ clientId: 'long-path', now });
    const input = { anchors: [ca.root.certPem], intermediates: [ca.intermediate.certPem] };
    expect(TrustStore.fromPem(input).validate(leaf.certDer, [], { now }).ok).toBe(true);
    // leaf, intermediate, root has one intermediate: a bound of zero leaves no path, a bound of
    // one allows it (the cap is the most intermediates a path may have, inclusive).
    expect(
      TrustStore.fromPem(input, { maxIntermediates: 0 }).validate(leaf.certDer, [], { now }),
    ).toMatchObject({ ok: false, reason: 'untrusted', check: 'path' });
    expect(
      TrustStore.fromPem(input, { maxIntermediates: 1 }).validate(leaf.certDer, [], { now }).ok,
    ).toBe(true);
  });

  it('keeps one copy of an anchor listed twice', async () => {
    const ca = await createDevCa({ now });
    expect(
      TrustStore.fromPem({ anchors: [ca.root.certPem, ca.root.certDer] }).anchors,
    ).toHaveLength(1);
  });

  it('reload builds a fresh store when an anchor file changed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-trust-reload-'));
    try {
      const first = await createDevCa({ now });
      const second = await createDevCa({ now });
      const root = join(dir, 'root.pem');
      await writeFile(root, first.root.certPem);
      const store = await TrustStore.fromFiles({ anchors: [root] });
      await writeFile(root, second.root.certPem);
      const reloaded = await store.reload();
      expect(reloaded).not.toBe(store);
      expect(reloaded.anchors[0]?.x5tS256).toBe(parseCertificate(second.root.certDer).x5tS256);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('TrustStore.validate contract', () => {
  it('refuses pins that are not an array of strings, and input that is not a certificate', async () => {
    const ca = await createDevCa({ now });
    const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const leaf = await ca.issueClient({ clientId: 'contract', now });
    expect(() =>
      store.validate(leaf.certDer, [], { now, pinnedSpkiSha256: 'pin' as never }),
    ).toThrow(new TypeError('pinnedSpkiSha256 must be an array of strings'));
    expect(() => store.validate(leaf.certDer, [], { now, pinnedSpkiSha256: [1] as never })).toThrow(
      new TypeError('pinnedSpkiSha256 must be an array of strings'),
    );
    expect(() => store.validate({} as never, [], { now })).toThrow(
      new TypeError('expected DER bytes or a ParsedCertificate'),
    );
  });
});
