/**
 * Issue 13, exact trust: certificates whose names only look like a registered identity are
 * refused over real mutual TLS with the identity-mismatch error, and genuine identities (ASCII
 * and not) still authenticate.
 *
 * Every attack certificate is issued by the same trusted dev CA as the victim's (the CA issues
 * by exact string, so `admın` is a different, free name there). Before the fix, DN values were
 * prepared with NFKC, full Unicode case mapping and map-to-nothing, so `CN=admın` (dotless ı),
 * `CN=ａｄｍｉｎ` (full-width), `CN=ad<U+00AD>min` (soft hyphen), zero-width and bidi controls and
 * an NFD spelling of a registered NFC name all authenticated as the victim.
 */
import { domainToASCII } from 'node:url';
import type { IssueClientOptions } from '../../src/dev-ca/index.js';
import { describeIdentityCases, type IdentityCase } from '../helpers/identities.js';

const suffix = 'O=Tollgate Dev,C=US';
const registered = {
  admin: { tls_client_auth_subject_dn: `CN=admin,${suffix}` },
  polish: { tls_client_auth_subject_dn: `CN=Łukasz Żółć,${suffix}` },
  cyrillic: { tls_client_auth_subject_dn: `CN=Иван Петров,${suffix}` },
  japanese: { tls_client_auth_subject_dn: `CN=東京サービス,${suffix}` },
  turkish: { tls_client_auth_subject_dn: `CN=admın,${suffix}` },
  dns: { tls_client_auth_san_dns: 'admin.acme.test' },
  email: { tls_client_auth_san_email: 'billing@acme.test' },
  uri: { tls_client_auth_san_uri: 'spiffe://acme.test/ns/prod/sa/billing' },
} as const;
type ClientId = keyof typeof registered;

type Case = IdentityCase<ClientId>;
const dn = (cn: string): IssueClientOptions => ({ subject: `CN=${cn},${suffix}` });

const attacks: readonly Case[] = [
  ['dotless i (U+0131)', 'admin', dn('adm\u0131n')],
  ['dotted capital I (U+0130)', 'admin', dn('adm\u0130n')],
  ['full-width letters', 'admin', dn('\uff41\uff44\uff4d\uff49\uff4e')],
  ['soft hyphen', 'admin', dn('ad\u00admin')],
  ['Cyrillic a (U+0430)', 'admin', dn('\u0430dmin')],
  ['Cyrillic i (U+0456)', 'admin', dn('adm\u0456n')],
  ['Greek capital alpha (U+0391)', 'admin', dn('\u0391DMIN')],
  ['Greek omicron in a Cyrillic name', 'cyrillic', dn('Иван П\u03bfтров')],
  ['combining acute accent', 'admin', dn('a\u0301dmin')],
  ['combining dot below', 'admin', dn('admin\u0323')],
  ['zero-width space', 'admin', dn('ad\u200bmin')],
  ['zero-width joiner', 'admin', dn('admin\u200d')],
  ['zero-width no-break space (BOM)', 'admin', dn('\ufeffadmin')],
  ['right-to-left override', 'admin', dn('\u202enimda')],
  ['left-to-right mark', 'admin', dn('\u200eadmin')],
  ['variation selector', 'admin', dn('admin\ufe0f')],
  ['no-break space', 'admin', dn('ad\u00a0min')],
  ['ideographic space', 'admin', dn('ad\u3000min')],
  ['ligature-style compatibility form (mathematical bold)', 'admin', dn('\u{1d41a}dmin')],
  ['NFD spelling of a registered NFC name', 'polish', dn('Łukasz Żółć'.normalize('NFD'))],
  ['NFD spelling of a registered Japanese name', 'japanese', dn('東京サービス'.normalize('NFD'))],
  ['ASCII look-alike of a registered dotless-i name', 'turkish', dn('admin')],
  ['trailing dot in the CN', 'admin', dn('admin.')],
  ['trailing dot in a DNS SAN', 'dns', { subject: `CN=x,${suffix}`, sanDns: ['admin.acme.test.'] }],
  [
    'A-label of a Cyrillic look-alike',
    'dns',
    { subject: `CN=x,${suffix}`, sanDns: [domainToASCII('\u0430dmin.acme.test')] },
  ],
  [
    'DNS name with a look-alike label',
    'dns',
    { subject: `CN=x,${suffix}`, sanDns: ['admin.acme-test.test'] },
  ],
  [
    'email local part in another case',
    'email',
    { subject: `CN=x,${suffix}`, sanEmail: ['Billing@acme.test'] },
  ],
  [
    'URI path in another case',
    'uri',
    { subject: `CN=x,${suffix}`, sanUri: ['spiffe://acme.test/ns/prod/sa/Billing'] },
  ],
  [
    'URI with a trailing slash',
    'uri',
    { subject: `CN=x,${suffix}`, sanUri: ['spiffe://acme.test/ns/prod/sa/billing/'] },
  ],
];

const genuine: readonly Case[] = [
  ['ASCII', 'admin', dn('admin')],
  ['ASCII in another case, spaces around', 'admin', dn('  ADMIN ')],
  ['Polish (NFC, as registered)', 'polish', dn('Łukasz Żółć')],
  ['Polish in upper case', 'polish', dn('ŁUKASZ ŻÓŁĆ')],
  ['Cyrillic', 'cyrillic', dn('Иван Петров')],
  ['Cyrillic in upper case', 'cyrillic', dn('ИВАН ПЕТРОВ')],
  ['Japanese', 'japanese', dn('東京サービス')],
  ['Turkish dotless i, as registered', 'turkish', dn('adm\u0131n')],
  ['DNS name in upper case', 'dns', { subject: `CN=x,${suffix}`, sanDns: ['ADMIN.Acme.TEST'] }],
  [
    'email domain in upper case',
    'email',
    { subject: `CN=x,${suffix}`, sanEmail: ['billing@ACME.test'] },
  ],
  [
    'URI exactly',
    'uri',
    { subject: `CN=x,${suffix}`, sanUri: ['spiffe://acme.test/ns/prod/sa/billing'] },
  ],
];

function fieldOf(clientId: ClientId): string {
  return Object.keys(registered[clientId])[0] as string;
}

// The chains themselves are fine (same trusted CA): every refusal is the identity match.
describeIdentityCases('look-alike identities over mutual TLS (issue 13)', {
  clients: registered,
  attacks,
  genuine,
  attackTitle: 'refuses %s as %s with the identity-mismatch error',
  refusal: (clientId) =>
    `the client certificate does not match the client's registered ${fieldOf(clientId)}`,
});
