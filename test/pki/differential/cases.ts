/**
 * The differential test's case generator: a seeded catalogue of mutations applied to randomly
 * shaped good chains (root, 0–3 intermediates, leaf; key types drawn from the accepted pool).
 * Every DN carries the case id, so thousands of cases can share one `openssl verify` run without
 * one case's certificates completing another's path; cases that must collide names (empty names)
 * are marked `isolated`.
 */

import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { bits, bool, childrenOf, ctx, int, nul, oid, seq, set, tlv, utf8 } from '../der-builder.js';
import {
  type Built,
  buildCert,
  buildCrl,
  type CertOptions,
  type CrlOptions,
  crlNumber,
  type Ext,
  encode,
  type KeyEntry,
  keyEntry,
  keyIdOf,
  oids,
  type SignatureVariant,
} from './builder.js';
import { round22Mutations } from './cases-r22.js';

/** Small seeded PRNG (mulberry32): cases are reproducible from the seed. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

/** The key pool: generated once per run, reused by every case. */
export interface KeyPool {
  readonly good: readonly KeyEntry[];
  readonly byName: ReadonlyMap<string, KeyEntry>;
}

export function makeKeyPool(): KeyPool {
  const entries: KeyEntry[] = [];
  const add = (name: string, make: () => { privateKey: import('node:crypto').KeyObject }) =>
    entries.push(keyEntry(name, make().privateKey));
  for (let i = 0; i < 4; i++) {
    add(`p256-${i}`, () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
  }
  add('p384', () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }));
  add('p521', () => generateKeyPairSync('ec', { namedCurve: 'secp521r1' }));
  add('ed25519-0', () => generateKeyPairSync('ed25519'));
  add('ed25519-1', () => generateKeyPairSync('ed25519'));
  add('ed448', () => generateKeyPairSync('ed448'));
  add('rsa2048-0', () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
  add('rsa2048-1', () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
  add('rsa3072', () => generateKeyPairSync('rsa', { modulusLength: 3072 }));
  add('rsa1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }));
  add('rsa2052', () => generateKeyPairSync('rsa', { modulusLength: 2052 }));
  add('p192', () => generateKeyPairSync('ec', { namedCurve: 'prime192v1' }));
  add('secp256k1', () => generateKeyPairSync('ec', { namedCurve: 'secp256k1' }));
  add('p224', () => generateKeyPairSync('ec', { namedCurve: 'secp224r1' }));
  add('dsa2048', () => generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }));
  // Explicit curve parameters: node:crypto only writes named curves, so OpenSSL converts one.
  const named = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const explicit = execFileSync(
    'openssl',
    ['pkey', '-pubin', '-inform', 'DER', '-outform', 'DER', '-ec_param_enc', 'explicit'],
    {
      input: named.publicKey.export({ type: 'spki', format: 'der' }),
    },
  );
  entries.push(keyEntry('p256-explicit', named.privateKey, explicit));
  // Round 22: keys real CAs use that the pool lacked.
  add('rsa-pss', () => generateKeyPairSync('rsa-pss', { modulusLength: 2048 }));
  add('rsa-pss-restricted', () =>
    generateKeyPairSync('rsa-pss', {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha256',
    }),
  );
  add('brainpoolP256r1', () => generateKeyPairSync('ec', { namedCurve: 'brainpoolP256r1' }));
  // A P-256 key whose SPKI carries the compressed point (SEC 1 §2.3.3), as some HSMs write.
  const plain = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const point = plain.publicKey.export({ type: 'spki', format: 'der' }).subarray(-65);
  const compressed = Buffer.concat([
    Buffer.of(((point[64] as number) & 1) === 1 ? 0x03 : 0x02),
    point.subarray(1, 33),
  ]);
  entries.push(
    keyEntry(
      'p256-compressed',
      plain.privateKey,
      Buffer.from(
        seq(seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7')), bits(0, compressed)),
      ),
    ),
  );
  const byName = new Map(entries.map((entry) => [entry.name, entry]));
  const good = [
    'p256-0',
    'p256-1',
    'p256-2',
    'p256-3',
    'p384',
    'p521',
    'ed25519-0',
    'ed25519-1',
    'rsa2048-0',
    'rsa2048-1',
  ].map((name) => byName.get(name) as KeyEntry);
  return { good, byName };
}

/** A chain plan: mutable until realized. Index 0 of `cas` is the root. */
export interface Plan {
  readonly id: string;
  readonly now: Date;
  cas: CertOptions[];
  leaf: CertOptions;
  /** What the client sends besides its leaf; default the intermediates, leaf-side first. */
  sent: (built: Realized) => Built[];
  /** Trust anchors; default the root. */
  anchors: (built: Realized) => Built[];
  /** Present in CRL mode: one CRL per CA (by index), mutable. */
  crls: (CrlOptions & { signerIndex: number; signer?: KeyEntry })[] | undefined;
  isolated: boolean;
  /** Extra certificates built after the chain (cross-signs, look-alike intermediates). */
  extras: ((built: Realized) => Built)[];
}

export interface Realized {
  readonly cas: Built[];
  readonly leaf: Built;
  readonly extras: Built[];
  readonly plan: Plan;
}

/** One generated case, ready for both validators. */
export interface DiffCase {
  readonly id: string;
  readonly mutation: string;
  readonly anchors: Built[];
  readonly sent: Built[];
  readonly leaf: Built;
  readonly crls: Built[] | undefined;
  readonly isolated: boolean;
}

export const hour = 3_600_000;
export const day = 24 * hour;

function serialFor(rng: Rng): Uint8Array {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Math.floor(rng() * 256);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x10;
  return bytes;
}

export function caExtensions(key: KeyEntry, issuerKey: KeyEntry, pathLen?: number): Ext[] {
  return [
    { oid: oids.basicConstraints, critical: true, value: encode.basicConstraints(true, pathLen) },
    { oid: oids.keyUsage, critical: true, value: encode.keyUsage([5, 6]) },
    {
      oid: oids.subjectKeyIdentifier,
      critical: false,
      value: encode.keyIdentifier(keyIdOf(key.spki)),
    },
    {
      oid: oids.authorityKeyIdentifier,
      critical: false,
      value: encode.authorityKeyIdentifier(keyIdOf(issuerKey.spki)),
    },
  ];
}

export function leafExtensions(key: KeyEntry, issuerKey: KeyEntry, id: string): Ext[] {
  return [
    { oid: oids.basicConstraints, critical: true, value: encode.basicConstraints(false) },
    { oid: oids.keyUsage, critical: true, value: encode.keyUsage([0]) },
    { oid: oids.extKeyUsage, critical: false, value: encode.extKeyUsage([oids.clientAuth]) },
    {
      oid: oids.subjectKeyIdentifier,
      critical: false,
      value: encode.keyIdentifier(keyIdOf(key.spki)),
    },
    {
      oid: oids.authorityKeyIdentifier,
      critical: false,
      value: encode.authorityKeyIdentifier(keyIdOf(issuerKey.spki)),
    },
    {
      oid: oids.subjectAltName,
      critical: false,
      value: encode.generalNames([`dns:c${id}.diff.test`, `uri:spiffe://diff.test/c${id}`]),
    },
  ];
}

/** A good chain of `depth` intermediates with distinct random keys from the good pool. */
export function basePlan(id: string, rng: Rng, pool: KeyPool, now: Date, depth: number): Plan {
  // Distinct keys along short chains; deep chains (more certificates than the pool has keys)
  // only keep each key different from its issuer's.
  const keys: KeyEntry[] = [];
  while (keys.length < depth + 2) {
    const candidate = pick(rng, pool.good);
    const used = depth + 2 <= pool.good.length ? keys : keys.slice(-1);
    if (!used.includes(candidate)) keys.push(candidate);
  }
  const cas: CertOptions[] = [];
  for (let level = 0; level <= depth; level++) {
    const subject = encode.name(`CN=${level === 0 ? 'Root' : `CA ${level}`} c${id},O=Diff`);
    const key = keys[level] as KeyEntry;
    const issuerKey = keys[Math.max(0, level - 1)] as KeyEntry;
    cas.push({
      version: 3,
      serial: serialFor(rng),
      subject,
      issuer: level === 0 ? subject : (cas[level - 1] as CertOptions).subject,
      notBefore: new Date(now.getTime() - day),
      notAfter: new Date(now.getTime() + 30 * day),
      key,
      extensions: caExtensions(key, issuerKey),
      signature: 'default',
    });
  }
  const top = cas[depth] as CertOptions;
  const leafKey = keys[depth + 1] as KeyEntry;
  return {
    id,
    now,
    cas,
    leaf: {
      version: 3,
      serial: serialFor(rng),
      subject: encode.name(`CN=leaf c${id},O=Diff`),
      issuer: top.subject,
      notBefore: new Date(now.getTime() - hour),
      notAfter: new Date(now.getTime() + hour),
      key: leafKey,
      extensions: leafExtensions(leafKey, top.key, id),
      signature: 'default',
    },
    sent: (built) => [...built.cas.slice(1)].reverse(),
    anchors: (built) => [built.cas[0] as Built],
    crls: undefined,
    isolated: false,
    extras: [],
  };
}

/** Switches a plan to CRL mode: an empty, good CRL from every CA. */
export function withCrls(plan: Plan): void {
  plan.crls = plan.cas.map((ca, index) => ({
    issuer: ca.subject,
    thisUpdate: new Date(plan.now.getTime() - hour),
    nextUpdate: new Date(plan.now.getTime() + day),
    revokedSerials: [],
    extensions: [
      { oid: oids.crlNumber, critical: false, value: crlNumber(1) },
      {
        oid: oids.authorityKeyIdentifier,
        critical: false,
        value: encode.authorityKeyIdentifier(keyIdOf(ca.key.spki)),
      },
    ],
    version: 2,
    signerIndex: index,
  }));
}

/** Builds the certificates and CRLs of a plan into a case. */
export function realize(plan: Plan, mutation: string): DiffCase {
  const cas: Built[] = [];
  plan.cas.forEach((options, level) => {
    const signer = level === 0 ? options.key : (plan.cas[level - 1] as CertOptions).key;
    cas.push(buildCert(options, signer));
  });
  const top = plan.cas[plan.cas.length - 1] as CertOptions;
  const leaf = buildCert(plan.leaf, top.key);
  const partial: Realized = { cas, leaf, extras: [], plan };
  const extras = plan.extras.map((make) => make(partial));
  const built: Realized = { cas, leaf, extras, plan };
  const crls = plan.crls?.map((crl) =>
    buildCrl(crl, crl.signer ?? (plan.cas[crl.signerIndex] as CertOptions).key),
  );
  return {
    id: plan.id,
    mutation,
    anchors: plan.anchors(built),
    sent: plan.sent(built),
    leaf,
    crls,
    isolated: plan.isolated,
  };
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** One mutation: a name (listed in reports and in the deviation table) and what it does. */
export interface Mutation {
  readonly name: string;
  /** Intermediates the base chain needs at least (default 1). */
  readonly minDepth?: number;
  readonly crl?: boolean;
  apply(plan: Plan, rng: Rng, pool: KeyPool): void;
}

export type Role = 'leaf' | 'ca' | 'root';
export const roleCert = (plan: Plan, role: Role): CertOptions =>
  role === 'leaf'
    ? plan.leaf
    : role === 'root'
      ? (plan.cas[0] as CertOptions)
      : (plan.cas[plan.cas.length - 1] as CertOptions);

export function setExt(
  cert: CertOptions,
  oid: string,
  change: (ext: Ext | undefined) => Ext | undefined,
) {
  const index = cert.extensions.findIndex((ext) => ext.oid === oid);
  const next = change(index < 0 ? undefined : cert.extensions[index]);
  if (index < 0) {
    if (next !== undefined) cert.extensions.push(next);
  } else if (next === undefined) cert.extensions.splice(index, 1);
  else cert.extensions[index] = next;
}

/** Re-keys a certificate and fixes the key identifiers and issuer links that depend on it. */
export function rekey(plan: Plan, role: Role, key: KeyEntry): void {
  const cert = roleCert(plan, role);
  cert.key = key;
  setExt(cert, oids.subjectKeyIdentifier, (ext) =>
    ext === undefined ? undefined : { ...ext, value: encode.keyIdentifier(keyIdOf(key.spki)) },
  );
  const below =
    role === 'leaf'
      ? []
      : role === 'root'
        ? [plan.cas[1] ?? plan.leaf, plan.cas[0] as CertOptions]
        : [plan.leaf];
  for (const child of below) {
    setExt(child, oids.authorityKeyIdentifier, (ext) =>
      ext === undefined
        ? undefined
        : { ...ext, value: encode.authorityKeyIdentifier(keyIdOf(key.spki)) },
    );
  }
}

const extNames = {
  bc: oids.basicConstraints,
  ku: oids.keyUsage,
  eku: oids.extKeyUsage,
  ski: oids.subjectKeyIdentifier,
  aki: oids.authorityKeyIdentifier,
  san: oids.subjectAltName,
} as const;

function extensionMutations(): Mutation[] {
  const list: Mutation[] = [];
  const roles: Role[] = ['leaf', 'ca', 'root'];
  for (const role of roles) {
    for (const [short, oid] of Object.entries(extNames)) {
      if ((short === 'eku' || short === 'san') && role !== 'leaf') continue;
      list.push(
        {
          name: `absent:${short}@${role}`,
          apply: (plan) => setExt(roleCert(plan, role), oid, () => undefined),
        },
        {
          name: `critical-flip:${short}@${role}`,
          apply: (plan) =>
            setExt(roleCert(plan, role), oid, (ext) => ext && { ...ext, critical: !ext.critical }),
        },
        {
          name: `malformed:${short}@${role}`,
          apply: (plan) =>
            setExt(roleCert(plan, role), oid, (ext) => ext && { ...ext, value: encode.garbage() }),
        },
        {
          name: `duplicate:${short}@${role}`,
          apply: (plan) => {
            const cert = roleCert(plan, role);
            const ext = cert.extensions.find((one) => one.oid === oid);
            if (ext !== undefined) cert.extensions.push(ext);
          },
        },
      );
    }
    list.push(
      {
        name: `unknown-critical@${role}`,
        apply: (plan) =>
          roleCert(plan, role).extensions.push({
            oid: oids.unknown,
            critical: true,
            value: encode.null(),
          }),
      },
      {
        name: `unknown-noncritical@${role}`,
        apply: (plan) =>
          roleCert(plan, role).extensions.push({
            oid: oids.unknown,
            critical: false,
            value: encode.null(),
          }),
      },
      {
        name: `policies-anypolicy-critical@${role}`,
        apply: (plan) =>
          roleCert(plan, role).extensions.push({
            oid: oids.certificatePolicies,
            critical: true,
            value: encode.anyPolicy(),
          }),
      },
      {
        name: `policy-constraints-critical@${role}`,
        apply: (plan) =>
          roleCert(plan, role).extensions.push({
            oid: oids.policyConstraints,
            critical: true,
            value: Uint8Array.of(0x30, 0x03, 0x80, 0x01, 0x00),
          }),
      },
      {
        name: `no-extensions-v3@${role}`,
        apply: (plan) => {
          roleCert(plan, role).extensions = [];
        },
      },
      {
        name: `version-1@${role}`,
        apply: (plan) => {
          roleCert(plan, role).version = 1;
        },
      },
      {
        name: `version-2@${role}`,
        apply: (plan) => {
          roleCert(plan, role).version = 2;
        },
      },
      {
        name: `serial-zero@${role}`,
        apply: (plan) => {
          roleCert(plan, role).serial = Uint8Array.of(0);
        },
      },
      {
        name: `serial-negative@${role}`,
        apply: (plan) => {
          roleCert(plan, role).serial = Uint8Array.of(0xff, 0x01);
        },
      },
      {
        name: `serial-20-octets@${role}`,
        apply: (plan) => {
          roleCert(plan, role).serial = Uint8Array.from([0x7f, ...randomBytes(19)]);
        },
      },
      {
        name: `serial-21-octets@${role}`,
        apply: (plan) => {
          roleCert(plan, role).serial = Uint8Array.from([0x7f, ...randomBytes(20)]);
        },
      },
    );
  }
  return list;
}

const ku = (role: Role, name: string, bits: number[], critical = true): Mutation => ({
  name: `ku:${name}@${role}`,
  apply: (plan) =>
    setExt(roleCert(plan, role), oids.keyUsage, () => ({
      oid: oids.keyUsage,
      critical,
      value: encode.keyUsage(bits),
    })),
});

const eku = (role: Role, name: string, purposes: string[], critical = false): Mutation => ({
  name: `eku:${name}@${role}`,
  apply: (plan) =>
    setExt(roleCert(plan, role), oids.extKeyUsage, () => ({
      oid: oids.extKeyUsage,
      critical,
      value: encode.extKeyUsage(purposes),
    })),
});

const san = (name: string, names: string[], critical = false): Mutation => ({
  name: `san:${name}`,
  apply: (plan) =>
    setExt(plan.leaf, oids.subjectAltName, () => ({
      oid: oids.subjectAltName,
      critical,
      value: encode.generalNames(names),
    })),
});

function usageMutations(): Mutation[] {
  return [
    ku('leaf', 'keyEncipherment', [2]),
    ku('leaf', 'digitalSignature+keyCertSign', [0, 5]),
    ku('leaf', 'digitalSignature+cRLSign', [0, 6]),
    ku('leaf', 'nonRepudiation', [1]),
    ku('leaf', 'digitalSignature+keyEncipherment', [0, 2]),
    ku('leaf', 'keyAgreement', [4]),
    ku('leaf', 'digitalSignature-noncritical', [0], false),
    ku('ca', 'digitalSignature', [0]),
    ku('ca', 'cRLSign', [6]),
    ku('ca', 'keyCertSign', [5]),
    ku('root', 'cRLSign', [6]),
    ku('root', 'keyCertSign-noncritical', [5, 6], false),
    eku('leaf', 'serverAuth', [oids.serverAuth]),
    eku('leaf', 'clientAuth+serverAuth', [oids.clientAuth, oids.serverAuth]),
    eku('leaf', 'anyEKU', [oids.anyExtendedKeyUsage]),
    eku('leaf', 'clientAuth+anyEKU', [oids.clientAuth, oids.anyExtendedKeyUsage]),
    eku('leaf', 'codeSigning', [oids.codeSigning]),
    eku('leaf', 'clientAuth-critical', [oids.clientAuth], true),
    eku('ca', 'clientAuth', [oids.clientAuth]),
    eku('ca', 'serverAuth', [oids.serverAuth]),
    eku('ca', 'anyEKU', [oids.anyExtendedKeyUsage]),
    eku('ca', 'clientAuth+serverAuth', [oids.clientAuth, oids.serverAuth]),
    eku('root', 'clientAuth', [oids.clientAuth]),
    eku('root', 'serverAuth', [oids.serverAuth]),
    {
      name: 'bc:leaf-is-ca',
      apply: (plan) => {
        setExt(plan.leaf, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true),
        }));
      },
    },
    {
      name: 'bc:leaf-is-ca-pathlen-0',
      apply: (plan) => {
        setExt(plan.leaf, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true, 0),
        }));
        setExt(plan.leaf, oids.keyUsage, () => ({
          oid: oids.keyUsage,
          critical: true,
          value: encode.keyUsage([0, 5]),
        }));
      },
    },
    {
      name: 'bc:leaf-pathlen-without-ca',
      apply: (plan) =>
        setExt(plan.leaf, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00),
        })),
    },
    {
      name: 'bc:ca-not-ca',
      apply: (plan) =>
        setExt(roleCert(plan, 'ca'), oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(false),
        })),
    },
    {
      name: 'bc:root-pathlen-0-over-intermediate',
      apply: (plan) =>
        setExt(roleCert(plan, 'root'), oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true, 0),
        })),
    },
    {
      name: 'bc:top-ca-pathlen-0',
      apply: (plan) =>
        setExt(roleCert(plan, 'ca'), oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true, 0),
        })),
    },
    {
      name: 'bc:first-ca-pathlen-0-over-two',
      minDepth: 2,
      apply: (plan) =>
        setExt(plan.cas[1] as CertOptions, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true, 0),
        })),
    },
    {
      name: 'bc:first-ca-pathlen-1-over-two',
      minDepth: 2,
      apply: (plan) =>
        setExt(plan.cas[1] as CertOptions, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true, 1),
        })),
    },
  ];
}

