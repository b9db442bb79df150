/**
 * Round 19 of issue 13: certificate classes the differential against `openssl verify
 * -x509_strict -purpose sslclient` found Tollgate accepting while OpenSSL refuses. Each chain is
 * generated at test time by the differential's builder (test/pki/differential), from the same
 * mutation the differential runs, and validated by a fresh TrustStore; each refusal names its
 * check. The neighbouring good forms are accepted, so the fixes do not refuse real clients.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  allMutations,
  basePlan,
  type DiffCase,
  type KeyPool,
  makeKeyPool,
  prng,
  realize,
  withCrls,
} from './differential/cases.js';
import { tollgateVerdict } from './differential/tollgate.js';

const now = new Date(Math.floor(Date.now() / 1000) * 1000);
let pool: KeyPool;

/** One chain with `mutation` applied, on a base chain drawn from `seed`. */
function caseOf(mutation: string, seed: number): DiffCase {
  const found = allMutations().find((one) => one.name === mutation);
  if (found === undefined) throw new Error(`no mutation ${mutation}`);
  const rng = prng(seed);
  const plan = basePlan(`p${seed}`, rng, pool, now, Math.max(1, found.minDepth ?? 1) + (seed % 2));
  if (found.crl === true) withCrls(plan);
  found.apply(plan, rng, pool);
  return realize(plan, mutation);
}

/** Tollgate's verdicts on `mutation` over a few base chains (key types and depths vary). */
function verdicts(mutation: string): string[] {
  return [1, 2, 3].map((seed) => tollgateVerdict(caseOf(mutation, seed), now).reason);
}

