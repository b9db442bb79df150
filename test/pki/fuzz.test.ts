/**
 * Byte-level fuzzing of everything src/pki reads from strangers: certificates, chains, CRLs,
 * forwarded-certificate headers and DN strings. The oracle is the module's contract, not a
 * second implementation:
 *
 * - a parser returns or throws its own error type ({@link PkiError}), never a TypeError,
 *   RangeError or anything else a hostile byte could provoke;
 * - chain validation never throws on hostile input and never says `ok` for a certificate that
 *   differs by even one byte from what its issuer signed (a flipped bit in the TBS breaks the
 *   signature; one in the encoding breaks DER; one in the signature breaks it too);
 * - a CRL that was tampered with is refused when loaded or fails closed: the certificate it
 *   revokes never validates.
 *
 * Reproduce or widen: `TOLLGATE_FUZZ_SEED=N TOLLGATE_FUZZ_CASES=N npx vitest run test/pki/fuzz.test.ts`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa, type IssuedClientCertificate } from '../../src/dev-ca/index.js';
import {
  PkiError,
  parseCertificate,
  parseCrl,
  parseDn,
  parseNginxEscapedCertHeader,
  parseRfc9440Headers,
  parseXfccHeader,
  TrustStore,
  TrustStoreError,
} from '../../src/pki/index.js';
import { below, fuzzRun, hostileStrings, mutateDer, pick, type Rng } from '../helpers/fuzz.js';

/**
 * Runs `fn`; a throw that is not one of `allowed` fails, naming the case and carrying the input
 * (base64) and the stack. The fixtures' keys are random, so the input is what reproduces it.
 */
function expectOnly(
  label: string,
  input: Uint8Array | string,
  allowed: readonly (new (...args: never[]) => Error)[],
  fn: () => unknown,
) {
  try {
    return fn();
  } catch (error) {
    if (allowed.some((kind) => error instanceof kind)) return undefined;
    const shown =
      typeof input === 'string' ? JSON.stringify(input) : Buffer.from(input).toString('base64');
    throw new Error(`${label}: threw ${(error as Error)?.stack}\ninput: ${shown}`, {
      cause: error,
    });
  }
}

/** A bigger corpus run by hand (TOLLGATE_FUZZ_CASES) takes minutes; each case is bounded anyway. */
const fuzzTimeoutMs = 900_000;