function nameMutations(): Mutation[] {
  const subjectEmpty = (critical: boolean | undefined): Mutation => ({
    name: `name:leaf-empty-subject-san-${critical === undefined ? 'absent' : critical ? 'critical' : 'noncritical'}`,
    apply: (plan) => {
      plan.leaf.subject = Buffer.from([0x30, 0x00]);
      setExt(plan.leaf, oids.subjectAltName, (ext) =>
        critical === undefined ? undefined : ext && { ...ext, critical },
      );
    },
  });
  const constraint = (
    name: string,
    permitted: string[],
    excluded: string[],
    names: string[],
    critical = true,
  ): Mutation => ({
    name: `nc:${name}`,
    apply: (plan) => {
      roleCert(plan, 'ca').extensions.push({
        oid: oids.nameConstraints,
        critical,
        value: encode.nameConstraints(permitted, excluded),
      });
      setExt(plan.leaf, oids.subjectAltName, () => ({
        oid: oids.subjectAltName,
        critical: false,
        value: encode.generalNames(names),
      }));
    },
  });
  return [
    subjectEmpty(true),
    subjectEmpty(false),
    subjectEmpty(undefined),
    {
      name: 'name:empty-issuer-and-ca-subject',
      minDepth: 1,
      apply: (plan) => {
        const ca = roleCert(plan, 'ca');
        ca.subject = Buffer.from([0x30, 0x00]);
        plan.leaf.issuer = ca.subject;
        plan.isolated = true;
      },
    },
    {
      name: 'name:issuer-in-other-case',
      apply: (plan) => {
        const ca = roleCert(plan, 'ca');
        plan.leaf.issuer = encode.name(
          `CN=${ca === plan.cas[0] ? 'ROOT' : `CA ${plan.cas.length - 1}`} C${plan.id.toUpperCase()},O=DIFF`,
        );
      },
    },
    {
      name: 'name:issuer-differs',
      apply: (plan) => {
        plan.leaf.issuer = encode.name(`CN=Other c${plan.id},O=Diff`);
      },
    },
    san('dns-leading-period', ['dns:.a.diff.test']),
    san('dns-underscore', ['dns:a_b.diff.test']),
    san('dns-trailing-dot', ['dns:a.diff.test.']),
    san('dns-wildcard', ['dns:*.diff.test']),
    san('dns-empty-label', ['dns:a..diff.test']),
    san('dns-leading-hyphen', ['dns:-a.diff.test']),
    san('dns-space', ['dns:a b.diff.test']),
    san('dns-empty', ['dns:']),
    san('email-two-at', ['email:a@b@diff.test']),
    san('email-no-local', ['email:@diff.test']),
    san('email-ok', ['email:a@diff.test']),
    san('uri-ok', ['uri:https://diff.test/a']),
    san('ip-v4', ['ip:7f000001']),
    san('ip-v6', ['ip:00000000000000000000000000000001']),
    san('ip-5-octets', ['ip:7f00000101']),
    san('dirname', ['dn:CN=dir,O=Diff']),
    san('critical-with-subject', [`dns:a.diff.test`], true),
    constraint('dns-permitted-ok', ['dns:diff.test'], [], ['dns:a.diff.test']),
    constraint('dns-permitted-violation', ['dns:diff.test'], [], ['dns:a.other.test']),
    constraint('dns-leading-period-ok', ['dns:.diff.test'], [], ['dns:a.diff.test']),
    constraint('dns-leading-period-exact', ['dns:.diff.test'], [], ['dns:diff.test']),
    constraint('dns-excluded', [], ['dns:bad.diff.test'], ['dns:x.bad.diff.test']),
    constraint('dns-excluded-ok', [], ['dns:bad.diff.test'], ['dns:good.diff.test']),
    constraint('email-permitted-ok', ['email:diff.test'], [], ['email:a@diff.test']),
    constraint('email-permitted-violation', ['email:diff.test'], [], ['email:a@other.test']),
    constraint('uri-permitted-violation', ['uri:.diff.test'], [], ['uri:https://other.test/']),
    constraint('ip-permitted-violation', ['ip:0a000000ff000000'], [], ['ip:7f000001']),
    constraint('ip-permitted-ok', ['ip:7f000000ff000000'], [], ['ip:7f000001']),
    constraint('dn-permitted-violation', ['dn:O=Elsewhere'], [], ['dns:a.diff.test']),
    constraint('noncritical', ['dns:diff.test'], [], ['dns:a.diff.test'], false),
    {
      name: 'nc:in-leaf',
      apply: (plan) =>
        plan.leaf.extensions.push({
          oid: oids.nameConstraints,
          critical: true,
          value: encode.nameConstraints(['dns:diff.test']),
        }),
    },
    {
      name: 'nc:malformed',
      apply: (plan) =>
        roleCert(plan, 'ca').extensions.push({
          oid: oids.nameConstraints,
          critical: true,
          value: encode.garbage(),
        }),
    },
    {
      name: 'aki:mismatch@leaf',
      apply: (plan) =>
        setExt(
          plan.leaf,
          oids.authorityKeyIdentifier,
          (ext) => ext && { ...ext, value: encode.authorityKeyIdentifier(Buffer.alloc(20, 0x17)) },
        ),
    },
    {
      name: 'aki:mismatch@ca',
      apply: (plan) =>
        setExt(
          roleCert(plan, 'ca'),
          oids.authorityKeyIdentifier,
          (ext) => ext && { ...ext, value: encode.authorityKeyIdentifier(Buffer.alloc(20, 0x17)) },
        ),
    },
  ];
}

