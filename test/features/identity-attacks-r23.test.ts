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
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenResult } from '../../src/client/token-request.js';
import { createDevCa, type DevCa, type IssueClientOptions } from '../../src/dev-ca/index.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';

const suffix = 'O=Tollgate Dev,C=US';
const dn = (cn: string): IssueClientOptions => ({ subject: `CN=${cn},${suffix}` });

const registered = {
  greek: `CN=Θεόδωρος Παπαδόπουλος,${suffix}`,
  turkish: `CN=İstanbul Ödeme,${suffix}`,
} as const;
type ClientId = keyof typeof registered;

/** [what, the client it tries to be, the certificate it presents] */
type Case = readonly [string, ClientId, IssueClientOptions];

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

describe('case mapping onto another letter in a subject DN (round 23)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  const presented = new Map<string, { cert: string; key: string }>();

  beforeAll(async () => {
    // No name constraints: the refusals below must come from identity matching alone.
    ca = await createDevCa({ permittedSubtrees: [] });
    for (const [name, , options] of [...attacks, ...genuine]) {
      const issued = await ca.issueClient(options);
      presented.set(name, { cert: issued.chainPem, key: issued.keyPem });
    }
    server = await startMtlsTollgate({
      ca,
      clients: Object.entries(registered).map(([clientId, subject]) => ({
        client_id: clientId,
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: subject,
        scope: 'read',
      })),
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  const request = (name: string, clientId: ClientId): Promise<TokenResult> =>
    server.token(
      { grant_type: 'client_credentials', client_id: clientId },
      presented.get(name) as { cert: string; key: string },
    );

  it.each(attacks)('refuses %s as %s', async (name, clientId) => {
    const result = await request(name, clientId);
    expect(result.ok, JSON.stringify(result)).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(401);
    expect(result.error).toBe('invalid_client');
    expect(result.errorDescription).toBe(
      "the client certificate does not match the client's registered tls_client_auth_subject_dn",
    );
  });

  it.each(genuine)('authenticates %s as %s', async (name, clientId) => {
    const result = await request(name, clientId);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    expect(claimsOf(result.accessToken).client_id).toBe(clientId);
  });
});