describe('classes OpenSSL refuses and Tollgate now refuses too (issue 13, round 19)', () => {
  beforeAll(() => {
    pool = makeKeyPool();
  }, 120_000);

  it.each([
    // RFC 5280 §4.2.1.1: an AKI naming another issuer serial number or issuer name.
    [
      'aki:serial-mismatch@leaf',
      /^key_identifier: leaf: authority key identifier names another serial/,
    ],
    [
      'aki:serial-only-mismatch@leaf',
      /^key_identifier: leaf: authority key identifier names another serial/,
    ],
    [
      'aki:issuer-mismatch@leaf',
      /^key_identifier: leaf: authority key identifier names another issuer/,
    ],
    [
      'aki:serial-mismatch@ca',
      /^key_identifier: intermediate 1: authority key identifier names another serial/,
    ],
    // A self-signed anchor whose AKI names another key or certificate: not self-signed to OpenSSL.
    [
      'aki:mismatch@root',
      /^store: anchors\[0\]: self-issued trust anchor whose authority key identifier names another key/,
    ],
    [
      'aki:serial-mismatch@root',
      /^store: anchors\[0\]: authority key identifier names another serial/,
    ],
    // Extensions OpenSSL decodes or acts on even when not critical.
    ['ext:crldp-malformed@leaf', /^parse: malformed certificate/],
    ['ext:crldp-malformed@ca', /^parse: malformed certificate/],
    ['ext:crldp-empty-point@leaf', /^parse: malformed certificate: bad DistributionPoint/],
    [
      'ext:proxy-cert-info@leaf',
      /^critical_extension: leaf has a proxy certificate extension \(RFC 3820\)/,
    ],
    [
      'ext:proxy-cert-info-malformed@leaf',
      /^critical_extension: leaf has a proxy certificate extension/,
    ],
    [
      'ext:ip-addr-blocks@leaf',
      /^critical_extension: leaf has an IP address resources extension \(RFC 3779\)/,
    ],
    [
      'ext:ip-addr-blocks-malformed@leaf',
      /^critical_extension: leaf has an IP address resources extension/,
    ],
    ['ext:as-ids-malformed@leaf', /^critical_extension: leaf has an AS number resources extension/],
    ['ext:nscerttype-malformed@ca', /^parse: malformed certificate/],
    // CRLs: a revoked serial written with a leading zero revoked nothing; a CRL dated in the
    // future was used.
    ['crl:leaf-revoked-padded-serial', /^store: crls\[\d\]: malformed CRL: non-minimal INTEGER/],
    ['crl:not-yet-valid', /^crl_stale: CRL for the issuer of the leaf is not valid before/],
    // Netscape certificate type without SSL client; a malformed one.
    [
      'ext:nscerttype-objsign@leaf',
      /^extended_key_usage: leaf Netscape certificate type lacks SSL client/,
    ],
    [
      'ext:nscerttype-sslserver@leaf',
      /^extended_key_usage: leaf Netscape certificate type lacks SSL client/,
    ],
    ['ext:nscerttype-malformed@leaf', /^parse: malformed certificate/],
    // URI constraints: hosts OpenSSL reads differently, or cannot read at all.
    [
      'nc:uri-permitted-userinfo',
      /^name_constraints: leaf: uri name .* is constrained but cannot be checked/,
    ],
    [
      'nc:uri-excluded-userinfo',
      /^name_constraints: leaf: uri name .* is constrained but cannot be checked/,
    ],
    [
      'nc:uri-permitted-percent',
      /^name_constraints: leaf: uri name .* is constrained but cannot be checked/,
    ],
    [
      'nc:uri-excluded-urn',
      /^name_constraints: leaf: uri name .* is constrained but cannot be checked/,
    ],
    // Email: an exclusion written `@host`, an emailAddress that is not an IA5String.
    [
      'nc:email-excluded-at-host',
      /^name_constraints: leaf: email name .* is inside an excluded subtree/,
    ],
    [
      'nc:email-subject-utf8',
      /^name_constraints: leaf: emailAddress not an IA5String is constrained/,
    ],
    // A host-name commonName under dNSName constraints, when no dNSName SAN exists.
    [
      'nc:cn-hostname-outside',
      /^name_constraints: leaf: dns name .*other\.test" is outside the permitted/,
    ],
    [
      'nc:cn-hostname-excluded',
      /^name_constraints: leaf: dns name .*bad\.test" is inside an excluded/,
    ],
    ['nc:cn-hostname-underscore', /^name_constraints: leaf: dns name .* is outside the permitted/],
    ['nc:on-root-cn-outside', /^name_constraints: leaf: dns name .* is outside the permitted/],
    // IP: a constraint that is not address+mask, a SAN that is not 4 or 16 octets.
    ['nc:ip-constraint-4-octets-excluded', /^parse: malformed certificate: iPAddress constraint/],
    ['nc:ip-san-5-octets-excluded', /^name_form: leaf: iPAddress SAN is not 4 or 16 octets/],
    // An absolute dNSName would slip past an exclusion.
    [
      'nc:dns-trailing-dot-excluded',
      /^name_constraints: leaf: dns name .* is constrained but cannot be checked/,
    ],
  ])('refuses %s', (mutation, reason) => {
    for (const verdict of verdicts(mutation)) expect(verdict).toMatch(reason);
  });

  it.each([
    // RFC 5280 §4.1.2.5: validity dates through 2049 are UTCTime. OpenSSL accepts these;
    // Tollgate holds leaves and intermediates to the profile, as pyca/cryptography does.
    [
      'time:generalized-before-2050@leaf',
      /^profile: leaf: validity date before 2050 encoded as GeneralizedTime/,
    ],
    [
      'time:generalized-before-2050@ca',
      /^profile: intermediate 1: validity date before 2050 encoded as GeneralizedTime/,
    ],
  ])('refuses %s, which RFC 5280 forbids although OpenSSL accepts it', (mutation, reason) => {
    for (const verdict of verdicts(mutation)) expect(verdict).toMatch(reason);
  });

  it.each([
    'control:good',
    'aki:issuer-serial-ok@leaf',
    'ext:nscerttype-sslclient@leaf',
    'nc:uri-permitted-ok',
    'nc:uri-permitted-port',
    'nc:email-permitted-at-host',
    'ext:crldp@leaf',
    'crl:clean',
    'time:utc-2049@leaf',
    'time:generalized-before-2050@root',
    'shape:self-issued-intermediate-root-pathlen',
    'name:multi-valued-rdn-reordered',
    'nc:cn-hostname-inside',
    'nc:cn-hostname-with-dns-san',
    'nc:cn-not-hostname',
    'nc:ip-permitted-ok',
    'nc:dn-permitted-ok',
  ])('still accepts %s', (mutation) => {
    expect(verdicts(mutation)).toEqual(['ok', 'ok', 'ok']);
  });
});