const keyNames = [
  'p256-0',
  'p384',
  'p521',
  'ed25519-0',
  'ed448',
  'rsa2048-0',
  'rsa3072',
  'rsa1024',
  'rsa2052',
  'p192',
  'p224',
  'secp256k1',
  'dsa2048',
  'p256-explicit',
];

/** Puts `key` on the certificate in `role`, keeping keys distinct along the chain and fixing every key identifier. */
export function useKey(plan: Plan, role: Role, key: KeyEntry, pool: KeyPool): void {
  // Keep keys distinct along the chain: a parent that already has this key is re-keyed.
  for (const ca of plan.cas)
    if (ca.key === key)
      ca.key = pool.good.find(
        (one) => !plan.cas.some((c) => c.key === one) && plan.leaf.key !== one,
      ) as KeyEntry;
  if (plan.leaf.key === key && role !== 'leaf')
    plan.leaf.key = pool.good.find((one) => !plan.cas.some((c) => c.key === one)) as KeyEntry;
  rekey(plan, role, key);
  // Refresh the SKIs and AKIs of the whole chain after the reshuffle.
  plan.cas.forEach((ca, level) => {
    setExt(
      ca,
      oids.subjectKeyIdentifier,
      (ext) => ext && { ...ext, value: encode.keyIdentifier(keyIdOf(ca.key.spki)) },
    );
    const issuerKey = (plan.cas[Math.max(0, level - 1)] as CertOptions).key;
    setExt(
      ca,
      oids.authorityKeyIdentifier,
      (ext) => ext && { ...ext, value: encode.authorityKeyIdentifier(keyIdOf(issuerKey.spki)) },
    );
  });
  const top = plan.cas[plan.cas.length - 1] as CertOptions;
  setExt(
    plan.leaf,
    oids.subjectKeyIdentifier,
    (ext) => ext && { ...ext, value: encode.keyIdentifier(keyIdOf(plan.leaf.key.spki)) },
  );
  setExt(
    plan.leaf,
    oids.authorityKeyIdentifier,
    (ext) => ext && { ...ext, value: encode.authorityKeyIdentifier(keyIdOf(top.key.spki)) },
  );
}

