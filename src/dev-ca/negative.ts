/**
 * Negative fixtures: certificates that must fail tls_client_auth, each for one named reason, with
 * the registration it fails against. Tests (ours, src/pki's, the mTLS feature suite) and the
 * `negative` command share them, so every layer is checked against the same bad inputs.
 *
 * @see RFC 8705 §2.1 (what must match), RFC 5280 §6.1.3 (validity, revocation), §4.2.1.12 (EKU)
 */
import type { ClientMetadata } from '../registry/metadata.js';
import { createDevCa, type DevCa, defaultSubject, type IssuedClientCertificate } from './ca.js';
import { tlsClientAuthEntry } from './clients.js';

/** The negative cases, by name. */
export const negativeKinds = [
  'expired',
  'not-yet-valid',
  'revoked',
  'wrong-eku',
  'foreign-ca',
  'subject-mismatch',
  'san-mismatch',
  'leaf-without-intermediate',
] as const;
export type NegativeKind = (typeof negativeKinds)[number];

/** One negative fixture. */
export interface NegativeFixture {
  readonly kind: NegativeKind;
  readonly clientId: string;
  readonly cert: IssuedClientCertificate;
  /** What the client presents: normally leaf + issuing CA; the leaf alone for `leaf-without-intermediate`. */
  readonly presentedChainPem: string;
  /** The registration the certificate is checked against (and fails). */
  readonly registration: ClientMetadata;
  /** Why it must fail, in words. */
  readonly reason: string;
  /**
   * The error `openssl verify -CAfile root -untrusted intermediate -purpose sslclient
   * -crl_check_all -CRLfile crls` prints, or undefined when the chain is valid and only the
   * registration check fails.
   */
  readonly opensslError: string | undefined;
}

export interface NegativeFixtureSet {
  readonly fixtures: Readonly<Record<NegativeKind, NegativeFixture>>;
  /** The look-alike CA used for `foreign-ca` (same subject DNs as ours, different keys). */
  readonly foreignCa: DevCa;
}

export interface NegativeFixtureOptions {
  /** client_id prefix; default `neg-`. */
  readonly clientIdPrefix?: string;
  readonly now?: Date;
}

const hourMs = 3_600_000;
const sanBase = 'spiffe://tollgate.test/';

/**
 * Issues the negative fixtures from `ca`. The `revoked` one is revoked on `ca` with reason
 * keyCompromise, so call `ca.crls()` after this to get CRLs that list it.
 */
export async function createNegativeFixtures(
  ca: DevCa,
  options: NegativeFixtureOptions = {},
): Promise<NegativeFixtureSet> {
  const prefix = options.clientIdPrefix ?? 'neg-';
  const now = options.now ?? ca.now();
  const foreignCa = await createDevCa({
    subjectsLike: ca,
    now,
    permittedSubtrees: ca.permittedSubtrees,
    profile: ca.profile,
  });
  const at = (hours: number): Date => new Date(now.getTime() + hours * hourMs);
  type Made = Omit<NegativeFixture, 'kind' | 'clientId' | 'registration' | 'presentedChainPem'> &
    Partial<Pick<NegativeFixture, 'registration' | 'presentedChainPem'>>;
  const cases: Record<NegativeKind, (clientId: string) => Promise<Made>> = {
    expired: async (clientId) => ({
      cert: await ca.issueClient({ clientId, notBefore: at(-2), notAfter: at(-1) }),
      reason: 'the certificate expired an hour ago',
      opensslError: 'certificate has expired',
    }),
    'not-yet-valid': async (clientId) => ({
      cert: await ca.issueClient({ clientId, notBefore: at(1), notAfter: at(2) }),
      reason: 'the certificate becomes valid in an hour',
      opensslError: 'certificate is not yet valid',
    }),
    revoked: async (clientId) => {
      const cert = await ca.issueClient({ clientId, now });
      ca.revoke(cert, 'keyCompromise', now);
      return {
        cert,
        reason: 'the certificate is on the intermediate CRL (keyCompromise)',
        opensslError: 'certificate revoked',
      };
    },
    'wrong-eku': async (clientId) => ({
      cert: await ca.issueClient({ clientId, now, eku: 'serverAuth' }),
      reason: 'the certificate has EKU serverAuth only, not clientAuth',
      opensslError: 'unsuitable certificate purpose',
    }),
    'foreign-ca': async (clientId) => ({
      cert: await foreignCa.issueClient({ clientId, subject: defaultSubject(clientId), now }),
      reason:
        'issued by a different CA whose subject DNs equal ours; the issuer key does not match',
      opensslError: 'unable to get local issuer certificate',
    }),
    'subject-mismatch': async (clientId) => {
      const subject = defaultSubject(`${clientId}-imposter`);
      const cert = await ca.issueClient({ clientId, subject, now });
      return {
        cert,
        registration: tlsClientAuthEntry(clientId, {
          subject: defaultSubject(clientId),
          sans: cert.sans,
        }),
        reason: 'the subject DN differs from the registered tls_client_auth_subject_dn',
        opensslError: undefined,
      };
    },
    'san-mismatch': async (clientId) => {
      const cert = await ca.issueClient({
        clientId,
        sanUri: [`${sanBase}${clientId}-imposter`],
        now,
      });
      const registered = {
        subject: cert.subject,
        sans: { ...cert.sans, uri: [`${sanBase}${clientId}`] },
      };
      return {
        cert,
        registration: tlsClientAuthEntry(clientId, registered, 'san_uri'),
        reason: 'the URI SAN differs from the registered tls_client_auth_san_uri',
        opensslError: undefined,
      };
    },
    'leaf-without-intermediate': async (clientId) => {
      const cert = await ca.issueClient({ clientId, now });
      return {
        cert,
        presentedChainPem: cert.certPem,
        reason:
          'the client sends its leaf only; the chain builds only if the server has the intermediate',
        // Only when the verifier has no intermediate (no -untrusted); with it, the chain is fine.
        opensslError: 'unable to get local issuer certificate',
      };
    },
  };
  const fixtures: Partial<Record<NegativeKind, NegativeFixture>> = {};
  // One at a time, in order: `revoked` changes the CA's revocation list.
  for (const kind of negativeKinds) {
    const clientId = `${prefix}${kind}`;
    const made = await cases[kind](clientId);
    fixtures[kind] = {
      kind,
      clientId,
      ...made,
      presentedChainPem: made.presentedChainPem ?? made.cert.chainPem,
      registration: made.registration ?? tlsClientAuthEntry(clientId, made.cert, 'subject_dn'),
    };
  }
  return { fixtures: fixtures as Record<NegativeKind, NegativeFixture>, foreignCa };
}