describe('fuzzing src/pki with hostile bytes', () => {
  let ca: DevCa;
  let leaves: IssuedClientCertificate[];
  let revoked: IssuedClientCertificate;
  let crlDers: Buffer[];
  // Read after the fixtures are issued (their notBefore is their issuance).
  let now: Date;

  beforeAll(async () => {
    ca = await createDevCa();
    leaves = [
      await ca.issueClient({ clientId: 'fuzz-p256', sanDns: ['fuzz.localhost'] }),
      await ca.issueClient({ clientId: 'fuzz-rsa', keyType: 'rsa2048', sanIp: ['127.0.0.1'] }),
      await ca.issueClient({ clientId: 'fuzz-ed25519', keyType: 'ed25519' }),
      await ca.issueClient({
        clientId: 'fuzz-svid',
        spiffeId: 'spiffe://fuzz.localhost/ns/a/sa/b',
      }),
    ];
    revoked = await ca.issueClient({ clientId: 'fuzz-revoked' });
    ca.revoke(revoked);
    const crls = await ca.crls();
    crlDers = [crls.intermediate.der, crls.root.der];
    now = new Date();
  });

  it(
    'certificates: parse or PkiError, and a mutated leaf never validates',
    () => {
      const { seed, cases, rng } = fuzzRun(4000);
      // The intermediate is not configured: a mutated one sent by the client cannot be bypassed.
      const store = TrustStore.fromPem({ anchors: [ca.root.certPem] });
      const intermediate = ca.intermediate.certDer;
      for (const leaf of leaves) {
        expect(store.validate(leaf.certDer, [intermediate], { now }).ok, 'control').toBe(true);
      }
      let parsed = 0;
      for (let i = 0; i < cases; i++) {
        const label = `seed ${seed} case ${i}`;
        const original = pick(rng, [
          ...leaves.map((leaf) => leaf.certDer),
          intermediate,
          ca.root.certDer,
        ]);
        const mutated = mutateDer(rng, original, pick(rng, leaves).certDer);
        if (expectOnly(label, mutated, [PkiError], () => parseCertificate(mutated)) !== undefined)
          parsed++;
        // As the leaf, and as the intermediate behind a good leaf.
        const asLeaf = expectOnly(label, mutated, [], () =>
          store.validate(mutated, [intermediate], { now }),
        );
        const asChain = expectOnly(label, mutated, [], () =>
          store.validate(pick(rng, leaves).certDer, [mutated], { now }),
        );
        expect(asLeaf, label).toMatchObject({ ok: false });
        expect(asChain, label).toMatchObject({ ok: false });
      }
      // Some mutations must survive parsing, or the validator's deeper checks were never reached.
      expect(parsed).toBeGreaterThan(0);
    },
    fuzzTimeoutMs,
  );

  it(
    'CRLs: parse or PkiError; a tampered CRL is refused or fails closed',
    () => {
      const { seed, cases, rng } = fuzzRun(1000);
      const intermediate = ca.intermediate.certDer;
      const good = TrustStore.fromPem({
        anchors: [ca.root.certPem],
        intermediates: [ca.intermediate.certPem],
        crls: crlDers,
      });
      expect(good.validate(revoked.certDer, [intermediate], { now }).ok, 'control').toBe(false);
      for (let i = 0; i < cases; i++) {
        const label = `seed ${seed} case ${i}`;
        const which = below(rng, crlDers.length);
        const mutated = mutateDer(rng, crlDers[which] as Buffer);
        expectOnly(label, mutated, [PkiError], () => parseCrl(mutated));
        const crls = crlDers.map((der, index) => (index === which ? mutated : der));
        const store = expectOnly(label, mutated, [PkiError, TrustStoreError], () =>
          TrustStore.fromPem({
            anchors: [ca.root.certPem],
            intermediates: [ca.intermediate.certPem],
            crls,
          }),
        ) as TrustStore | undefined;
        if (store === undefined) continue;
        const result = expectOnly(label, mutated, [], () =>
          store.validate(revoked.certDer, [], { now }),
        );
        expect(result, label).toMatchObject({ ok: false });
      }
    },
    fuzzTimeoutMs,
  );

  it(
    'forwarded-certificate headers: parse or PkiError',
    () => {
      const { seed, cases, rng } = fuzzRun(3000);
      const pem = leaves[0]?.certPem as string;
      const der = leaves[0]?.certDer as Buffer;
      const seeds = [
        `:${der.toString('base64')}:`,
        `:${der.toString('base64')}:, :${ca.intermediate.certDer.toString('base64')}:`,
        encodeURIComponent(pem),
        `By=spiffe://a/b;Hash=abc;Cert="${encodeURIComponent(pem)}";Subject="CN=x";URI=,DNS=a`,
        `Cert="${encodeURIComponent(pem)}";Chain="${encodeURIComponent(pem + ca.intermediate.certPem)}"`,
      ];
      const grammar = [
        ':',
        ',',
        ';',
        '=',
        '"',
        '\\',
        '%',
        '%0A',
        ' ',
        '-----BEGIN CERTIFICATE-----',
        'Cert=',
        'Chain=',
        'By=',
        '*',
      ];
      for (let i = 0; i < cases; i++) {
        const label = `seed ${seed} case ${i}`;
        const value = mutateText(rng, pick(rng, seeds), grammar);
        const asList = below(rng, 8) === 0 ? [value, value] : value;
        expectOnly(label, value, [PkiError], () =>
          parseRfc9440Headers(asList, pick(rng, [undefined, asList, value])),
        );
        expectOnly(label, value, [PkiError], () => parseNginxEscapedCertHeader(asList));
        expectOnly(label, value, [PkiError], () =>
          parseXfccHeader(asList, { element: pick(rng, ['last', 'single'] as const) }),
        );
      }
    },
    fuzzTimeoutMs,
  );

  it(
    'DN strings: parse or PkiError',
    () => {
      const { seed, cases, rng } = fuzzRun(4000);
      const seeds = [
        'CN=svc-a,O=Tollgate Dev,C=US',
        'CN=a+UID=b,OU=x\\,y,O="q",C=US',
        '1.2.840.113549.1.9.1=#160b612e6578616d706c65,CN=x',
        'CN=\\20lead\\20,DC=example,DC=org',
        'cn=Ünïcödé,serialNumber=123',
      ];
      const grammar = [
        '=',
        ',',
        '+',
        ';',
        '\\',
        '"',
        '#',
        '#00',
        '\\2',
        '\\zz',
        ' ',
        'CN',
        '1.2.3',
        'OID.2.5.4.3',
      ];
      for (let i = 0; i < cases; i++) {
        const label = `seed ${seed} case ${i}`;
        const dn = mutateText(rng, pick(rng, seeds), grammar);
        expectOnly(label, dn, [PkiError], () => parseDn(dn));
      }
    },
    fuzzTimeoutMs,
  );
});

/** A text mutation: characters inserted from the grammar or hostile strings, deleted or repeated. */
function mutateText(rng: Rng, text: string, grammar: readonly string[]): string {
  let out = text;
  const rounds = 1 + below(rng, 4);
  for (let round = 0; round < rounds; round++) {
    const at = below(rng, out.length + 1);
    switch (below(rng, 5)) {
      case 0:
        out = out.slice(0, at) + pick(rng, grammar) + out.slice(at);
        break;
      case 1:
        out = out.slice(0, at) + pick(rng, hostileStrings) + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + out.slice(at + 1 + below(rng, 20));
        break;
      case 3:
        out =
          out.slice(0, at) +
          out.slice(at, at + 1 + below(rng, 30)).repeat(2 + below(rng, 3)) +
          out.slice(at);
        break;
      default:
        out = out.slice(0, at);
    }
  }
  return out;
}