function keyMutations(): Mutation[] {
  const list: Mutation[] = [];
  for (const role of ['leaf', 'ca', 'root'] as const) {
    for (const name of keyNames) {
      list.push({
        name: `key:${name}@${role}`,
        apply: (plan, _rng, pool) => useKey(plan, role, pool.byName.get(name) as KeyEntry, pool),
      });
    }
  }
  for (const role of ['leaf', 'ca'] as const) {
    list.push(
      {
        name: `sig:sha1@${role}`,
        apply: (plan) => {
          roleCert(plan, role).signature = 'sha1';
        },
      },
      {
        name: `sig:bad@${role}`,
        apply: (plan) => {
          roleCert(plan, role).signature = 'bad-signature';
        },
      },
      {
        name: `sig:mismatch@${role}`,
        apply: (plan) => {
          roleCert(plan, role).signature = 'mismatch';
        },
      },
    );
  }
  list.push({
    name: 'sig:md5@leaf',
    apply: (plan, _rng, pool) => {
      leafIssuerKeyType(plan, pool, 'rsa');
      plan.leaf.signature = 'md5';
    },
  });
  return list;
}

/** Re-keys the leaf's issuer (the top CA, or the root) to a key of `type` (RSA for MD5/PSS). */
export function leafIssuerKeyType(plan: Plan, pool: KeyPool, type: 'rsa' | 'ec'): void {
  const top = roleCert(plan, 'ca');
  if (top.key.privateKey.asymmetricKeyType === type) return;
  // More candidates than a chain has keys, so one is always free.
  const names =
    type === 'rsa'
      ? ['rsa2048-0', 'rsa2048-1', 'rsa3072']
      : ['p256-0', 'p256-1', 'p256-2', 'p256-3', 'p384', 'p521'];
  const chosen = names
    .map((name) => pool.byName.get(name) as KeyEntry)
    .find((key) => !plan.cas.some((ca) => ca.key === key) && plan.leaf.key !== key) as KeyEntry;
  rekey(plan, plan.cas.length === 1 ? 'root' : 'ca', chosen);
  if (plan.cas.length === 1)
    setExt(
      top,
      oids.authorityKeyIdentifier,
      (ext) => ext && { ...ext, value: encode.authorityKeyIdentifier(keyIdOf(chosen.spki)) },
    );
}

function validityMutations(): Mutation[] {
  const at = (name: string, change: (plan: Plan) => void): Mutation => ({
    name: `time:${name}`,
    apply: change,
  });
  const second = 1000;
  return [
    at('leaf-not-yet-valid-1s', (p) => {
      p.leaf.notBefore = new Date(p.now.getTime() + second);
    }),
    at('leaf-expired-1s', (p) => {
      p.leaf.notAfter = new Date(p.now.getTime() - second);
    }),
    at('leaf-notafter-now', (p) => {
      p.leaf.notAfter = new Date(p.now.getTime());
    }),
    at('leaf-notbefore-now', (p) => {
      p.leaf.notBefore = new Date(p.now.getTime());
    }),
    at('leaf-outlives-ca', (p) => {
      p.leaf.notAfter = new Date(p.now.getTime() + 60 * day);
    }),
    at('leaf-generalized-2051', (p) => {
      p.leaf.notAfter = new Date(Date.UTC(2051, 0, 1));
    }),
    at('leaf-notafter-before-notbefore', (p) => {
      p.leaf.notAfter = new Date(p.now.getTime() - 2 * hour);
    }),
    at('ca-expired', (p) => {
      roleCert(p, 'ca').notAfter = new Date(p.now.getTime() - second);
    }),
    at('ca-not-yet-valid', (p) => {
      roleCert(p, 'ca').notBefore = new Date(p.now.getTime() + second);
    }),
    at('root-expired', (p) => {
      roleCert(p, 'root').notAfter = new Date(p.now.getTime() - second);
    }),
    at('root-not-yet-valid', (p) => {
      roleCert(p, 'root').notBefore = new Date(p.now.getTime() + hour);
    }),
  ];
}

function shapeMutations(): Mutation[] {
  const deep = (count: number): Mutation => ({
    name: `shape:intermediates-${count}`,
    minDepth: count,
    apply: () => undefined,
  });
  return [
    deep(0),
    deep(4),
    deep(8),
    deep(9),
    deep(10),
    deep(11),
    deep(12),
    {
      name: 'shape:sent-reversed',
      minDepth: 2,
      apply: (plan) => {
        plan.sent = (built) => built.cas.slice(1);
      },
    },
    {
      name: 'shape:sent-with-root',
      apply: (plan) => {
        plan.sent = (built) => [...built.cas].reverse();
      },
    },
    {
      name: 'shape:intermediate-missing',
      apply: (plan) => {
        plan.sent = (built) => [...built.cas.slice(2)].reverse();
      },
    },
    ...[2, 9, 10, 11, 20].map(
      (copies): Mutation => ({
        name: `shape:duplicates-${copies}`,
        apply: (plan) => {
          plan.sent = (built) => new Array(copies).fill(built.cas[built.cas.length - 1]);
        },
      }),
    ),
    {
      name: 'shape:unrelated-extra',
      apply: (plan) => {
        plan.extras.push(() =>
          buildCert(
            {
              ...plan.leaf,
              subject: encode.name(`CN=stray c${plan.id},O=Diff`),
              serial: Uint8Array.of(9),
            },
            (plan.cas[0] as CertOptions).key,
          ),
        );
        plan.sent = (built) => [...built.extras, ...[...built.cas.slice(1)].reverse()];
      },
    },
    {
      name: 'shape:leaf-signed-by-root-key',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        top.key = (plan.cas[0] as CertOptions).key;
        plan.isolated = true;
      },
    },
    {
      name: 'cross:sent-only-foreign',
      apply: (plan) => crossSign(plan, 'foreign-only'),
    },
    {
      name: 'cross:sent-both',
      apply: (plan) => crossSign(plan, 'both'),
    },
    {
      name: 'cross:trust-foreign-root',
      apply: (plan) => crossSign(plan, 'trust-foreign'),
    },
    {
      name: 'dup-subject:two-intermediates',
      apply: (plan, _rng, pool) => {
        // A second intermediate with the same subject and another key: only one signs the leaf.
        const top = roleCert(plan, 'ca');
        const other = pool.good.find(
          (key) =>
            key !== top.key && !plan.cas.some((ca) => ca.key === key) && key !== plan.leaf.key,
        ) as KeyEntry;
        const issuerKey = (plan.cas[plan.cas.length - 2] ?? (plan.cas[0] as CertOptions)).key;
        plan.extras.push(() =>
          buildCert(
            {
              ...top,
              key: other,
              serial: Uint8Array.of(0x11),
              extensions: caExtensions(other, issuerKey),
            },
            issuerKey,
          ),
        );
        plan.sent = (built) => [...built.extras, ...[...built.cas.slice(1)].reverse()];
      },
    },
  ];
}

function crossSign(plan: Plan, variant: 'foreign-only' | 'both' | 'trust-foreign'): void {
  // The top CA also certified by a foreign root (same subject and key, other issuer).
  const top = roleCert(plan, 'ca');
  const rootKey = (plan.cas[0] as CertOptions).key;
  const foreignRoot: CertOptions = {
    ...(plan.cas[0] as CertOptions),
    subject: encode.name(`CN=Foreign Root c${plan.id},O=Diff`),
    issuer: encode.name(`CN=Foreign Root c${plan.id},O=Diff`),
    serial: Uint8Array.of(0x21),
  };
  foreignRoot.key = rootKey;
  plan.extras.push(
    () => buildCert(foreignRoot, rootKey),
    () =>
      buildCert(
        {
          ...top,
          issuer: foreignRoot.subject,
          serial: Uint8Array.of(0x22),
          extensions: caExtensions(top.key, rootKey),
        },
        rootKey,
      ),
  );
  if (plan.cas.length === 1) return;
  if (variant === 'foreign-only') {
    plan.sent = (built) => [built.extras[1] as Built, ...[...built.cas.slice(1, -1)].reverse()];
  } else if (variant === 'both') {
    plan.sent = (built) => [built.extras[1] as Built, ...[...built.cas.slice(1)].reverse()];
  } else {
    plan.anchors = (built) => [built.extras[0] as Built];
    plan.sent = (built) => [built.extras[1] as Built];
  }
}

