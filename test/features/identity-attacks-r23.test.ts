/**
 * An attacker's pass over exact identity on the current main (round 23): each attack is performed
 * over real mutual TLS on 127.0.0.1 against a Tollgate started from the project's own code, with
 * certificates issued at test time by the dev CA (the same trusted CA as the victim's: the CA
 * issues by exact string, so every attack name below is a different, free name there).
 *
 * - Case mapping onto another letter: non-ASCII DN values were compared after JavaScript's
 *   whole-string `toLowerCase()`, which maps more than case. `ϴ` (U+03F4 GREEK CAPITAL THETA
 *   SYMBOL, a compatibility character no one can register) lower-cases to `θ`, so
 *   `CN=ϴεόδωρος …` authenticated as the client registered `CN=Θεόδωρος …`; and `İ` (U+0130)
 *   lower-cases to `i` + U+0307 COMBINING DOT ABOVE, so `CN=i̇stanbul …` written with that
 *   combining sequence authenticated as `CN=İstanbul …`. Now a presented value with a
 *   compatibility character compares exactly (and so matches no registration), and case is
 *   mapped code point by code point, only where the mapping is one code point to one.
 *
 * Attacks the server held, kept where no other test performs them over TLS:
 * - the trusted intermediate's own certificate and key, presented as a client certificate for a
 *   client registered with that CA's subject DN (a CA is never a client);
 * - a chain made by the attacker that copies the trusted intermediate's name (and says the root
 *   issued it) above a leaf with the victim's subject DN: every name leads to the anchor, no
 *   signature does (and since round 23 the attacker's key verifies nothing:
 *   test/pki/path-building-work.test.ts);
 * - the victim's DNS name carried where a `tls_client_auth_san_dns` match does not look: in the
 *   commonName, or as the host of a URI SAN.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { IssueClientOptions } from '../../src/dev-ca/index.js';
import { generateDevKeyPair } from '../../src/dev-ca/keys.js';
import {
  describeIdentityCases,
  expectClientRefused,
  expectTokenFor,
  type IdentityCase,
  type IdentityTollgate,
  startIdentityTollgate,
} from '../helpers/identities.js';
import { leafSignedBy } from '../pki/fixtures.js';

const suffix = 'O=Tollgate Dev,C=US';
const dn = (cn: string): IssueClientOptions => ({ subject: `CN=${cn},${suffix}` });

const registered = {
  greek: `CN=Θεόδωρος Παπαδόπουλος,${suffix}`,
  turkish: `CN=İstanbul Ödeme,${suffix}`,
} as const;
type ClientId = keyof typeof registered;

type Case = IdentityCase<ClientId>;

const attacks: readonly Case[] = [
  ['GREEK CAPITAL THETA SYMBOL (U+03F4) for theta', 'greek', dn('\u03f4εόδωρος Παπαδόπουλος')],
  ['THETA SYMBOL in upper case throughout', 'greek', dn('\u03f4ΕΌΔΩΡΟΣ ΠΑΠΑΔΌΠΟΥΛΟΣ')],
  ['i + COMBINING DOT ABOVE for İ (U+0130)', 'turkish', dn('i\u0307stanbul Ödeme')],
];

const genuine: readonly Case[] = [
  ['Greek, as registered', 'greek', dn('Θεόδωρος Παπαδόπουλος')],
  ['Greek in upper case (final sigma included)', 'greek', dn('ΘΕΌΔΩΡΟΣ ΠΑΠΑΔΌΠΟΥΛΟΣ')],
  ['Greek in lower case', 'greek', dn('θεόδωρος παπαδόπουλος')],
  ['Turkish, as registered', 'turkish', dn('İstanbul Ödeme')],
  ['Turkish with the other letters in upper case', 'turkish', dn('İSTANBUL ÖDEME')],
];

describeIdentityCases('case mapping onto another letter in a subject DN (round 23)', {
  clients: {
    greek: { tls_client_auth_subject_dn: registered.greek },
    turkish: { tls_client_auth_subject_dn: registered.turkish },
  },
  attacks,
  genuine,
  refusal: () =>
    "the client certificate does not match the client's registered tls_client_auth_subject_dn",
});

describe('identity attacks the server holds (round 23)', () => {
  let tollgate: IdentityTollgate<'issuing-ca' | 'victim' | 'dns'>;
  const victimDn = `CN=victim,${suffix}`;

  beforeAll(async () => {
    tollgate = await startIdentityTollgate({
      clients: (ca) => ({
        'issuing-ca': { tls_client_auth_subject_dn: ca.intermediate.subject },
        victim: { tls_client_auth_subject_dn: victimDn },
        dns: { tls_client_auth_san_dns: 'admin.acme.test' },
      }),
      certificates: [
        ['dns-in-cn', dn('admin.acme.test')],
        ['dns-as-uri-host', { subject: `CN=x,${suffix}`, sanUri: ['https://admin.acme.test/'] }],
        ['dns-genuine', { subject: `CN=x,${suffix}`, sanDns: ['admin.acme.test'] }],
      ],
      presented: async (ca) => {
        const now = new Date();
        // The attacker's "intermediate": the trusted intermediate's name, the root as its issuer,
        // the attacker's key; and below it a leaf with the victim's DN.
        const attackerKey = await generateDevKeyPair('p256');
        const fake = await leafSignedBy(
          { subject: ca.root.subject, certPem: ca.root.certPem, keyPem: attackerKey.privateKeyPem },
          now,
          { subject: ca.intermediate.subject, ca: true, key: attackerKey },
        );
        const forged = await leafSignedBy(
          {
            subject: ca.intermediate.subject,
            certPem: fake.pem,
            keyPem: attackerKey.privateKeyPem,
          },
          now,
          { subject: victimDn },
        );
        return {
          intermediate: { cert: ca.intermediate.certPem, key: ca.intermediate.keyPem },
          'copied-name': { cert: `${forged.pem}${fake.pem}`, key: forged.keyPem },
        };
      },
    });
  });
  afterAll(async () => {
    await tollgate?.dispose();
  });

  it("refuses the trusted intermediate's own certificate as a client certificate", async () => {
    expectClientRefused(
      await tollgate.request('intermediate', 'issuing-ca'),
      'the client certificate does not chain to a trusted CA',
    );
  });

  it("refuses a chain that copies the trusted intermediate's name", async () => {
    expectClientRefused(
      await tollgate.request('copied-name', 'victim'),
      'the client certificate does not chain to a trusted CA',
    );
  });

  it.each([
    ['the commonName', 'dns-in-cn'],
    ['the host of a URI SAN', 'dns-as-uri-host'],
  ])('refuses the registered DNS name in %s', async (_where, name) => {
    expectClientRefused(
      await tollgate.request(name, 'dns'),
      "the client certificate does not match the client's registered tls_client_auth_san_dns",
    );
  });

  it('authenticates the registered DNS name as a dNSName SAN', async () => {
    expectTokenFor(await tollgate.request('dns-genuine', 'dns'), 'dns');
  });
});
