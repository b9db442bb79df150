/**
 * Chain validation against dev CA fixtures: good chains, leaf-only clients, the look-alike CA,
 * validity, revocation (leaf and intermediate), EKU, pins, name constraints, path length, CRL
 * freshness and signatures, store construction and reload.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createNegativeFixtures,
  type DevCa,
  type DevCaCrls,
  type NegativeFixtureSet,
} from '../../src/dev-ca/index.js';
import { reasonCodes } from '../../src/errors/index.js';
import {
  type ChainValidationResult,
  chainFailureReasonCodes,
  decodePem,
  parseCertificate,
  TrustStore,
  TrustStoreError,
} from '../../src/pki/index.js';
import { leafSignedBy } from './fixtures.js';

const hourMs = 3_600_000;
const pem = (text: string): Buffer[] => decodePem(text, 'CERTIFICATE');

function expectFailure(result: ChainValidationResult, reason: string, check?: string): void {
  expect(result.ok, JSON.stringify(result)).toBe(false);
  if (!result.ok) {
    expect(result.reason).toBe(reason);
    if (check !== undefined) expect(result.check).toBe(check);
  }
}

describe('TrustStore.validate', () => {
  let ca: DevCa;
  let now: Date;
  let negatives: NegativeFixtureSet;
  let crls: DevCaCrls;
  let store: TrustStore;

  beforeAll(async () => {
    now = new Date();
    ca = await createDevCa({ now });
    negatives = await createNegativeFixtures(ca, { now });
    crls = await ca.crls({ now });
    store = TrustStore.fromPem({
      anchors: [ca.root.certPem],
      intermediates: [ca.intermediate.certPem],
      crls: [crls.combinedPem],
    });
  });

  it('accepts a good client that sends its chain', async () => {
    const leaf = await ca.issueClient({ clientId: 'good', now });
    const [leafDer, ...chain] = pem(leaf.chainPem);
    const result = store.validate(leafDer as Buffer, chain, { now });
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.anchorSpkiSha256).toBe(ca.root.spkiSha256);
      expect(result.path.map((certificate) => certificate.x5tS256)).toEqual([
        leaf.x5tS256,
        ca.intermediate.x5tS256,
        ca.root.x5tS256,
      ]);
      expect(result.leaf.x5tS256).toBe(leaf.x5tS256);
      expect(result.recheckAfter.getTime()).toBeLessThanOrEqual(leaf.notAfter.getTime());
    }
  });

  it('accepts a leaf-only client when the intermediate is configured', () => {
    const fixture = negatives.fixtures['leaf-without-intermediate'];
    expect(pem(fixture.presentedChainPem)).toHaveLength(1);
    expect(store.validate(fixture.cert.certDer, [], { now }).ok).toBe(true);
  });

  it('refuses a leaf-only client when the intermediate is not configured', () => {
    const anchorsOnly = TrustStore.fromPem({ anchors: [ca.root.certPem] });
    const fixture = negatives.fixtures['leaf-without-intermediate'];
    expectFailure(anchorsOnly.validate(fixture.cert.certDer, [], { now }), 'untrusted', 'path');
    // The same leaf validates when the client sends the intermediate itself.
    expect(
      anchorsOnly.validate(fixture.cert.certDer, pem(ca.intermediate.certPem), { now }).ok,
    ).toBe(true);
  });

  it('refuses a foreign CA with the same subject DNs (keys, not names, decide)', () => {
    const fixture = negatives.fixtures['foreign-ca'];
    expect(negatives.foreignCa.root.subject).toBe(ca.root.subject);
    const [leafDer, ...chain] = pem(fixture.presentedChainPem);
    const result = store.validate(leafDer as Buffer, chain, { now });
    expectFailure(result, 'untrusted', 'path');
    if (!result.ok) expect(result.detail).toMatch(/signature/);
    // Even with the foreign root offered in the chain.
    expectFailure(
      store.validate(leafDer as Buffer, [...chain, ...pem(negatives.foreignCa.root.certPem)], {
        now,
      }),
      'untrusted',
    );
  });

  it.each([
    ['expired', 'expired'],
    ['not-yet-valid', 'not_yet_valid'],
    ['revoked', 'revoked'],
    ['wrong-eku', 'eku'],
  ] as const)('refuses the %s fixture with %s', (kind, reason) => {
    const fixture = negatives.fixtures[kind];
    const [leafDer, ...chain] = pem(fixture.presentedChainPem);
    expectFailure(store.validate(leafDer as Buffer, chain, { now }), reason);
  });

  it('accepts the identity-mismatch fixtures: their chains are fine', () => {
    for (const kind of ['subject-mismatch', 'san-mismatch'] as const) {
      expect(store.validate(negatives.fixtures[kind].cert.certDer, [], { now }).ok).toBe(true);
    }
  });

  it('accepts a leaf without an EKU extension', async () => {
    const leaf = await ca.issueClient({ clientId: 'no-eku', eku: 'none', now });
    expect(store.validate(leaf.certDer, [], { now }).ok).toBe(true);
  });

  it('refuses a leaf whose EKU lists other purposes only', async () => {
    const leaf = await ca.issueClient({ clientId: 'code', eku: ['1.3.6.1.5.5.7.3.3'], now });
    expectFailure(store.validate(leaf.certDer, [], { now }), 'eku', 'extended_key_usage');
  });

  it('checks the validity period against the injected clock', async () => {
    const leaf = await ca.issueClient({ clientId: 'clock', now });
    expect(store.validate(leaf.certDer, [], { now: leaf.notAfter }).ok).toBe(true);
    expect(store.validate(leaf.certDer, [], { now: leaf.notBefore }).ok).toBe(true);
    expectFailure(
      store.validate(leaf.certDer, [], { now: new Date(leaf.notAfter.getTime() + 1000) }),
      'expired',
    );
    expectFailure(
      store.validate(leaf.certDer, [], { now: new Date(leaf.notBefore.getTime() - 1000) }),
      'not_yet_valid',
    );
  });

  it('honours per-client trust anchor pins', async () => {
    const leaf = await ca.issueClient({ clientId: 'pinned', now });
    expect(
      store.validate(leaf.certDer, [], { now, pinnedSpkiSha256: [ca.root.spkiSha256] }).ok,
    ).toBe(true);
    expectFailure(
      store.validate(leaf.certDer, [], {
        now,
        pinnedSpkiSha256: [negatives.foreignCa.root.spkiSha256],
      }),
      'pin_mismatch',
      'pin',
    );
    expectFailure(store.validate(leaf.certDer, [], { now, pinnedSpkiSha256: [] }), 'pin_mismatch');
  });

  it('lets a pin choose between two trusted roots', async () => {
    const both = TrustStore.fromPem({
      anchors: [ca.root.certPem, negatives.foreignCa.root.certPem],
      intermediates: [ca.intermediate.certPem, negatives.foreignCa.intermediate.certPem],
    });
    const foreignLeaf = negatives.fixtures['foreign-ca'].cert.certDer;
    const result = both.validate(foreignLeaf, [], { now });
    expect(result.ok && result.anchorSpkiSha256).toBe(negatives.foreignCa.root.spkiSha256);
    expectFailure(
      both.validate(foreignLeaf, [], { now, pinnedSpkiSha256: [ca.root.spkiSha256] }),
      'pin_mismatch',
    );
  });

  it('refuses a SAN outside the CA name constraints', async () => {
    expect(ca.permittedSubtrees).toContain('.test');
    const dns = await leafSignedBy(ca.intermediate, now, { sans: { dns: ['evil.example'] } });
    expectFailure(store.validate(dns.der, [], { now }), 'untrusted', 'name_constraints');
    const ip = await leafSignedBy(ca.intermediate, now, { sans: { ip: ['10.0.0.1'] } });
    expectFailure(store.validate(ip.der, [], { now }), 'untrusted', 'name_constraints');
    const inside = await leafSignedBy(ca.intermediate, now, {
      sans: { dns: ['svc.test'], ip: ['127.0.0.1', '::1'] },
    });
    expect(store.validate(inside.der, [], { now }).ok).toBe(true);
  });

  it('enforces pathLenConstraint (the intermediate may not have a sub-CA)', async () => {
    const subCa = await leafSignedBy(ca.intermediate, now, {
      subject: 'CN=Sub CA,O=Tollgate Dev,C=US',
      ca: true,
    });
    const leaf = await leafSignedBy(
      { subject: 'CN=Sub CA,O=Tollgate Dev,C=US', certPem: subCa.pem, keyPem: subCa.keyPem },
      now,
    );
    expectFailure(store.validate(leaf.der, [subCa.der], { now }), 'untrusted', 'path_length');
  });

  it('refuses a CA certificate presented as the client certificate', () => {
    expectFailure(
      store.validate(ca.intermediate.certDer, [], { now }),
      'untrusted',
      'basic_constraints',
    );
    expectFailure(store.validate(ca.root.certDer, [], { now }), 'untrusted');
  });

  it('refuses malformed input as malformed, not as a crash', () => {
    expectFailure(store.validate(Buffer.from('not a certificate'), [], { now }), 'malformed');
    const leaf = negatives.fixtures['leaf-without-intermediate'].cert.certDer;
    expectFailure(store.validate(leaf.subarray(0, leaf.length - 1), [], { now }), 'malformed');
    expectFailure(store.validate(leaf, [Buffer.from([0x30, 0x00])], { now }), 'malformed');
    expectFailure(store.validate(leaf, new Array(11).fill(leaf), { now }), 'malformed');
    expect(() => store.validate(leaf, [], { now: new Date(Number.NaN) })).toThrow(TypeError);
  });

  it('accepts parsed certificates as well as DER', () => {
    const leaf = parseCertificate(negatives.fixtures['leaf-without-intermediate'].cert.certDer);
    expect(store.validate(leaf, [parseCertificate(ca.intermediate.certDer)], { now }).ok).toBe(
      true,
    );
  });

  it('maps every failure reason to a known internal reason code', () => {
    for (const code of Object.values(chainFailureReasonCodes)) {
      expect(reasonCodes).toContain(code);
    }
  });
});

describe('revocation', () => {
  let ca: DevCa;
  let now: Date;
  beforeAll(async () => {
    now = new Date();
    ca = await createDevCa({ now });
  });

  it('refuses a revoked intermediate (root CRL)', async () => {
    const leaf = await ca.issueClient({ clientId: 'under-revoked-ca', now });
    const before = await ca.crls({ now });
    const store = TrustStore.fromPem({
      anchors: [ca.root.certPem],
      intermediates: [ca.intermediate.certPem],
      crls: [before.root.pem, before.intermediate.pem],
    });
    expect(store.validate(leaf.certDer, [], { now }).ok).toBe(true);
    ca.revoke({ certPem: ca.intermediate.certPem }, 'cACompromise', now);
    const after = store.withCrls([(await ca.crls({ now })).combinedPem]);
    const result = after.validate(leaf.certDer, [], { now });
    expectFailure(result, 'revoked', 'revocation');
    if (!result.ok) expect(result.detail).toMatch(/intermediate/);
  });

  it('fails closed on a stale CRL unless told otherwise', async () => {
    // A CA of its own: the shared one has a revoked intermediate by now.
    const ca = await createDevCa({ now });
    const leaf = await ca.issueClient({ clientId: 'stale', validityDays: 3, now });
    const crls = await ca.crls({ now, nextUpdateDays: 0.5 });
    const input = {
      anchors: [ca.root.certPem],
      intermediates: [ca.intermediate.certPem],
      crls: [crls.combinedPem],
    };
    const later = new Date(now.getTime() + 13 * hourMs);
    const strict = TrustStore.fromPem(input);
    expect(strict.earliestCrlNextUpdate?.getTime()).toBe(crls.intermediate.nextUpdate.getTime());
    expectFailure(strict.validate(leaf.certDer, [], { now: later }), 'untrusted', 'crl_stale');
    expect(
      TrustStore.fromPem(input, { crlGraceSeconds: 7200 }).validate(leaf.certDer, [], {
        now: later,
      }).ok,
    ).toBe(true);
    expect(
      TrustStore.fromPem(input, { crlStaleness: 'ignore' }).validate(leaf.certDer, [], {
        now: later,
      }).ok,
    ).toBe(true);
    const success = strict.validate(leaf.certDer, [], { now });
    expect(success.ok && success.recheckAfter.getTime()).toBe(
      crls.intermediate.nextUpdate.getTime(),
    );
  });

  it('requires a CRL per CA when requireCrls is set', async () => {
    const leaf = await ca.issueClient({ clientId: 'needs-crl', now });
    const crls = await ca.crls({ now });
    const withoutCrls = TrustStore.fromPem(
      { anchors: [ca.root.certPem], intermediates: [ca.intermediate.certPem] },
      { requireCrls: true },
    );
    expectFailure(withoutCrls.validate(leaf.certDer, [], { now }), 'untrusted', 'crl_missing');
    const intermediateOnly = withoutCrls.withCrls([crls.intermediate.der]);
    expectFailure(intermediateOnly.validate(leaf.certDer, [], { now }), 'untrusted', 'crl_missing');
  });
});

describe('TrustStore construction', () => {
  let ca: DevCa;
  let foreign: DevCa;
  beforeAll(async () => {
    ca = await createDevCa();
    foreign = await createDevCa({ subjectsLike: ca });
  });

  it('refuses a CRL whose signature does not verify (foreign CA, same name)', async () => {
    const foreignCrls = await foreign.crls();
    expect(() =>
      TrustStore.fromPem({
        anchors: [ca.root.certPem],
        intermediates: [ca.intermediate.certPem],
        crls: [foreignCrls.intermediate.pem],
      }),
    ).toThrow(/signature does not verify/);
  });

  it('refuses a CRL from an unconfigured CA', async () => {
    const crls = await ca.crls();
    expect(() =>
      TrustStore.fromPem({ anchors: [ca.root.certPem], crls: [crls.intermediate.pem] }),
    ).toThrow(TrustStoreError);
  });

  it.each([
    ['no anchors', () => ({ anchors: [] })],
    [
      'a leaf as anchor',
      async () => ({ anchors: [(await ca.issueClient({ clientId: 'x' })).certPem] }),
    ],
    [
      'garbage PEM',
      () => ({ anchors: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'] }),
    ],
    [
      'a private key',
      async () => ({ anchors: [(await ca.issueClient({ clientId: 'k' })).keyPem] }),
    ],
    ['an empty file', () => ({ anchors: [''] })],
    [
      'a garbage CRL',
      () => ({ anchors: [ca.root.certPem], crls: [Buffer.from([0x30, 0x03, 1, 2, 3])] }),
    ],
  ])('refuses %s', async (_name, input) => {
    const resolved = await input();
    expect(() => TrustStore.fromPem(resolved)).toThrow(TrustStoreError);
  });

  it('refuses bad options', () => {
    expect(() =>
      TrustStore.fromPem({ anchors: [ca.root.certPem] }, { maxIntermediates: -1 }),
    ).toThrow(TypeError);
    expect(() => TrustStore.fromPem({ anchors: [ca.root.certPem] }, { minRsaBits: 1024 })).toThrow(
      TypeError,
    );
    expect(() =>
      TrustStore.fromPem({ anchors: [ca.root.certPem] }, { crlStaleness: 'maybe' as 'fail' }),
    ).toThrow(TypeError);
  });

  it.each(['ed25519', 'rsa2048', 'p384'] as const)(
    'validates %s CAs and their CRLs',
    async (keyType) => {
      const other = await createDevCa({ keyType });
      const leaf = await other.issueClient({ clientId: `k-${keyType}` });
      other.revoke(leaf);
      const store = TrustStore.fromPem({
        anchors: [other.root.certPem],
        intermediates: [other.intermediate.certPem],
        crls: [(await other.crls()).combinedPem],
      });
      const good = await other.issueClient({ clientId: `ok-${keyType}` });
      expect(store.validate(good.certDer, [], { now: other.now() }).ok).toBe(true);
      expectFailure(store.validate(leaf.certDer, [], { now: other.now() }), 'revoked');
    },
  );
});

describe('TrustStore.fromFiles and reload', () => {
  let directory: string;
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('loads PEM and DER files and reloads only what changed', async () => {
    directory = await mkdtemp(join(tmpdir(), 'tollgate-pki-'));
    const now = new Date();
    const ca = await createDevCa({ now });
    const files = {
      anchors: [join(directory, 'root.pem')],
      intermediates: [join(directory, 'intermediate.der')],
      crls: [join(directory, 'crls.pem')],
    };
    await writeFile(files.anchors[0] as string, ca.root.certPem);
    await writeFile(files.intermediates[0] as string, ca.intermediate.certDer);
    await writeFile(files.crls[0] as string, (await ca.crls({ now })).combinedPem);
    const leaf = await ca.issueClient({ clientId: 'files', now });

    const store = await TrustStore.fromFiles(files);
    expect(store.anchors.map((anchor) => anchor.x5tS256)).toEqual([ca.root.x5tS256]);
    expect(store.validate(leaf.certDer, [], { now }).ok).toBe(true);
    expect(await store.reload()).toBe(store);

    ca.revoke(leaf);
    await writeFile(files.crls[0] as string, (await ca.crls({ now })).combinedPem);
    const reloaded = await store.reload();
    expect(reloaded).not.toBe(store);
    expect(reloaded.anchors).toBe(store.anchors);
    expectFailure(reloaded.validate(leaf.certDer, [], { now }), 'revoked');
    // The old store keeps answering as before: swapping is the caller's atomic step.
    expect(store.validate(leaf.certDer, [], { now }).ok).toBe(true);

    await writeFile(files.crls[0] as string, 'garbage');
    await expect(reloaded.reload()).rejects.toThrow(TrustStoreError);
    await expect(
      TrustStore.fromFiles({ anchors: [join(directory, 'missing.pem')] }),
    ).rejects.toThrow(TrustStoreError);
    await expect(TrustStore.fromPem({ anchors: [ca.root.certPem] }).reload()).rejects.toThrow(
      TypeError,
    );
  });
});