function crlMutations(): Mutation[] {
  const crl = (name: string, change: (plan: Plan, rng: Rng, pool: KeyPool) => void): Mutation => ({
    name: `crl:${name}`,
    crl: true,
    apply: change,
  });
  const caCrl = (p: Plan) => p.crls?.[p.cas.length - 1] as NonNullable<Plan['crls']>[number];
  const rootCrl = (p: Plan) => p.crls?.[0] as NonNullable<Plan['crls']>[number];
  return [
    crl('clean', () => undefined),
    crl('leaf-revoked', (p) => {
      caCrl(p).revokedSerials = [p.leaf.serial];
    }),
    crl('leaf-revoked-padded-serial', (p) => {
      // The leaf's serial with a leading zero octet: not DER, the same number.
      caCrl(p).revokedSerials = [Uint8Array.from([0x00, ...p.leaf.serial])];
    }),
    crl('other-revoked', (p) => {
      caCrl(p).revokedSerials = [Uint8Array.of(0x55, 0x01)];
    }),
    crl('intermediate-revoked', (p) => {
      rootCrl(p).revokedSerials = [roleCert(p, 'ca').serial];
    }),
    crl('expired', (p) => {
      caCrl(p).nextUpdate = new Date(p.now.getTime() - 1000);
    }),
    crl('not-yet-valid', (p) => {
      caCrl(p).thisUpdate = new Date(p.now.getTime() + hour);
      caCrl(p).nextUpdate = new Date(p.now.getTime() + day);
    }),
    crl('no-next-update', (p) => {
      caCrl(p).nextUpdate = undefined;
    }),
    crl('no-crl-number', (p) => {
      caCrl(p).extensions = caCrl(p).extensions.filter((ext) => ext.oid !== oids.crlNumber);
    }),
    crl('critical-crl-number', (p) => {
      caCrl(p).extensions = caCrl(p).extensions.map((ext) =>
        ext.oid === oids.crlNumber ? { ...ext, critical: true } : ext,
      );
    }),
    crl('v1', (p) => {
      caCrl(p).version = 1;
    }),
    crl('unknown-critical-extension', (p) => {
      caCrl(p).extensions.push({ oid: oids.unknown, critical: true, value: encode.null() });
    }),
    crl('issuing-distribution-point', (p) => {
      caCrl(p).extensions.push({
        oid: oids.issuingDistributionPoint,
        critical: true,
        value: Uint8Array.of(0x30, 0x03, 0x81, 0x01, 0xff),
      });
    }),
    crl('wrong-signer', (p, _rng, pool) => {
      caCrl(p).signer = pool.good.find((key) => !p.cas.some((ca) => ca.key === key)) as KeyEntry;
    }),
    crl('root-crl-missing', (p) => {
      p.crls = p.crls?.filter((_, index) => index !== 0);
    }),
    crl('ca-crl-missing', (p) => {
      p.crls = p.crls?.filter((_, index) => index !== p.cas.length - 1);
    }),
  ];
}

// ---------------------------------------------------------------------------------------------
// Encodings pkijs never writes, edited into the TBSCertificate before signing (round 19)

/** Index of a TBSCertificate field by name, whether or not the version field is present. */
export function tbsIndex(
  fields: readonly Uint8Array[],
  name: 'serial' | 'signature' | 'issuer' | 'validity' | 'subject' | 'spki' | 'extensions',
): number {
  const offset = fields[0]?.[0] === 0xa0 ? 1 : 0;
  const order = ['serial', 'signature', 'issuer', 'validity', 'subject', 'spki'];
  if (name === 'extensions') return fields.findIndex((field) => field[0] === 0xa3);
  return offset + order.indexOf(name);
}

/** A DER TLV's tag and content octets. */
export function splitTlv(bytes: Uint8Array): { tag: number; content: Uint8Array } {
  const lengthOctet = bytes[1] as number;
  const headerLength = lengthOctet < 0x80 ? 2 : 2 + (lengthOctet & 0x7f);
  return { tag: bytes[0] as number, content: bytes.subarray(headerLength) };
}

const pad2 = (value: number) => String(value).padStart(2, '0');

/** Time text in the shapes RFC 5280 §4.1.2.5 allows and the ones it does not. */
export function timeText(
  date: Date,
  form: 'utc' | 'generalized',
  options: { seconds?: boolean; zone?: string; fraction?: string } = {},
): string {
  const year = date.getUTCFullYear();
  const head = form === 'utc' ? pad2(year % 100) : String(year);
  return `${head}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${options.seconds === false ? '' : pad2(date.getUTCSeconds())}${options.fraction ?? ''}${options.zone ?? 'Z'}`;
}

export const timeTlv = (form: 'utc' | 'generalized', text: string) =>
  tlv(form === 'utc' ? 0x17 : 0x18, Buffer.from(text, 'latin1'));

/** Rewrites every extension of a TBS's extensions field: `edit` gets [oid, critical?, value]. */
export function editExtensions(
  fields: Uint8Array[],
  edit: (extension: Uint8Array[]) => Uint8Array[],
): Uint8Array[] {
  const index = tbsIndex(fields, 'extensions');
  if (index < 0) return fields;
  const list = childrenOf(splitTlv(fields[index] as Uint8Array).content);
  const next = [...fields];
  next[index] = ctx(3, seq(...list.map((extension) => seq(...edit(childrenOf(extension))))));
  return next;
}

const hasOid = (extension: Uint8Array[], dotted: string) =>
  Buffer.compare(Buffer.from(extension[0] as Uint8Array), Buffer.from(oid(dotted))) === 0;

function rawMutations(): Mutation[] {
  const leafTbs = (name: string, edit: (fields: Uint8Array[], plan: Plan) => Uint8Array[]) => ({
    name,
    apply: (plan: Plan) => {
      plan.leaf.tbsEdit = (fields) => edit(fields, plan);
    },
  });
  const onRole = (
    name: string,
    role: Role,
    edit: (fields: Uint8Array[], plan: Plan) => Uint8Array[],
  ): Mutation => ({
    name,
    apply: (plan: Plan) => {
      roleCert(plan, role).tbsEdit = (fields) => edit(fields, plan);
      // A CA OpenSSL cannot load would fail the whole shared untrusted bundle.
      plan.isolated = true;
    },
  });
  const replaceField = (fields: Uint8Array[], index: number, value: Uint8Array) => {
    const next = [...fields];
    next[index] = value;
    return next;
  };
  const validity = (fields: Uint8Array[], change: (tlvBytes: Uint8Array) => Uint8Array) => {
    const index = tbsIndex(fields, 'validity');
    return replaceField(fields, index, change(fields[index] as Uint8Array));
  };
  const withTimes = (
    fields: Uint8Array[],
    notBefore: Uint8Array | undefined,
    notAfter: Uint8Array | undefined,
  ) =>
    validity(fields, (old) => {
      const [before, after] = childrenOf(old) as [Uint8Array, Uint8Array];
      return seq(notBefore ?? before, notAfter ?? after);
    });
  const list: Mutation[] = [
    // Lengths: DER wants the shortest definite form (X.690 §10.1).
    leafTbs('der:long-form-length@leaf', (fields) =>
      validity(fields, (old) => {
        const { tag, content } = splitTlv(old);
        return Uint8Array.from([tag, 0x81, content.length, ...content]);
      }),
    ),
    leafTbs('der:length-leading-zero@leaf', (fields) =>
      validity(fields, (old) => {
        const { tag, content } = splitTlv(old);
        return Uint8Array.from([tag, 0x82, 0x00, content.length, ...content]);
      }),
    ),
    leafTbs('der:indefinite-length@leaf', (fields) =>
      validity(fields, (old) => {
        const { tag, content } = splitTlv(old);
        return Uint8Array.from([tag, 0x80, ...content, 0x00, 0x00]);
      }),
    ),
    onRole('der:long-form-length@ca', 'ca', (fields) =>
      validity(fields, (old) => {
        const { tag, content } = splitTlv(old);
        return Uint8Array.from([tag, 0x81, content.length, ...content]);
      }),
    ),
    // BOOLEAN: DER TRUE is 0xFF; FALSE is the DEFAULT and must be left out (X.690 §11.1, §11.5).
    leafTbs('der:boolean-true-01@leaf', (fields) =>
      editExtensions(fields, (extension) =>
        extension.length === 3
          ? ([extension[0], tlv(0x01, Uint8Array.of(0x01)), extension[2]] as Uint8Array[])
          : extension,
      ),
    ),
    leafTbs('der:critical-false-explicit@leaf', (fields) =>
      editExtensions(fields, (extension) =>
        extension.length === 2 && hasOid(extension, oids.subjectKeyIdentifier)
          ? ([extension[0], bool(false), extension[1]] as Uint8Array[])
          : extension,
      ),
    ),
    // INTEGER: minimal two's complement (X.690 §8.3.2); RFC 5280 §4.1.2.2 wants a positive serial.
    leafTbs('der:serial-leading-zero@leaf', (fields, plan) =>
      replaceField(
        fields,
        tbsIndex(fields, 'serial'),
        tlv(0x02, Uint8Array.from([0x00, ...plan.leaf.serial])),
      ),
    ),
    leafTbs('der:serial-empty@leaf', (fields) =>
      replaceField(fields, tbsIndex(fields, 'serial'), tlv(0x02)),
    ),
    // Versions: extensions only in v3, unique identifiers only in v2 and v3 (RFC 5280 §4.1.2.1).
    leafTbs('der:v1-with-extensions@leaf', (fields) =>
      fields[0]?.[0] === 0xa0 ? fields.slice(1) : fields,
    ),
    leafTbs('der:v2-with-extensions@leaf', (fields) =>
      fields[0]?.[0] === 0xa0 ? [ctx(0, int(1)), ...fields.slice(1)] : fields,
    ),
    onRole('der:v1-with-extensions@ca', 'ca', (fields) =>
      fields[0]?.[0] === 0xa0 ? fields.slice(1) : fields,
    ),
    leafTbs('der:version-explicit-v4@leaf', (fields) =>
      fields[0]?.[0] === 0xa0 ? [ctx(0, int(3)), ...fields.slice(1)] : fields,
    ),
    leafTbs('der:unique-ids@leaf', (fields) => {
      const index = tbsIndex(fields, 'extensions');
      return [
        ...fields.slice(0, index),
        tlv(0x81, Uint8Array.of(0x00, 0x01, 0x02)),
        tlv(0x82, Uint8Array.of(0x00, 0x03, 0x04)),
        ...fields.slice(index),
      ];
    }),
    leafTbs('der:extensions-empty@leaf', (fields) =>
      replaceField(fields, tbsIndex(fields, 'extensions'), ctx(3, seq())),
    ),
    leafTbs('der:tbs-trailing-field@leaf', (fields) => [...fields, nul()]),
    leafTbs('der:spki-unused-bits@leaf', (fields) => {
      const index = tbsIndex(fields, 'spki');
      const [algorithm, key] = childrenOf(fields[index] as Uint8Array) as [Uint8Array, Uint8Array];
      const { content } = splitTlv(key);
      return replaceField(fields, index, seq(algorithm, bits(1, content.subarray(1))));
    }),
    {
      name: 'der:trailing-byte@leaf',
      apply: (plan) => {
        plan.leaf.derEdit = (der) => Buffer.concat([der, Buffer.of(0x00)]);
      },
    },
    {
      name: 'der:signature-unused-bits@leaf',
      apply: (plan) => {
        plan.leaf.derEdit = (der) => {
          const [tbs, algorithm, signature] = childrenOf(der) as [
            Uint8Array,
            Uint8Array,
            Uint8Array,
          ];
          const { content } = splitTlv(signature);
          return Buffer.from(seq(tbs, algorithm, bits(1, content.subarray(1))));
        };
      },
    },
    // Times: RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, seconds, `Z`.
    leafTbs('time:utc-no-seconds@leaf', (fields, plan) =>
      withTimes(
        fields,
        timeTlv('utc', timeText(plan.leaf.notBefore, 'utc', { seconds: false })),
        undefined,
      ),
    ),
    leafTbs('time:utc-no-zone@leaf', (fields, plan) =>
      withTimes(
        fields,
        timeTlv('utc', timeText(plan.leaf.notBefore, 'utc', { zone: '' })),
        undefined,
      ),
    ),
    leafTbs('time:utc-offset@leaf', (fields, plan) =>
      withTimes(
        fields,
        timeTlv('utc', timeText(plan.leaf.notBefore, 'utc', { zone: '+0000' })),
        undefined,
      ),
    ),
    leafTbs('time:generalized-fraction-2051@leaf', (fields) =>
      withTimes(
        fields,
        undefined,
        timeTlv(
          'generalized',
          timeText(new Date(Date.UTC(2051, 0, 1)), 'generalized', { fraction: '.5' }),
        ),
      ),
    ),
    leafTbs('time:generalized-no-zone-2051@leaf', (fields) =>
      withTimes(
        fields,
        undefined,
        timeTlv(
          'generalized',
          timeText(new Date(Date.UTC(2051, 0, 1)), 'generalized', { zone: '' }),
        ),
      ),
    ),
    leafTbs('time:generalized-before-2050@leaf', (fields, plan) =>
      withTimes(
        fields,
        undefined,
        timeTlv('generalized', timeText(plan.leaf.notAfter, 'generalized')),
      ),
    ),
    onRole('time:generalized-before-2050@ca', 'ca', (fields, plan) =>
      withTimes(
        fields,
        timeTlv('generalized', timeText(roleCert(plan, 'ca').notBefore, 'generalized')),
        undefined,
      ),
    ),
    leafTbs('time:utc-2049@leaf', (fields) =>
      withTimes(
        fields,
        undefined,
        timeTlv('utc', timeText(new Date(Date.UTC(2049, 11, 31, 23, 59, 59)), 'utc')),
      ),
    ),
    onRole('time:generalized-before-2050@root', 'root', (fields, plan) =>
      withTimes(
        fields,
        timeTlv('generalized', timeText(roleCert(plan, 'root').notBefore, 'generalized')),
        undefined,
      ),
    ),
    leafTbs('time:utc-impossible-date@leaf', (fields, plan) =>
      withTimes(
        fields,
        timeTlv('utc', `${timeText(plan.leaf.notBefore, 'utc').slice(0, 2)}0230000000Z`),
        undefined,
      ),
    ),
  ];
  // Signature algorithms the dev CA never writes.
  const algorithm = (name: string, variant: SignatureVariant, type: 'rsa' | 'ec'): Mutation => ({
    name: `alg:${name}@leaf`,
    apply: (plan, _rng, pool) => {
      leafIssuerKeyType(plan, pool, type);
      plan.leaf.signature = variant;
    },
  });
  list.push(
    algorithm('pss-sha256', 'pss-sha256', 'rsa'),
    algorithm('pss-sha256-salt0', 'pss-sha256-salt0', 'rsa'),
    algorithm('pss-mgf1-sha1', 'pss-mgf1-sha1', 'rsa'),
    algorithm('pss-defaults', 'pss-defaults', 'rsa'),
    algorithm('ecdsa-null-params', 'ecdsa-null-params', 'ec'),
    algorithm('outer-params-differ-rsa', 'outer-params-differ', 'rsa'),
    algorithm('outer-params-differ-ec', 'outer-params-differ', 'ec'),
  );
  return list;
}

// ---------------------------------------------------------------------------------------------
// Extensions OpenSSL reads and the dev CA never writes, key identifiers, and name-constraint
// forms (round 19)

export const extOids = {
  crlDistributionPoints: '2.5.29.31',
  freshestCrl: '2.5.29.46',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  issuerAltName: '2.5.29.18',
  policyMappings: '2.5.29.33',
  netscapeCertType: '2.16.840.1.113730.1.1',
  proxyCertInfo: '1.3.6.1.5.5.7.1.14',
  ipAddrBlocks: '1.3.6.1.5.5.7.1.7',
  autonomousSysIds: '1.3.6.1.5.5.7.1.8',
} as const;

/** AuthorityKeyIdentifier with the issuer-and-serial form (RFC 5280 §4.2.1.1). */
export function akiValue(
  keyId: Uint8Array | undefined,
  issuer: Uint8Array | undefined,
  serial: Uint8Array | undefined,
): Uint8Array {
  return seq(
    ...(keyId === undefined ? [] : [tlv(0x80, keyId)]),
    ...(issuer === undefined ? [] : [ctx(1, ctx(4, issuer))]),
    ...(serial === undefined ? [] : [tlv(0x82, serial)]),
  );
}

function extensionMutations2(): Mutation[] {
  const push =
    (role: Role, oidText: string, critical: boolean, value: Uint8Array) => (plan: Plan) =>
      roleCert(plan, role).extensions.push({ oid: oidText, critical, value });
  const crlDp = seq(seq(ctx(0, ctx(0, tlv(0x86, Buffer.from('http://crl.diff.test/ca.crl'))))));
  const aki = (
    name: string,
    role: 'leaf' | 'ca',
    shape: (issuer: CertOptions) => Uint8Array,
  ): Mutation => ({
    name: `aki:${name}@${role}`,
    apply: (plan) => {
      const cert = roleCert(plan, role);
      const issuer =
        role === 'leaf'
          ? roleCert(plan, 'ca')
          : ((plan.cas[plan.cas.length - 2] ?? plan.cas[0]) as CertOptions);
      setExt(cert, oids.authorityKeyIdentifier, (ext) => ext && { ...ext, value: shape(issuer) });
    },
  });
  const otherSerial = Uint8Array.of(0x12, 0x34);
  return [
    {
      name: 'san:empty-sequence',
      apply: (plan) =>
        setExt(plan.leaf, oids.subjectAltName, (ext) => ext && { ...ext, value: seq() }),
    },
    {
      name: 'ext:inhibit-any-policy-critical@ca',
      apply: push('ca', oids.inhibitAnyPolicy, true, int(0)),
    },
    { name: 'ext:inhibit-any-policy@ca', apply: push('ca', oids.inhibitAnyPolicy, false, int(0)) },
    {
      name: 'ext:policy-mappings-critical@ca',
      apply: push(
        'ca',
        extOids.policyMappings,
        true,
        seq(seq(oid('1.3.6.1.4.1.55555.2.1'), oid('1.3.6.1.4.1.55555.2.2'))),
      ),
    },
    {
      name: 'ext:policies-malformed@leaf',
      apply: push('leaf', oids.certificatePolicies, false, encode.garbage()),
    },
    { name: 'ext:crldp@leaf', apply: push('leaf', extOids.crlDistributionPoints, false, crlDp) },
    {
      name: 'ext:crldp-critical@leaf',
      apply: push('leaf', extOids.crlDistributionPoints, true, crlDp),
    },
    {
      name: 'ext:crldp-malformed@leaf',
      apply: push('leaf', extOids.crlDistributionPoints, false, encode.garbage()),
    },
    {
      name: 'ext:crldp-malformed@ca',
      apply: push('ca', extOids.crlDistributionPoints, false, encode.garbage()),
    },
    {
      name: 'ext:crldp-empty@leaf',
      apply: push('leaf', extOids.crlDistributionPoints, false, seq()),
    },
    {
      name: 'ext:freshest-crl-malformed@leaf',
      apply: push('leaf', extOids.freshestCrl, false, encode.garbage()),
    },
    {
      name: 'ext:crldp-empty-point@leaf',
      apply: push('leaf', extOids.crlDistributionPoints, false, seq(seq())),
    },
    {
      name: 'ext:proxy-cert-info@leaf',
      apply: (plan) => {
        // RFC 3820 §3.8: a proxy certificate has no subjectAltName.
        setExt(plan.leaf, oids.subjectAltName, () => undefined);
        plan.leaf.extensions.push({
          oid: extOids.proxyCertInfo,
          critical: false,
          value: seq(seq(oid('1.3.6.1.5.5.7.21.1'))),
        });
      },
    },
    {
      name: 'ext:proxy-cert-info-malformed@leaf',
      apply: push('leaf', extOids.proxyCertInfo, false, encode.garbage()),
    },
    {
      name: 'ext:ip-addr-blocks@leaf',
      apply: push(
        'leaf',
        extOids.ipAddrBlocks,
        false,
        seq(seq(tlv(0x04, Uint8Array.of(0, 1)), seq(tlv(0x03, Uint8Array.of(0x00, 0x0a))))),
      ),
    },
    {
      name: 'ext:ip-addr-blocks-malformed@leaf',
      apply: push('leaf', extOids.ipAddrBlocks, false, encode.garbage()),
    },
    {
      name: 'ext:as-ids-malformed@leaf',
      apply: push('leaf', extOids.autonomousSysIds, false, encode.garbage()),
    },
    {
      name: 'ext:aia-malformed@leaf',
      apply: push('leaf', extOids.authorityInfoAccess, false, encode.garbage()),
    },
    {
      name: 'ext:ian-malformed@leaf',
      apply: push('leaf', extOids.issuerAltName, false, encode.garbage()),
    },
    // Netscape certificate type: OpenSSL's sslclient purpose reads it (bit 0 SSL client).
    {
      name: 'ext:nscerttype-sslclient@leaf',
      apply: push('leaf', extOids.netscapeCertType, false, encode.keyUsage([0])),
    },
    {
      name: 'ext:nscerttype-sslserver@leaf',
      apply: push('leaf', extOids.netscapeCertType, false, encode.keyUsage([1])),
    },
    {
      name: 'ext:nscerttype-objsign@leaf',
      apply: push('leaf', extOids.netscapeCertType, false, encode.keyUsage([3])),
    },
    {
      name: 'ext:nscerttype-critical-sslclient@leaf',
      apply: push('leaf', extOids.netscapeCertType, true, encode.keyUsage([0])),
    },
    {
      name: 'ext:nscerttype-malformed@leaf',
      apply: push('leaf', extOids.netscapeCertType, false, encode.garbage()),
    },
    {
      name: 'ext:nscerttype-objsign-ca@ca',
      apply: push('ca', extOids.netscapeCertType, false, encode.keyUsage([7])),
    },
    {
      name: 'ext:nscerttype-malformed@ca',
      apply: push('ca', extOids.netscapeCertType, false, encode.garbage()),
    },
    // Key identifiers with the issuer-and-serial form.
    aki('issuer-serial-ok', 'leaf', (issuer) =>
      akiValue(keyIdOf(issuer.key.spki), issuer.issuer, issuer.serial),
    ),
    aki('serial-mismatch', 'leaf', (issuer) =>
      akiValue(keyIdOf(issuer.key.spki), issuer.issuer, otherSerial),
    ),
    aki('issuer-mismatch', 'leaf', (issuer) =>
      akiValue(keyIdOf(issuer.key.spki), encode.name('CN=Elsewhere,O=Diff'), issuer.serial),
    ),
    aki('serial-only-mismatch', 'leaf', (issuer) =>
      akiValue(keyIdOf(issuer.key.spki), undefined, otherSerial),
    ),
    aki('issuer-serial-without-keyid', 'leaf', (issuer) =>
      akiValue(undefined, issuer.issuer, issuer.serial),
    ),
    aki('serial-mismatch', 'ca', (issuer) =>
      akiValue(keyIdOf(issuer.key.spki), issuer.issuer, otherSerial),
    ),
    aki('empty', 'leaf', () => seq()),
    {
      name: 'aki:mismatch@root',
      apply: (plan) =>
        setExt(
          roleCert(plan, 'root'),
          oids.authorityKeyIdentifier,
          (ext) => ext && { ...ext, value: encode.authorityKeyIdentifier(Buffer.alloc(20, 0x17)) },
        ),
    },
    {
      name: 'aki:serial-mismatch@root',
      apply: (plan) => {
        const root = roleCert(plan, 'root');
        setExt(
          root,
          oids.authorityKeyIdentifier,
          (ext) =>
            ext && { ...ext, value: akiValue(keyIdOf(root.key.spki), root.issuer, otherSerial) },
        );
      },
    },
    {
      // A multi-valued RDN written in one order in the CA's subject, in the other in the
      // leaf's issuer: the same set (RFC 5280 §7.1), other bytes.
      name: 'name:multi-valued-rdn-reordered',
      apply: (plan) => {
        const ca = roleCert(plan, 'ca');
        const label = `CA ${plan.cas.length - 1} c${plan.id}`;
        ca.subject = encode.name(`CN=${label}+O=Diff`);
        plan.leaf.issuer = encode.name(`O=Diff+CN=${label}`);
      },
    },
    {
      name: 'name:multi-valued-rdn',
      apply: (plan) => {
        const ca = roleCert(plan, 'ca');
        ca.subject = encode.name(`CN=CA ${plan.cas.length - 1} c${plan.id}+O=Diff`);
        plan.leaf.issuer = ca.subject;
      },
    },
    {
      // A key-rollover certificate: the root's name, a new key, signed by the root, and a root
      // pathLenConstraint that only holds when self-issued intermediates are not counted (RFC
      // 5280 §6.1.4 (l)).
      name: 'shape:self-issued-intermediate-root-pathlen',
      apply: (plan) => {
        const root = plan.cas[0] as CertOptions;
        const first = plan.cas[1] as CertOptions;
        const old = first.subject;
        first.subject = root.subject;
        for (const cert of [...plan.cas.slice(2), plan.leaf]) {
          if (Buffer.compare(cert.issuer, old) === 0) cert.issuer = root.subject;
        }
        setExt(root, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: encode.basicConstraints(true, plan.cas.length - 2),
        }));
      },
    },
    {
      // The leaf's issuing intermediate configured as the trust anchor (no root at all).
      name: 'anchor:intermediate',
      apply: (plan) => {
        plan.anchors = (built) => [built.cas[built.cas.length - 1] as Built];
        plan.sent = () => [];
      },
    },
  ];
}

function constraintMutations2(): Mutation[] {
  const constrained = (
    name: string,
    options: {
      permitted?: string[];
      excluded?: string[];
      names?: string[];
      subject?: (id: string) => string;
      subjectDer?: (id: string) => Uint8Array;
      on?: 'ca' | 'root';
      raw?: Uint8Array;
    },
  ): Mutation => ({
    name: `nc:${name}`,
    apply: (plan) => {
      roleCert(plan, options.on ?? 'ca').extensions.push({
        oid: oids.nameConstraints,
        critical: true,
        value:
          options.raw ?? encode.nameConstraints(options.permitted ?? [], options.excluded ?? []),
      });
      if (options.names !== undefined)
        setExt(plan.leaf, oids.subjectAltName, () => ({
          oid: oids.subjectAltName,
          critical: false,
          value: encode.generalNames(options.names as string[]),
        }));
      if (options.subject !== undefined) plan.leaf.subject = encode.name(options.subject(plan.id));
      if (options.subjectDer !== undefined)
        plan.leaf.subject = Buffer.from(options.subjectDer(plan.id));
    },
  });
  return [
    constrained('uri-excluded', {
      excluded: ['uri:.bad.test'],
      names: ['uri:https://x.bad.test/'],
    }),
    constrained('uri-excluded-urn', { excluded: ['uri:.bad.test'], names: ['uri:urn:diff:x'] }),
    constrained('uri-permitted-urn', { permitted: ['uri:diff.test'], names: ['uri:urn:diff:x'] }),
    constrained('uri-permitted-ok', {
      permitted: ['uri:.diff.test'],
      names: ['uri:https://a.diff.test/x'],
    }),
    constrained('uri-permitted-port', {
      permitted: ['uri:diff.test'],
      names: ['uri:https://diff.test:8443/a'],
    }),
    constrained('uri-permitted-userinfo', {
      permitted: ['uri:diff.test'],
      names: ['uri:https://evil.test@diff.test/'],
    }),
    constrained('uri-excluded-userinfo', {
      excluded: ['uri:bad.test'],
      names: ['uri:https://evil@bad.test/'],
    }),
    constrained('uri-permitted-percent', {
      permitted: ['uri:diff.test'],
      names: ['uri:https://diff%2etest/'],
    }),
    constrained('uri-excluded-percent', {
      excluded: ['uri:bad.test'],
      names: ['uri:https://bad%2etest/'],
    }),
    constrained('uri-permitted-query', {
      permitted: ['uri:diff.test'],
      names: ['uri:https://diff.test?x=1'],
    }),
    constrained('uri-excluded-uppercase', {
      excluded: ['uri:bad.test'],
      names: ['uri:https://BAD.test/'],
    }),
    constrained('email-excluded', { excluded: ['email:bad.test'], names: ['email:a@bad.test'] }),
    constrained('email-excluded-subdomain', {
      excluded: ['email:.bad.test'],
      names: ['email:a@x.bad.test'],
    }),
    constrained('email-excluded-at-host', {
      excluded: ['email:@bad.test'],
      names: ['email:a@bad.test'],
    }),
    constrained('email-permitted-at-host', {
      permitted: ['email:@diff.test'],
      names: ['email:a@diff.test'],
    }),
    constrained('email-mailbox-case', {
      permitted: ['email:a@diff.test'],
      names: ['email:A@diff.test'],
    }),
    constrained('email-subject-outside', {
      permitted: ['email:diff.test'],
      names: ['dns:a.diff.test'],
      subject: (id) => `CN=leaf c${id},O=Diff,emailAddress=a@other.test`,
    }),
    constrained('email-subject-excluded', {
      excluded: ['email:bad.test'],
      names: ['dns:a.diff.test'],
      subject: (id) => `CN=leaf c${id},O=Diff,emailAddress=a@bad.test`,
    }),
    constrained('email-subject-utf8', {
      permitted: ['dns:diff.test'],
      names: ['dns:a.diff.test'],
      // emailAddress as a UTF8String (dev-ca writes IA5String, as RFC 5280 Appendix A wants).
      subjectDer: (id) =>
        seq(
          set(seq(oid('2.5.4.10'), utf8('Diff'))),
          set(seq(oid('2.5.4.3'), utf8(`leaf c${id}`))),
          set(seq(oid('1.2.840.113549.1.9.1'), utf8('a@diff.test'))),
        ),
    }),
    constrained('dn-excluded', { excluded: ['dn:O=Diff'] }),
    constrained('dn-permitted-ok', { permitted: ['dn:O=Diff'] }),
    constrained('dn-permitted-case', { permitted: ['dn:O=DIFF'] }),
    constrained('cn-hostname-outside', {
      permitted: ['dns:diff.test'],
      names: ['uri:spiffe://diff.test/cn'],
      subject: (id) => `CN=c${id}.other.test,O=Diff`,
    }),
    constrained('cn-hostname-inside', {
      permitted: ['dns:diff.test'],
      names: ['uri:spiffe://diff.test/cn'],
      subject: (id) => `CN=c${id}.diff.test,O=Diff`,
    }),
    constrained('cn-hostname-excluded', {
      excluded: ['dns:bad.test'],
      names: ['uri:spiffe://diff.test/cn'],
      subject: (id) => `CN=c${id}.bad.test,O=Diff`,
    }),
    constrained('cn-hostname-with-dns-san', {
      permitted: ['dns:diff.test'],
      names: ['dns:a.diff.test'],
      subject: (id) => `CN=c${id}.other.test,O=Diff`,
    }),
    constrained('cn-hostname-underscore', {
      permitted: ['dns:diff.test'],
      names: ['uri:spiffe://diff.test/cn'],
      subject: (id) => `CN=c_${id}.other.test,O=Diff`,
    }),
    constrained('cn-not-hostname', {
      permitted: ['dns:diff.test'],
      names: ['uri:spiffe://diff.test/cn'],
      subject: (id) => `CN=leaf c${id} other.test,O=Diff`,
    }),
    constrained('ip-excluded', { excluded: ['ip:7f000000ff000000'], names: ['ip:7f000001'] }),
    constrained('ip-constraint-4-octets-excluded', {
      excluded: ['ip:0a000000'],
      names: ['ip:7f000001'],
    }),
    constrained('ip-constraint-4-octets-no-ip', {
      excluded: ['ip:0a000000'],
      names: ['dns:a.diff.test'],
    }),
    constrained('ip-mask-noncontiguous', {
      permitted: ['ip:7f000000ff00ff00'],
      names: ['ip:7f000001'],
    }),
    constrained('ip-v6-constraint-v4-name', {
      permitted: [`ip:${'00'.repeat(16)}${'ff'.repeat(12)}${'00'.repeat(4)}`],
      names: ['ip:7f000001'],
    }),
    constrained('ip-san-5-octets-excluded', {
      excluded: ['ip:0a000000ff000000'],
      names: ['ip:7f00000101'],
    }),
    constrained('dns-trailing-dot-excluded', {
      excluded: ['dns:bad.test'],
      names: ['dns:x.bad.test.'],
    }),
    constrained('dns-trailing-dot-permitted', {
      permitted: ['dns:diff.test'],
      names: ['dns:x.diff.test.'],
    }),
    constrained('dns-excluded-case', { excluded: ['dns:bad.test'], names: ['dns:X.BAD.test'] }),
    constrained('dns-permitted-suffix-not-label', {
      permitted: ['dns:diff.test'],
      names: ['dns:adiff.test'],
    }),
    constrained('on-root-violation', {
      on: 'root',
      permitted: ['dns:other.test'],
      names: ['dns:a.diff.test'],
    }),
    constrained('minimum-1', {
      raw: seq(ctx(0, seq(tlv(0x82, Buffer.from('diff.test')), tlv(0x80, Uint8Array.of(1))))),
      names: ['dns:a.diff.test'],
    }),
    constrained('maximum-present', {
      raw: seq(ctx(0, seq(tlv(0x82, Buffer.from('diff.test')), tlv(0x81, Uint8Array.of(1))))),
      names: ['dns:a.diff.test'],
    }),
    {
      name: 'nc:on-root-cn-outside',
      apply: (plan) => {
        roleCert(plan, 'root').extensions.push({
          oid: oids.nameConstraints,
          critical: true,
          value: encode.nameConstraints(['dns:diff.test']),
        });
        setExt(plan.leaf, oids.subjectAltName, () => ({
          oid: oids.subjectAltName,
          critical: false,
          value: encode.generalNames([`uri:spiffe://diff.test/c${plan.id}`]),
        }));
        plan.leaf.subject = encode.name(`CN=c${plan.id}.other.test,O=Diff`);
      },
    },
  ];
}

/** Every mutation, in a fixed order. */
export function allMutations(): Mutation[] {
  return [
    { name: 'control:good', apply: () => undefined },
    ...extensionMutations(),
    ...usageMutations(),
    ...nameMutations(),
    ...keyMutations(),
    ...validityMutations(),
    ...shapeMutations(),
    ...crlMutations(),
    ...rawMutations(),
    ...extensionMutations2(),
    ...constraintMutations2(),
    ...round22Mutations(),
  ];
}

/**
 * Generates `count` cases (at least one per mutation): each mutation in turn on a fresh random
 * base chain, round after round. `only` (name prefixes) narrows the catalogue while developing.
 */
export function generateCases(
  seed: number,
  count: number,
  pool: KeyPool,
  now: Date,
  only: readonly string[] = [],
): DiffCase[] {
  const rng = prng(seed);
  const mutations = allMutations().filter(
    (mutation) =>
      only.length === 0 ||
      mutation.name === 'control:good' ||
      only.some((prefix) => mutation.name.startsWith(prefix)),
  );
  const cases: DiffCase[] = [];
  while (cases.length < Math.max(count, mutations.length)) {
    for (const mutation of mutations) {
      if (cases.length >= Math.max(count, mutations.length)) break;
      const id = `${cases.length}`;
      const depth = Math.max(
        mutation.minDepth ?? 1,
        Math.floor(rng() * 3) + (mutation.minDepth === 0 ? 0 : 1),
      );
      const plan = basePlan(
        id,
        rng,
        pool,
        now,
        mutation.name === 'shape:intermediates-0' ? 0 : depth,
      );
      if (mutation.crl === true) withCrls(plan);
      mutation.apply(plan, rng, pool);
      cases.push(realize(plan, mutation.name));
    }
  }
  return cases;
}
