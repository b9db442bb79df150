/**
 * Round 22 of the differential catalogue: the classes rounds 13 and 19 left out. Leaf public
 * keys no CA would sign (RSA exponent 1 or even, even moduli, odd and huge sizes, EC points off
 * the curve, at infinity, compressed or hybrid, EdDSA keys with parameters or the wrong length,
 * X25519, unknown algorithms) and keys real CAs use (RSASSA-PSS keys with and without
 * parameters, brainpool, compressed points); signature algorithm parameters (RSA without NULL or
 * with an INTEGER, EdDSA with NULL, ECDSA-SHA224, RSA-PSS SHA-384/SHA-512 and without
 * parameters, PSS on an intermediate); time edges (the UTCTime century switch, GeneralizedTime
 * before 1950, 9999-12-31, leap seconds, lower-case `z`, a lower intermediate expired); key
 * usage encodings (two octets, empty, padding bits, trailing zero octets); EKU and key usage on
 * lower intermediates; the policy extensions malformed or odd when not critical; the
 * GeneralName forms Tollgate does not use (otherName, SmtpUTF8Mailbox, x400Address,
 * ediPartyName, registeredID) well-formed and malformed, alone and under name constraints;
 * more name-constraint forms (empty bases, directoryName SANs, empty subjects, constraints on
 * a lower intermediate's subject); BER and string encodings in places round 19 did not touch
 * (outer SEQUENCE, TBS, extension values, names, invalid UTF-8, odd BMPString); cross-certified
 * loops and re-issued intermediates; and whole certificate profiles of real issuers (Go's
 * crypto/x509 as step-ca and cert-manager use it, SPIRE, AWS Private CA, Windows AD CS, a
 * Let's Encrypt-style chain).
 */
import { generateKeyPairSync } from 'node:crypto';
import {
  bits,
  childrenOf,
  ctx,
  ctxPrimitive,
  int,
  nul,
  oid,
  seq,
  set,
  tlv,
  utf8,
} from '../der-builder.js';
import {
  buildCert,
  type CertOptions,
  type Ext,
  encode,
  type KeyEntry,
  keyEntry,
  keyIdOf,
  oids,
  type SignatureVariant,
} from './builder.js';
import {
  caExtensions,
  day,
  extOids,
  hour,
  type KeyPool,
  leafIssuerKeyType,
  type Mutation,
  type Plan,
  type Rng,
  type Role,
  roleCert,
  setExt,
  splitTlv,
  tbsIndex,
  timeText,
  timeTlv,
  useKey,
} from './cases.js';

const algorithmOids = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
  p256: '1.2.840.10045.3.1.7',
  ed25519: '1.3.101.112',
  x25519: '1.3.101.110',
} as const;

const msOids = {
  upn: '1.3.6.1.4.1.311.20.2.3',
  templateName: '1.3.6.1.4.1.311.20.2',
  templateV2: '1.3.6.1.4.1.311.21.7',
  applicationPolicies: '1.3.6.1.4.1.311.21.10',
  caVersion: '1.3.6.1.4.1.311.21.1',
  efs: '1.3.6.1.4.1.311.10.3.4',
  smimeCapabilities: '1.2.840.113549.1.9.15',
  smtpUtf8Mailbox: '1.3.6.1.5.5.7.8.9',
  sctList: '1.3.6.1.4.1.11129.2.4.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
} as const;

/** Every round-22 mutation, in a fixed order. */
export function round22Mutations(): Mutation[] {
  return [
    ...spkiMutations(),
    ...caKeyMutations(),
    ...algorithmMutations(),
    ...timeMutations(),
    ...usageMutations(),
    ...policyMutations(),
    ...generalNameMutations(),
    ...constraintMutations(),
    ...encodingMutations(),
    ...loopMutations(),
    ...profileMutations(),
    ...crlMutations(),
    ...issuerNameMutations(),
  ];
}

// ---------------------------------------------------------------------------------------------
// Name chaining: the leaf's issuer written with other string types, spaces and case than the
// CA's subject (UTF8String), which RFC 5280 §7.1 compares after RFC 4518 preparation and OpenSSL
// after its own canonical form

function issuerNameMutations(): Mutation[] {
  const rdn = (type: string, tag: number, value: Uint8Array) =>
    set(seq(oid(type), tlv(tag, value)));
  const utf16 = (text: string) => Buffer.from(text, 'utf16le').swap16();
  const utf32 = (text: string) =>
    Buffer.concat(
      [...text].map((char) => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(char.codePointAt(0) as number);
        return out;
      }),
    );
  const issuer = (name: string, build: (cn: string) => Uint8Array): Mutation => ({
    name: `name:issuer-${name}`,
    apply: (plan) => {
      plan.leaf.issuer = Buffer.from(build(`CA ${plan.cas.length - 1} c${plan.id}`));
    },
  });
  const both = (tag: number, encode: (text: string) => Uint8Array) => (cn: string) =>
    seq(rdn('2.5.4.10', tag, encode('Diff')), rdn('2.5.4.3', tag, encode(cn)));
  const ascii = (text: string) => Buffer.from(text, 'latin1');
  return [
    issuer('printablestring', both(0x13, ascii)),
    issuer('teletexstring', both(0x14, ascii)),
    issuer('bmpstring', both(0x1e, utf16)),
    issuer('universalstring', both(0x1c, utf32)),
    issuer('ia5string', both(0x16, ascii)),
    issuer('double-inner-space', (cn) => both(0x0c, ascii)(cn.replace(' ', '  '))),
    issuer('edge-spaces', (cn) => both(0x0c, ascii)(` ${cn} `)),
    issuer('upper-case-printable', (cn) => both(0x13, ascii)(cn.toUpperCase())),
    issuer('tab-for-space', (cn) => both(0x0c, ascii)(cn.replace(' ', '\t'))),
    issuer('nbsp-for-space', (cn) =>
      both(0x0c, (text) => Buffer.from(text))(cn.replace(' ', '\u00a0')),
    ),
    issuer('rdn-order-swapped', (cn) =>
      seq(rdn('2.5.4.3', 0x0c, ascii(cn)), rdn('2.5.4.10', 0x0c, ascii('Diff'))),
    ),
    issuer('extra-rdn', (cn) =>
      seq(rdn('2.5.4.6', 0x13, ascii('US')), ...childrenOf(both(0x0c, ascii)(cn))),
    ),
    issuer('one-multi-valued-rdn', (cn) =>
      seq(set(seq(oid('2.5.4.10'), utf8('Diff')), seq(oid('2.5.4.3'), utf8(cn)))),
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// CRL extensions real issuers write (AD CS publishes delta CRLs by default)

function crlMutations(): Mutation[] {
  const onCaCrl = (name: string, extensions: Ext[]): Mutation => ({
    name: `crl:${name}`,
    crl: true,
    apply: (plan) => {
      plan.crls?.[plan.cas.length - 1]?.extensions.push(...extensions);
    },
  });
  return [
    onCaCrl('freshest-crl', [ext('2.5.29.46', crlDp('http://crl.diff.test/delta.crl'))]),
    onCaCrl('adcs-extensions', [
      ext(msOids.caVersion, int(0)),
      // Next CRL Publish (AD CS): a UTCTime.
      ext('1.3.6.1.4.1.311.21.4', timeTlv('utc', '491231235959Z')),
    ]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Leaf public keys: the leaf's key signs nothing on the path, so any SPKI can be put there.

const unsigned = (bytes: Uint8Array) =>
  ((bytes[0] as number) & 0x80) !== 0 ? Uint8Array.from([0, ...bytes]) : bytes;

function bigBytes(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}

/** An odd number of exactly `size` bits from the seeded generator (a modulus nobody factors). */
function randomOdd(rng: Rng, size: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(size / 8));
  for (let index = 0; index < bytes.length; index++) bytes[index] = Math.floor(rng() * 256);
  const topBits = size % 8 === 0 ? 8 : size % 8;
  bytes[0] = ((bytes[0] as number) & ((1 << topBits) - 1)) | (1 << (topBits - 1));
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) | 1;
  return bytes;
}

function rsaSpki(
  modulus: Uint8Array,
  exponent: Uint8Array,
  params: Uint8Array[] = [nul()],
): Buffer {
  return Buffer.from(
    seq(
      seq(oid(algorithmOids.rsaEncryption), ...params),
      bits(0, seq(tlv(0x02, unsigned(modulus)), tlv(0x02, unsigned(exponent)))),
    ),
  );
}

const f4 = Uint8Array.of(0x01, 0x00, 0x01);

/** The uncompressed point of a pool P-256 key. */
const p256Point = (pool: KeyPool) =>
  Uint8Array.from((pool.byName.get('p256-3') as KeyEntry).spki.subarray(-65));

const ecSpki = (params: Uint8Array[], point: Uint8Array) =>
  Buffer.from(seq(seq(oid(algorithmOids.ecPublicKey), ...params), bits(0, point)));

function leafSpki(name: string, make: (rng: Rng, pool: KeyPool) => Buffer): Mutation {
  return {
    name: `spki:${name}@leaf`,
    apply: (plan, rng, pool) => {
      const spki = make(rng, pool);
      plan.leaf.key = keyEntry(`spki:${name}`, plan.leaf.key.privateKey, spki);
      setExt(
        plan.leaf,
        oids.subjectKeyIdentifier,
        (ext) => ext && { ...ext, value: encode.keyIdentifier(keyIdOf(spki)) },
      );
    },
  };
}

function spkiMutations(): Mutation[] {
  return [
    leafSpki('rsa-exponent-1', (rng) => rsaSpki(randomOdd(rng, 2048), Uint8Array.of(1))),
    leafSpki('rsa-exponent-even', (rng) => rsaSpki(randomOdd(rng, 2048), Uint8Array.of(1, 0, 0))),
    leafSpki('rsa-exponent-65-bits', (rng) =>
      rsaSpki(randomOdd(rng, 2048), bigBytes((1n << 64n) + 1n)),
    ),
    leafSpki('rsa-exponent-zero', (rng) => rsaSpki(randomOdd(rng, 2048), Uint8Array.of(0))),
    leafSpki('rsa-exponent-negative', (rng) =>
      Buffer.from(
        seq(
          seq(oid(algorithmOids.rsaEncryption), nul()),
          bits(0, seq(tlv(0x02, unsigned(randomOdd(rng, 2048))), tlv(0x02, Uint8Array.of(0xff)))),
        ),
      ),
    ),
    leafSpki('rsa-modulus-even', (rng) => {
      const modulus = randomOdd(rng, 2048);
      modulus[modulus.length - 1] = (modulus[modulus.length - 1] as number) & 0xfe;
      return rsaSpki(modulus, f4);
    }),
    leafSpki('rsa-2047-bits', (rng) => rsaSpki(randomOdd(rng, 2047), f4)),
    leafSpki('rsa-2056-bits', (rng) => rsaSpki(randomOdd(rng, 2056), f4)),
    leafSpki('rsa-4096-bits', (rng) => rsaSpki(randomOdd(rng, 4096), f4)),
    leafSpki('rsa-8192-bits', (rng) => rsaSpki(randomOdd(rng, 8192), f4)),
    leafSpki('rsa-16384-bits', (rng) => rsaSpki(randomOdd(rng, 16384), f4)),
    leafSpki('rsa-16392-bits', (rng) => rsaSpki(randomOdd(rng, 16392), f4)),
    leafSpki('rsa-modulus-padded', (rng) =>
      Buffer.from(
        seq(
          seq(oid(algorithmOids.rsaEncryption), nul()),
          bits(
            0,
            seq(tlv(0x02, Uint8Array.from([0, 0, ...unsigned(randomOdd(rng, 2048))])), int(65537)),
          ),
        ),
      ),
    ),
    leafSpki('rsa-params-absent', (rng) => rsaSpki(randomOdd(rng, 2048), f4, [])),
    leafSpki('rsa-params-integer', (rng) => rsaSpki(randomOdd(rng, 2048), f4, [int(0)])),
    leafSpki('rsa-key-trailing-data', (rng) =>
      Buffer.from(
        seq(
          seq(oid(algorithmOids.rsaEncryption), nul()),
          bits(0, Uint8Array.from([...seq(tlv(0x02, unsigned(randomOdd(rng, 2048))), int(3)), 0])),
        ),
      ),
    ),
    leafSpki('ec-off-curve', (_rng, pool) => {
      const point = p256Point(pool);
      point[64] = (point[64] as number) ^ 0x01;
      return ecSpki([oid(algorithmOids.p256)], point);
    }),
    leafSpki('ec-x-only-garbage', (_rng, pool) => {
      const point = p256Point(pool);
      const x = point.subarray(1, 33);
      for (let index = 0; index < x.length; index++) x[index] = 0xff;
      return ecSpki([oid(algorithmOids.p256)], Uint8Array.from([0x02, ...x]));
    }),
    leafSpki('ec-infinity', () => ecSpki([oid(algorithmOids.p256)], Uint8Array.of(0))),
    leafSpki('ec-compressed', (_rng, pool) => {
      const point = p256Point(pool);
      return ecSpki(
        [oid(algorithmOids.p256)],
        Uint8Array.from([((point[64] as number) & 1) === 1 ? 3 : 2, ...point.subarray(1, 33)]),
      );
    }),
    leafSpki('ec-hybrid', (_rng, pool) => {
      const point = p256Point(pool);
      point[0] = ((point[64] as number) & 1) === 1 ? 7 : 6;
      return ecSpki([oid(algorithmOids.p256)], point);
    }),
    leafSpki('ec-params-null', (_rng, pool) => ecSpki([nul()], p256Point(pool))),
    leafSpki('ec-params-absent', (_rng, pool) => ecSpki([], p256Point(pool))),
    leafSpki('ec-p256-point-too-long', (_rng, pool) =>
      ecSpki([oid(algorithmOids.p256)], Uint8Array.from([...p256Point(pool), 0])),
    ),
    leafSpki('ed25519-null-params', (_rng, pool) =>
      Buffer.from(
        seq(
          seq(oid(algorithmOids.ed25519), nul()),
          bits(0, (pool.byName.get('ed25519-1') as KeyEntry).spki.subarray(-32)),
        ),
      ),
    ),
    leafSpki('ed25519-31-octets', (_rng, pool) =>
      Buffer.from(
        seq(
          seq(oid(algorithmOids.ed25519)),
          bits(0, (pool.byName.get('ed25519-1') as KeyEntry).spki.subarray(-31)),
        ),
      ),
    ),
    leafSpki('x25519', () =>
      generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'der' }),
    ),
    leafSpki('unknown-algorithm', () =>
      Buffer.from(seq(seq(oid('1.3.6.1.4.1.55555.9.1')), bits(0, new Uint8Array(32).fill(7)))),
    ),
    leafSpki('rsa-pss', (_rng, pool) => (pool.byName.get('rsa-pss') as KeyEntry).spki),
    leafSpki(
      'rsa-pss-restricted',
      (_rng, pool) => (pool.byName.get('rsa-pss-restricted') as KeyEntry).spki,
    ),
    leafSpki(
      'p256-compressed',
      (_rng, pool) => (pool.byName.get('p256-compressed') as KeyEntry).spki,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Keys real CAs use, on intermediates and roots

function caKeyMutations(): Mutation[] {
  const list: Mutation[] = [];
  for (const name of ['rsa-pss', 'rsa-pss-restricted', 'p256-compressed', 'brainpoolP256r1']) {
    for (const role of ['ca', 'root'] as const) {
      list.push({
        name: `key:${name}@${role}`,
        apply: (plan, _rng, pool) => useKey(plan, role, pool.byName.get(name) as KeyEntry, pool),
      });
    }
  }
  return list;
}

// ---------------------------------------------------------------------------------------------
// Signature algorithm identifiers

function algorithmMutations(): Mutation[] {
  const onLeaf = (
    name: string,
    variant: SignatureVariant,
    issuerType: 'rsa' | 'ec' | 'ed25519',
  ): Mutation => ({
    name: `alg:${name}@leaf`,
    apply: (plan, _rng, pool) => {
      if (issuerType === 'ed25519') {
        const top = roleCert(plan, 'ca');
        if (top.key.privateKey.asymmetricKeyType !== 'ed25519') {
          useKey(
            plan,
            plan.cas.length === 1 ? 'root' : 'ca',
            pool.byName.get(
              plan.leaf.key.name === 'ed25519-0' ? 'ed25519-1' : 'ed25519-0',
            ) as KeyEntry,
            pool,
          );
        }
      } else leafIssuerKeyType(plan, pool, issuerType);
      plan.leaf.signature = variant;
    },
  });
  return [
    onLeaf('rsa-params-absent', 'rsa-params-absent', 'rsa'),
    onLeaf('rsa-params-integer', 'rsa-params-integer', 'rsa'),
    onLeaf('eddsa-null-params', 'eddsa-null-params', 'ed25519'),
    onLeaf('ecdsa-sha224', 'ecdsa-sha224', 'ec'),
    onLeaf('pss-sha384-mgf1-sha256', 'pss-sha384-mgf1-sha256', 'rsa'),
    onLeaf('pss-sha512', 'pss-sha512', 'rsa'),
    onLeaf('pss-no-params', 'pss-no-params', 'rsa'),
    {
      // An intermediate signed by an RSA root with RSASSA-PSS.
      name: 'alg:pss-sha256@ca',
      apply: (plan, _rng, pool) => {
        const root = plan.cas[0] as CertOptions;
        if (root.key.privateKey.asymmetricKeyType !== 'rsa')
          useKey(plan, 'root', pool.byName.get('rsa3072') as KeyEntry, pool);
        roleCert(plan, 'ca').signature = 'pss-sha256';
      },
    },
    {
      name: 'alg:rsa-params-absent@ca',
      apply: (plan, _rng, pool) => {
        const root = plan.cas[0] as CertOptions;
        if (root.key.privateKey.asymmetricKeyType !== 'rsa')
          useKey(plan, 'root', pool.byName.get('rsa3072') as KeyEntry, pool);
        roleCert(plan, 'ca').signature = 'rsa-params-absent';
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Validity

function withValidity(
  fields: Uint8Array[],
  notBefore: Uint8Array | undefined,
  notAfter: Uint8Array | undefined,
): Uint8Array[] {
  const index = tbsIndex(fields, 'validity');
  const [before, after] = childrenOf(fields[index] as Uint8Array) as [Uint8Array, Uint8Array];
  const next = [...fields];
  next[index] = seq(notBefore ?? before, notAfter ?? after);
  return next;
}

function timeMutations(): Mutation[] {
  const leafTimes = (
    name: string,
    times: (plan: Plan) => { notBefore?: Uint8Array; notAfter?: Uint8Array },
  ): Mutation => ({
    name: `time:${name}@leaf`,
    apply: (plan) => {
      plan.leaf.tbsEdit = (fields) => {
        const { notBefore, notAfter } = times(plan);
        return withValidity(fields, notBefore, notAfter);
      };
    },
  });
  return [
    // UTCTime YY >= 50 is 19YY (RFC 5280 §4.1.2.5.1): 50 is 1950, long expired.
    leafTimes('utc-50-is-1950', () => ({ notAfter: timeTlv('utc', '500101000000Z') })),
    // UTCTime 49 is 2049: not yet valid.
    leafTimes('utc-49-is-2049', () => ({ notBefore: timeTlv('utc', '490101000000Z') })),
    // GeneralizedTime is right before 1950.
    leafTimes('generalized-1949', () => ({
      notBefore: timeTlv('generalized', '19491231235959Z'),
    })),
    // RFC 5280 §4.1.2.5: 99991231235959Z means no well-defined expiration date.
    leafTimes('generalized-9999', () => ({
      notAfter: timeTlv('generalized', '99991231235959Z'),
    })),
    leafTimes('utc-leap-second', (plan) => ({
      notBefore: timeTlv('utc', `${timeText(plan.leaf.notBefore, 'utc').slice(0, 10)}60Z`),
    })),
    leafTimes('utc-hour-24', (plan) => ({
      notBefore: timeTlv('utc', `${timeText(plan.leaf.notBefore, 'utc').slice(0, 6)}240000Z`),
    })),
    leafTimes('utc-lower-case-z', (plan) => ({
      notBefore: timeTlv('utc', timeText(plan.leaf.notBefore, 'utc', { zone: 'z' })),
    })),
    leafTimes('utc-fraction', (plan) => ({
      notBefore: timeTlv('utc', timeText(plan.leaf.notBefore, 'utc', { fraction: '.0' })),
    })),
    leafTimes('generalized-year-0049', (plan) => ({
      notBefore: timeTlv(
        'generalized',
        `0049${timeText(plan.leaf.notBefore, 'generalized').slice(4)}`,
      ),
    })),
    leafTimes('utc-as-printable', (plan) => ({
      notBefore: tlv(0x13, Buffer.from(timeText(plan.leaf.notBefore, 'utc'))),
    })),
    {
      name: 'time:first-ca-expired',
      minDepth: 2,
      apply: (plan) => {
        (plan.cas[1] as CertOptions).notAfter = new Date(plan.now.getTime() - 1000);
      },
    },
    {
      name: 'time:leaf-before-ca',
      apply: (plan) => {
        plan.leaf.notBefore = new Date(roleCert(plan, 'ca').notBefore.getTime() - 10 * day);
      },
    },
    {
      name: 'time:ca-notafter-before-notbefore',
      apply: (plan) => {
        const ca = roleCert(plan, 'ca');
        ca.notBefore = new Date(plan.now.getTime() - hour);
        ca.notAfter = new Date(plan.now.getTime() - 2 * hour);
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Key usage encodings and usages on lower intermediates

function usageMutations(): Mutation[] {
  const rawKu = (name: string, role: Role, value: Uint8Array, critical = true): Mutation => ({
    name: `ku:${name}@${role}`,
    apply: (plan) =>
      setExt(roleCert(plan, role), oids.keyUsage, () => ({
        oid: oids.keyUsage,
        critical,
        value,
      })),
  });
  const firstCa = (name: string, change: (ca: CertOptions) => void): Mutation => ({
    name: `${name}@first-ca`,
    minDepth: 2,
    apply: (plan) => change(plan.cas[1] as CertOptions),
  });
  return [
    // digitalSignature and decipherOnly: two octets (bit 8).
    rawKu('digitalSignature+decipherOnly', 'leaf', bits(7, Uint8Array.of(0x80, 0x80))),
    rawKu('empty', 'leaf', bits(0, new Uint8Array(0))),
    rawKu('trailing-zero-bits', 'leaf', bits(0, Uint8Array.of(0x80))),
    rawKu('trailing-zero-octet', 'leaf', bits(0, Uint8Array.of(0x80, 0x00))),
    rawKu('padding-bit-set', 'leaf', bits(7, Uint8Array.of(0x81))),
    rawKu('encipherOnly', 'leaf', bits(0, Uint8Array.of(0x81))),
    rawKu('keyCertSign-trailing-zero-octet', 'ca', bits(0, Uint8Array.of(0x06, 0x00))),
    rawKu('digitalSignature+keyCertSign+cRLSign', 'ca', encode.keyUsage([0, 5, 6])),
    rawKu('keyCertSign-noncritical', 'ca', encode.keyUsage([5, 6]), false),
    rawKu('keyCertSign-only', 'root', encode.keyUsage([5])),
    firstCa('ku:cRLSign', (ca) =>
      setExt(ca, oids.keyUsage, () => ({
        oid: oids.keyUsage,
        critical: true,
        value: encode.keyUsage([6]),
      })),
    ),
    firstCa('eku:serverAuth', (ca) =>
      ca.extensions.push({
        oid: oids.extKeyUsage,
        critical: false,
        value: encode.extKeyUsage([oids.serverAuth]),
      }),
    ),
    firstCa('bc:not-ca', (ca) =>
      setExt(ca, oids.basicConstraints, () => ({
        oid: oids.basicConstraints,
        critical: true,
        value: encode.basicConstraints(false),
      })),
    ),
    {
      name: 'eku:emailProtection@ca',
      apply: (plan) =>
        roleCert(plan, 'ca').extensions.push({
          oid: oids.extKeyUsage,
          critical: false,
          value: encode.extKeyUsage([msOids.emailProtection]),
        }),
    },
    {
      name: 'eku:clientAuth-twice@leaf',
      apply: (plan) =>
        setExt(plan.leaf, oids.extKeyUsage, () => ({
          oid: oids.extKeyUsage,
          critical: false,
          value: encode.extKeyUsage([oids.clientAuth, oids.clientAuth]),
        })),
    },
    {
      name: 'eku:anyEKU@root',
      apply: (plan) =>
        roleCert(plan, 'root').extensions.push({
          oid: oids.extKeyUsage,
          critical: false,
          value: encode.extKeyUsage([oids.anyExtendedKeyUsage]),
        }),
    },
    {
      // basicConstraints with cA FALSE written out (DER leaves DEFAULT values out).
      name: 'bc:ca-false-explicit@leaf',
      apply: (plan) =>
        setExt(plan.leaf, oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: seq(tlv(0x01, Uint8Array.of(0))),
        })),
    },
    {
      name: 'bc:pathlen-huge@root',
      apply: (plan) =>
        setExt(roleCert(plan, 'root'), oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: seq(
            tlv(0x01, Uint8Array.of(0xff)),
            tlv(0x02, Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 0xff)),
          ),
        })),
    },
    {
      name: 'bc:pathlen-negative@ca',
      apply: (plan) =>
        setExt(roleCert(plan, 'ca'), oids.basicConstraints, () => ({
          oid: oids.basicConstraints,
          critical: true,
          value: seq(tlv(0x01, Uint8Array.of(0xff)), tlv(0x02, Uint8Array.of(0xff))),
        })),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Policy extensions, not critical (critical ones are in rounds 13 and 19)

function policyMutations(): Mutation[] {
  const push = (
    name: string,
    role: Role,
    oidText: string,
    value: Uint8Array,
    critical = false,
  ) => ({
    name: `policy:${name}@${role}`,
    apply: (plan: Plan) => roleCert(plan, role).extensions.push({ oid: oidText, critical, value }),
  });
  const policy = (id: string, ...qualifiers: Uint8Array[]) =>
    seq(oid(id), ...(qualifiers.length === 0 ? [] : [seq(...qualifiers)]));
  const cps = seq(oid('1.3.6.1.5.5.7.2.1'), tlv(0x16, Buffer.from('https://cps.diff.test/')));
  const notice = seq(oid('1.3.6.1.5.5.7.2.2'), seq(utf8('Diff test notice')));
  return [
    push(
      'cps-and-notice',
      'leaf',
      oids.certificatePolicies,
      seq(policy('2.23.140.1.2.1', cps, notice)),
    ),
    push(
      'specific-critical',
      'leaf',
      oids.certificatePolicies,
      seq(policy('1.3.6.1.4.1.55555.3.1')),
      true,
    ),
    push(
      'duplicate-oid',
      'ca',
      oids.certificatePolicies,
      seq(policy('1.3.6.1.4.1.55555.3.1'), policy('1.3.6.1.4.1.55555.3.1')),
    ),
    push('empty-sequence', 'ca', oids.certificatePolicies, seq()),
    push(
      'qualifier-malformed',
      'leaf',
      oids.certificatePolicies,
      seq(policy('2.23.140.1.2.1', seq(oid('1.3.6.1.5.5.7.2.1'), int(5)))),
    ),
    push('constraints-malformed', 'ca', oids.policyConstraints, encode.garbage()),
    push('constraints-empty', 'ca', oids.policyConstraints, seq()),
    push(
      'constraints-require-0',
      'ca',
      oids.policyConstraints,
      seq(ctxPrimitive(0, Uint8Array.of(0))),
    ),
    push('mappings-malformed', 'ca', extOids.policyMappings, encode.garbage()),
    push(
      'mappings-any-policy',
      'ca',
      extOids.policyMappings,
      seq(seq(oid('2.5.29.32.0'), oid('1.3.6.1.4.1.55555.3.1'))),
    ),
    push('inhibit-any-malformed', 'ca', oids.inhibitAnyPolicy, encode.garbage()),
    push('inhibit-any-negative', 'ca', oids.inhibitAnyPolicy, tlv(0x02, Uint8Array.of(0xff))),
  ];
}

// ---------------------------------------------------------------------------------------------
// GeneralName forms Tollgate does not use, and name constraints on them

const otherName = (typeId: string, value: Uint8Array) => ctx(0, oid(typeId), ctx(0, value));
const upn = (text: string) => otherName(msOids.upn, utf8(text));
const smtpUtf8 = (text: string) => otherName(msOids.smtpUtf8Mailbox, utf8(text));
const dnsName = (text: string) => ctxPrimitive(2, Buffer.from(text));
const emailName = (text: string) => ctxPrimitive(1, Buffer.from(text));
const uriName = (text: string) => ctxPrimitive(6, Buffer.from(text));
const registeredId = (dotted: string) => ctxPrimitive(8, oid(dotted).subarray(2));

function rawSan(plan: Plan, names: Uint8Array[], critical = false): void {
  setExt(plan.leaf, oids.subjectAltName, () => ({
    oid: oids.subjectAltName,
    critical,
    value: seq(...names),
  }));
}

function generalNameMutations(): Mutation[] {
  const san = (name: string, names: (plan: Plan) => Uint8Array[], critical = false): Mutation => ({
    name: `san:${name}`,
    apply: (plan) => rawSan(plan, names(plan), critical),
  });
  const dns = (plan: Plan) => dnsName(`c${plan.id}.diff.test`);
  return [
    san('othername-upn', (p) => [dns(p), upn(`c${p.id}@corp.diff.test`)]),
    san(
      'othername-only-empty-subject',
      (p) => {
        p.leaf.subject = Buffer.from([0x30, 0x00]);
        return [upn(`c${p.id}@corp.diff.test`)];
      },
      true,
    ),
    san('othername-smtputf8', (p) => [dns(p), smtpUtf8(`c${p.id}@diff.test`)]),
    san('othername-type-not-oid', (p) => [dns(p), ctx(0, int(5), ctx(0, utf8('x')))]),
    san('othername-no-value', (p) => [dns(p), ctx(0, oid(msOids.upn))]),
    san('othername-value-not-explicit', (p) => [dns(p), ctx(0, oid(msOids.upn), utf8('x@y.test'))]),
    san('othername-upn-not-utf8', (p) => [dns(p), otherName(msOids.upn, int(7))]),
    san('othername-smtputf8-not-utf8', (p) => [dns(p), otherName(msOids.smtpUtf8Mailbox, int(7))]),
    san('registeredid', (p) => [dns(p), registeredId('1.3.6.1.4.1.55555.4.1')]),
    san('registeredid-empty', (p) => [dns(p), ctxPrimitive(8)]),
    san('registeredid-truncated', (p) => [dns(p), ctxPrimitive(8, Uint8Array.of(0x2b, 0x86))]),
    san('x400-address', (p) => [dns(p), ctx(3, seq(tlv(0x61, tlv(0x13, Buffer.from('XX')))))]),
    san('x400-address-garbage', (p) => [dns(p), ctx(3, int(1))]),
    san('edipartyname', (p) => [dns(p), ctx(5, ctx(1, utf8('party')))]),
    san('edipartyname-garbage', (p) => [dns(p), ctx(5, int(1))]),
    san('edipartyname-empty', (p) => [dns(p), ctx(5)]),
    san('dirname-empty', (p) => [dns(p), ctx(4, seq())]),
    san('uri-relative', (p) => [dns(p), uriName('diff-relative')]),
    san('ip-empty', (p) => [dns(p), ctxPrimitive(7)]),
    san('email-non-ascii', (p) => [dns(p), ctxPrimitive(1, Buffer.from('ü@diff.test', 'latin1'))]),
    san('dns-idn-a-label', () => [dnsName('xn--bcher-kva.diff.test')]),
    san('dns-254-octets', () => [dnsName(`${'a.'.repeat(125)}diff`)]),
    san('unknown-tag-9', (p) => [dns(p), ctxPrimitive(9, Uint8Array.of(1))]),
    san('dns-constructed', (p) => [dns(p), ctx(2, tlv(0x16, Buffer.from('x.diff.test')))]),
  ];
}

function constraintMutations(): Mutation[] {
  const constrained = (
    name: string,
    subtrees: { permitted?: Uint8Array[]; excluded?: Uint8Array[] },
    names: ((plan: Plan) => Uint8Array[]) | undefined,
    options: { on?: 'ca' | 'root' | 'first-ca'; minDepth?: number; emptySubject?: boolean } = {},
  ): Mutation => ({
    name: `nc:${name}`,
    ...(options.minDepth === undefined ? {} : { minDepth: options.minDepth }),
    apply: (plan) => {
      const target =
        options.on === 'first-ca'
          ? (plan.cas[1] as CertOptions)
          : roleCert(plan, options.on ?? 'ca');
      const subtree = (base: Uint8Array) => seq(base);
      target.extensions.push({
        oid: oids.nameConstraints,
        critical: true,
        value: seq(
          ...(subtrees.permitted === undefined ? [] : [ctx(0, ...subtrees.permitted.map(subtree))]),
          ...(subtrees.excluded === undefined ? [] : [ctx(1, ...subtrees.excluded.map(subtree))]),
        ),
      });
      if (names !== undefined) rawSan(plan, names(plan), options.emptySubject === true);
      if (options.emptySubject === true) plan.leaf.subject = Buffer.from([0x30, 0x00]);
    },
  });
  const dns = (plan: Plan) => dnsName(`c${plan.id}.diff.test`);
  const dirName = (dn: string) => ctx(4, encode.name(dn));
  return [
    constrained('email-excluded-smtputf8', { excluded: [emailName('bad.test')] }, (p) => [
      dns(p),
      smtpUtf8('a@bad.test'),
    ]),
    constrained(
      'email-permitted-smtputf8-outside',
      { permitted: [emailName('diff.test')] },
      (p) => [dns(p), smtpUtf8('a@other.test')],
    ),
    constrained('email-permitted-smtputf8-inside', { permitted: [emailName('diff.test')] }, (p) => [
      dns(p),
      smtpUtf8('a@diff.test'),
    ]),
    constrained('email-excluded-upn', { excluded: [emailName('bad.test')] }, (p) => [
      dns(p),
      upn('a@bad.test'),
    ]),
    constrained('dns-permitted-upn', { permitted: [dnsName('diff.test')] }, (p) => [
      dns(p),
      upn('a@other.test'),
    ]),
    constrained('othername-upn-permitted', { permitted: [upn('@corp.diff.test')] }, (p) => [
      dns(p),
      upn('a@corp.diff.test'),
    ]),
    constrained('othername-upn-permitted-no-upn', { permitted: [upn('@corp.diff.test')] }, (p) => [
      dns(p),
    ]),
    constrained(
      'registeredid-excluded',
      { excluded: [registeredId('1.3.6.1.4.1.55555.4.1')] },
      (p) => [dns(p), registeredId('1.3.6.1.4.1.55555.4.1')],
    ),
    constrained(
      'registeredid-excluded-no-rid',
      { excluded: [registeredId('1.3.6.1.4.1.55555.4.1')] },
      (p) => [dns(p)],
    ),
    constrained(
      'x400-excluded-no-x400',
      { excluded: [ctx(3, seq(tlv(0x61, tlv(0x13, Buffer.from('XX')))))] },
      (p) => [dns(p)],
    ),
    constrained('dns-excluded-empty', { excluded: [dnsName('')] }, (p) => [dns(p)]),
    constrained('dns-permitted-empty', { permitted: [dnsName('')] }, (p) => [dns(p)]),
    constrained('email-permitted-empty', { permitted: [emailName('')] }, (p) => [
      dns(p),
      emailName('a@diff.test'),
    ]),
    constrained(
      'dn-permitted-empty-subject',
      { permitted: [dirName('O=Elsewhere')] },
      (p) => [dns(p)],
      {
        emptySubject: true,
      },
    ),
    constrained('dn-permitted-san-dirname-outside', { permitted: [dirName('O=Diff')] }, (p) => [
      dns(p),
      dirName('CN=x,O=Elsewhere'),
    ]),
    constrained('dn-excluded-san-dirname', { excluded: [dirName('O=Bad')] }, (p) => [
      dns(p),
      dirName('CN=x,O=Bad'),
    ]),
    constrained(
      'ip-v6-permitted-ok',
      {
        permitted: [
          ctxPrimitive(
            7,
            Buffer.from(
              `${'20010db8'}${'00'.repeat(12)}${'ff'.repeat(4)}${'00'.repeat(12)}`,
              'hex',
            ),
          ),
        ],
      },
      (p) => [dns(p), ctxPrimitive(7, Buffer.from(`20010db8${'00'.repeat(11)}01`, 'hex'))],
    ),
    constrained('ip-permitted-any', { permitted: [ctxPrimitive(7, new Uint8Array(8))] }, (p) => [
      dns(p),
      ctxPrimitive(7, Uint8Array.of(10, 1, 2, 3)),
    ]),
    constrained(
      'ip-excluded-v4-mapped-v6',
      { excluded: [ctxPrimitive(7, Uint8Array.of(10, 0, 0, 0, 255, 0, 0, 0))] },
      (p) => [dns(p), ctxPrimitive(7, Buffer.from(`${'00'.repeat(10)}ffff0a010203`, 'hex'))],
    ),
    constrained('uri-permitted-ip-literal', { permitted: [uriName('diff.test')] }, (p) => [
      dns(p),
      uriName('https://[::1]/x'),
    ]),
    constrained('dns-permitted-wildcard', { permitted: [dnsName('diff.test')] }, () => [
      dnsName('*.diff.test'),
    ]),
    constrained('dns-excluded-wildcard-covers', { excluded: [dnsName('x.bad.test')] }, () => [
      dnsName('*.bad.test'),
    ]),
    {
      // An exclusion that hits only a lower intermediate's subject (RFC 5280 §6.1.3 (b): the
      // constraints apply to every certificate below, not only the end entity).
      name: 'nc:excluded-lower-ca-subject',
      minDepth: 2,
      apply: (plan) => {
        const lower = plan.cas[2] as CertOptions;
        (plan.cas[1] as CertOptions).extensions.push({
          oid: oids.nameConstraints,
          critical: true,
          value: seq(ctx(1, seq(ctx(4, lower.subject)))),
        });
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// BER and string encodings in places round 19 left alone

/** The same TLV with a long-form length one octet longer than needed. */
function longForm(bytes: Uint8Array): Uint8Array {
  const { tag, content } = splitTlv(bytes);
  const length = content.length;
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Uint8Array.from([tag, 0x80 | (octets.length + 1), 0, ...octets, ...content]);
}

function indefinite(bytes: Uint8Array): Uint8Array {
  const { tag, content } = splitTlv(bytes);
  return Uint8Array.from([tag, 0x80, ...content, 0, 0]);
}

function replaceName(fields: Uint8Array[], which: 'subject' | 'issuer', name: Uint8Array) {
  const next = [...fields];
  next[tbsIndex(fields, which)] = name;
  return next;
}

/** A Name with the leaf's CN as the given string TLV, O=Diff first. */
const nameWith = (cn: Uint8Array) =>
  seq(tlv(0x31, seq(oid('2.5.4.10'), utf8('Diff'))), tlv(0x31, seq(oid('2.5.4.3'), cn)));

function encodingMutations(): Mutation[] {
  const leafDer = (name: string, edit: (der: Buffer) => Buffer): Mutation => ({
    name: `der:${name}@leaf`,
    apply: (plan) => {
      plan.leaf.derEdit = edit;
    },
  });
  const leafTbs = (name: string, edit: (fields: Uint8Array[], plan: Plan) => Uint8Array[]) => ({
    name: `der:${name}@leaf`,
    apply: (plan: Plan) => {
      plan.leaf.tbsEdit = (fields: Uint8Array[]) => edit(fields, plan);
    },
  });
  const isolatedCa = (name: string, role: 'ca' | 'root', change: (cert: CertOptions) => void) => ({
    name: `der:${name}@${role}`,
    apply: (plan: Plan) => {
      change(roleCert(plan, role));
      plan.isolated = true;
    },
  });
  return [
    leafDer('outer-long-form', (der) => Buffer.from(longForm(der))),
    leafDer('outer-indefinite', (der) => Buffer.from(indefinite(der))),
    leafDer('signature-constructed', (der) => {
      const [tbs, algorithm, signature] = childrenOf(der) as [Uint8Array, Uint8Array, Uint8Array];
      return Buffer.from(seq(tbs, algorithm, tlv(0x23, signature)));
    }),
    leafDer('outer-algorithm-long-form', (der) => {
      const [tbs, algorithm, signature] = childrenOf(der) as [Uint8Array, Uint8Array, Uint8Array];
      return Buffer.from(seq(tbs, longForm(algorithm), signature));
    }),
    {
      name: 'der:tbs-long-form@leaf',
      apply: (plan) => {
        plan.leaf.tbsRawEdit = longForm;
      },
    },
    {
      name: 'der:tbs-indefinite@leaf',
      apply: (plan) => {
        plan.leaf.tbsRawEdit = indefinite;
      },
    },
    {
      name: 'der:ext-value-long-form@leaf',
      apply: (plan) =>
        setExt(
          plan.leaf,
          oids.basicConstraints,
          (ext) => ext && { ...ext, value: longForm(ext.value) },
        ),
    },
    {
      name: 'der:ext-value-trailing-byte@leaf',
      apply: (plan) =>
        setExt(
          plan.leaf,
          oids.keyUsage,
          (ext) => ext && { ...ext, value: Uint8Array.from([...ext.value, 0]) },
        ),
    },
    {
      name: 'der:ext-oid-padded@leaf',
      apply: (plan) => {
        plan.leaf.tbsEdit = (fields) => {
          const index = tbsIndex(fields, 'extensions');
          const list = childrenOf(splitTlv(fields[index] as Uint8Array).content);
          // The unknown extension OID 1.3.6.1.4.1.55555.1.1 with a 0x80 padding octet in an arc.
          const padded = Uint8Array.of(
            0x06,
            0x0b,
            0x2b,
            0x06,
            0x01,
            0x04,
            0x01,
            0x80,
            0x83,
            0xb2,
            0x03,
            0x01,
            0x01,
          );
          const next = [...fields];
          next[index] = ctx(3, seq(...list, seq(padded, tlv(0x04, nul()))));
          return next;
        };
      },
    },
    leafTbs('issuer-long-form', (fields) =>
      replaceName(fields, 'issuer', longForm(fields[tbsIndex(fields, 'issuer')] as Uint8Array)),
    ),
    leafTbs('subject-utf8-invalid', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x0c, Uint8Array.of(0x6c, 0xc3, 0x28, 0x66)))),
    ),
    leafTbs('subject-utf8-overlong', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x0c, Uint8Array.of(0x6c, 0xc0, 0xaf)))),
    ),
    leafTbs('subject-bmp-odd-length', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x1e, Uint8Array.of(0, 0x6c, 0)))),
    ),
    leafTbs('subject-bmp-surrogate', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x1e, Uint8Array.of(0xd8, 0x00, 0, 0x6c)))),
    ),
    leafTbs('subject-universal-bad-length', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x1c, Uint8Array.of(0, 0, 0x6c)))),
    ),
    leafTbs('subject-printable-at-sign', (fields, plan) =>
      replaceName(fields, 'subject', nameWith(tlv(0x13, Buffer.from(`leaf@c${plan.id}`)))),
    ),
    leafTbs('subject-teletex-latin1', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x14, Uint8Array.of(0x6c, 0xe9, 0x61, 0x66)))),
    ),
    leafTbs('subject-ia5-high-byte', (fields) =>
      replaceName(fields, 'subject', nameWith(tlv(0x16, Uint8Array.of(0x6c, 0xe9, 0x61, 0x66)))),
    ),
    leafTbs('subject-nul-in-cn', (fields) =>
      replaceName(fields, 'subject', nameWith(utf8('leaf\u0000.diff.test'))),
    ),
    leafTbs('subject-empty-rdn', (fields) =>
      replaceName(fields, 'subject', seq(tlv(0x31, seq(oid('2.5.4.10'), utf8('Diff'))), tlv(0x31))),
    ),
    leafTbs('algorithm-null-with-content', (fields) => {
      const index = tbsIndex(fields, 'signature');
      const [algorithmOid, params] = childrenOf(fields[index] as Uint8Array);
      if (params === undefined || params[0] !== 0x05) return fields;
      const next = [...fields];
      next[index] = seq(algorithmOid as Uint8Array, tlv(0x05, Uint8Array.of(0)));
      return next;
    }),
    isolatedCa('unique-ids', 'ca', (ca) => {
      ca.tbsEdit = (fields) => {
        const index = tbsIndex(fields, 'extensions');
        return [
          ...fields.slice(0, index),
          tlv(0x81, Uint8Array.of(0x00, 0x01, 0x02)),
          ...fields.slice(index),
        ];
      };
    }),
    isolatedCa('trailing-byte', 'ca', (ca) => {
      ca.derEdit = (der) => Buffer.concat([der, Buffer.of(0)]);
    }),
    isolatedCa('long-form-length', 'root', (root) => {
      root.tbsEdit = (fields) => {
        const index = tbsIndex(fields, 'validity');
        const next = [...fields];
        next[index] = longForm(fields[index] as Uint8Array);
        return next;
      };
    }),
  ];
}

// ---------------------------------------------------------------------------------------------
// Cross-certified loops and re-issued intermediates

function loopMutations(): Mutation[] {
  /** The top CA X, and Y with another key: X certified by Y, Y certified by X (extras 0, 1). */
  const loop = (plan: Plan, pool: KeyPool): void => {
    const x = roleCert(plan, 'ca');
    const yKey = pool.good.find(
      (key) => !plan.cas.some((ca) => ca.key === key) && key !== plan.leaf.key,
    ) as KeyEntry;
    const ySubject = encode.name(`CN=Loop c${plan.id},O=Diff`);
    plan.extras.push(
      () =>
        buildCert(
          {
            ...x,
            issuer: ySubject,
            serial: Uint8Array.of(0x31),
            extensions: caExtensions(x.key, yKey),
          },
          yKey,
        ),
      () =>
        buildCert(
          {
            ...x,
            subject: ySubject,
            issuer: x.subject,
            key: yKey,
            serial: Uint8Array.of(0x32),
            extensions: caExtensions(yKey, x.key),
          },
          x.key,
        ),
    );
  };
  return [
    {
      name: 'loop:no-anchor',
      apply: (plan, _rng, pool) => {
        loop(plan, pool);
        plan.sent = (built) => [...built.extras];
      },
    },
    {
      name: 'loop:with-path-last',
      apply: (plan, _rng, pool) => {
        loop(plan, pool);
        plan.sent = (built) => [...[...built.cas.slice(1)].reverse(), ...built.extras];
      },
    },
    {
      name: 'loop:with-path-first',
      apply: (plan, _rng, pool) => {
        loop(plan, pool);
        plan.sent = (built) => [...built.extras, ...[...built.cas.slice(1)].reverse()];
      },
    },
    {
      // A CA renewal: the same name and key re-issued, the old certificate expired, both sent.
      name: 'shape:expired-reissue-sent-first',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        const signer = (plan.cas[plan.cas.length - 2] ?? plan.cas[0]) as CertOptions;
        if (plan.cas.length === 1) return;
        plan.extras.push(() =>
          buildCert(
            {
              ...top,
              serial: Uint8Array.of(0x41),
              notBefore: new Date(plan.now.getTime() - 60 * day),
              notAfter: new Date(plan.now.getTime() - day),
            },
            signer.key,
          ),
        );
        plan.sent = (built) => [...built.extras, ...[...built.cas.slice(1)].reverse()];
      },
    },
    {
      name: 'shape:leaf-in-chain',
      apply: (plan) => {
        plan.sent = (built) => [built.leaf, ...[...built.cas.slice(1)].reverse()];
      },
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Certificate profiles of real issuers (as documented or observed; see each)

const aia = seq(
  seq(oid('1.3.6.1.5.5.7.48.1'), tlv(0x86, Buffer.from('http://ocsp.diff.test'))),
  seq(oid('1.3.6.1.5.5.7.48.2'), tlv(0x86, Buffer.from('http://ca.diff.test/ca.crt'))),
);
const crlDp = (uri: string) => seq(seq(ctx(0, ctx(0, tlv(0x86, Buffer.from(uri))))));
const ext = (id: string, value: Uint8Array, critical = false): Ext => ({
  oid: id,
  critical,
  value,
});

function profileMutations(): Mutation[] {
  const keyIds = (cert: CertOptions, issuer: CertOptions): Ext[] => [
    ext(oids.subjectKeyIdentifier, encode.keyIdentifier(keyIdOf(cert.key.spki))),
    ext(oids.authorityKeyIdentifier, encode.authorityKeyIdentifier(keyIdOf(issuer.key.spki))),
  ];
  const issuerOf = (plan: Plan, level: number) => plan.cas[Math.max(0, level - 1)] as CertOptions;
  const leafSans = (plan: Plan) =>
    ext(
      oids.subjectAltName,
      encode.generalNames([`dns:c${plan.id}.diff.test`, `uri:spiffe://diff.test/c${plan.id}`]),
    );
  const rsaLeaf = (plan: Plan) => plan.leaf.key.privateKey.asymmetricKeyType === 'rsa';
  return [
    {
      // step-ca's default leaf template (Go crypto/x509): no basicConstraints, KU
      // digitalSignature (+ keyEncipherment for RSA), EKU serverAuth and clientAuth.
      name: 'profile:step-ca-leaf',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        plan.leaf.extensions = [
          ext(oids.keyUsage, encode.keyUsage(rsaLeaf(plan) ? [0, 2] : [0]), true),
          ext(oids.extKeyUsage, encode.extKeyUsage([oids.serverAuth, oids.clientAuth])),
          ...keyIds(plan.leaf, top),
          leafSans(plan),
        ];
        // step-ca intermediates: pathLen 0; root: pathLen 1, no AKI.
        setExt(top, oids.basicConstraints, () =>
          ext(oids.basicConstraints, encode.basicConstraints(true, 0), true),
        );
      },
    },
    {
      // cert-manager (Go crypto/x509): basicConstraints critical and empty, KU critical, EKU
      // clientAuth; an empty subject with a critical SAN when no common name is asked for.
      name: 'profile:cert-manager-leaf-empty-subject',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        plan.leaf.subject = Buffer.from([0x30, 0x00]);
        plan.leaf.extensions = [
          ext(oids.keyUsage, encode.keyUsage(rsaLeaf(plan) ? [0, 2] : [0]), true),
          ext(oids.extKeyUsage, encode.extKeyUsage([oids.clientAuth])),
          ext(oids.basicConstraints, seq(), true),
          ext(oids.authorityKeyIdentifier, encode.authorityKeyIdentifier(keyIdOf(top.key.spki))),
          ext(
            oids.subjectAltName,
            encode.generalNames([`uri:spiffe://diff.test/c${plan.id}`]),
            true,
          ),
        ];
      },
    },
    {
      // SPIRE X509-SVID: KU digitalSignature, keyEncipherment and keyAgreement; EKU serverAuth
      // and clientAuth; the SPIFFE ID as the only SAN; the CAs carry the trust domain as a URI SAN.
      name: 'profile:spire-svid',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        plan.leaf.subject = encode.name(`CN=c${plan.id},O=SPIRE,C=US`);
        plan.leaf.extensions = [
          ext(oids.keyUsage, encode.keyUsage([0, 2, 4]), true),
          ext(oids.extKeyUsage, encode.extKeyUsage([oids.serverAuth, oids.clientAuth])),
          ext(oids.basicConstraints, seq(), true),
          ...keyIds(plan.leaf, top),
          ext(oids.subjectAltName, encode.generalNames([`uri:spiffe://diff.test/c${plan.id}`])),
        ];
        for (const ca of plan.cas) {
          setExt(ca, oids.keyUsage, () => ext(oids.keyUsage, encode.keyUsage([0, 5, 6]), true));
          ca.extensions.push(
            ext(oids.subjectAltName, encode.generalNames(['uri:spiffe://diff.test'])),
          );
        }
      },
    },
    {
      // AWS Private CA EndEntityClientAuthCertificate and SubordinateCACertificate_PathLen0.
      name: 'profile:aws-private-ca',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        plan.leaf.extensions = [
          ext(oids.basicConstraints, seq(), false),
          ext(oids.keyUsage, encode.keyUsage([0]), true),
          ext(oids.extKeyUsage, encode.extKeyUsage([oids.clientAuth])),
          ...keyIds(plan.leaf, top),
          ext(extOids.crlDistributionPoints, crlDp('http://crl.diff.test/pca.crl')),
          leafSans(plan),
        ];
        plan.cas.forEach((ca, level) => {
          if (level === 0) return;
          ca.extensions = [
            ext(
              oids.basicConstraints,
              encode.basicConstraints(true, level === plan.cas.length - 1 ? 0 : undefined),
              true,
            ),
            ext(oids.keyUsage, encode.keyUsage([0, 5, 6]), true),
            ...keyIds(ca, issuerOf(plan, level)),
            ext(extOids.crlDistributionPoints, crlDp('http://crl.diff.test/pca.crl')),
          ];
        });
      },
    },
    {
      // Windows AD CS: a user/machine template leaf (UPN otherName, template and application
      // policy extensions, S/MIME capabilities, LDAP CRL and AIA locations, EKU clientAuth,
      // emailProtection and EFS) under CAs with a non-critical key usage and the CA version.
      name: 'profile:adcs',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        const ldapCrl = crlDp(
          'ldap:///CN=Diff%20CA,CN=CDP,DC=corp,DC=diff,DC=test?certificateRevocationList?base',
        );
        const ldapAia = seq(
          seq(
            oid('1.3.6.1.5.5.7.48.2'),
            tlv(
              0x86,
              Buffer.from('ldap:///CN=Diff%20CA,CN=AIA,DC=corp,DC=diff,DC=test?cACertificate?base'),
            ),
          ),
        );
        plan.leaf.extensions = [
          ext(msOids.templateV2, seq(oid('1.3.6.1.4.1.311.21.8.1.2.3'), int(100), int(5))),
          ext(
            oids.extKeyUsage,
            encode.extKeyUsage([msOids.efs, msOids.emailProtection, oids.clientAuth]),
          ),
          ext(oids.keyUsage, encode.keyUsage([0, 2]), true),
          ext(
            msOids.applicationPolicies,
            seq(seq(oid(msOids.efs)), seq(oid(msOids.emailProtection)), seq(oid(oids.clientAuth))),
          ),
          ext(
            msOids.smimeCapabilities,
            seq(seq(oid('1.2.840.113549.3.2'), int(128)), seq(oid('2.16.840.1.101.3.4.1.42'))),
          ),
          ...keyIds(plan.leaf, top),
          ext(extOids.crlDistributionPoints, ldapCrl),
          ext(extOids.authorityInfoAccess, ldapAia),
          ext(
            oids.subjectAltName,
            seq(upn(`c${plan.id}@corp.diff.test`), emailName(`c${plan.id}@corp.diff.test`)),
          ),
        ];
        plan.cas.forEach((ca, level) => {
          ca.extensions = [
            ext(oids.keyUsage, encode.keyUsage([0, 5, 6]), false),
            ext(oids.basicConstraints, encode.basicConstraints(true), true),
            ext(oids.subjectKeyIdentifier, encode.keyIdentifier(keyIdOf(ca.key.spki))),
            ext(msOids.caVersion, int(0)),
            ...(level === 0
              ? []
              : [
                  ext(
                    msOids.templateName,
                    tlv(0x1e, Buffer.from('\u0000S\u0000u\u0000b\u0000C\u0000A', 'latin1')),
                  ),
                  ext(
                    oids.authorityKeyIdentifier,
                    encode.authorityKeyIdentifier(keyIdOf(issuerOf(plan, level).key.spki)),
                  ),
                  ext(extOids.crlDistributionPoints, ldapCrl),
                  ext(extOids.authorityInfoAccess, ldapAia),
                ]),
          ];
        });
      },
    },
    {
      // A Let's Encrypt-style chain: the leaf with policies, AIA, SCTs; the intermediate with
      // EKU serverAuth and clientAuth, pathLen 0, policies and AIA; the root without EKU.
      name: 'profile:letsencrypt-style',
      apply: (plan) => {
        const top = roleCert(plan, 'ca');
        const dv = seq(seq(oid('2.23.140.1.2.1')));
        plan.leaf.extensions = [
          ext(oids.keyUsage, encode.keyUsage([0]), true),
          ext(oids.extKeyUsage, encode.extKeyUsage([oids.serverAuth, oids.clientAuth])),
          ext(oids.basicConstraints, seq(), true),
          ...keyIds(plan.leaf, top),
          ext(extOids.authorityInfoAccess, aia),
          ext(oids.subjectAltName, encode.generalNames([`dns:c${plan.id}.diff.test`])),
          ext(oids.certificatePolicies, dv),
          ext(extOids.crlDistributionPoints, crlDp('http://crl.diff.test/1.crl')),
          ext(msOids.sctList, tlv(0x04, Uint8Array.of(0, 0))),
        ];
        plan.cas.forEach((ca, level) => {
          if (level === 0) return;
          ca.extensions = [
            ext(oids.keyUsage, encode.keyUsage([0, 5, 6]), true),
            ext(oids.extKeyUsage, encode.extKeyUsage([oids.serverAuth, oids.clientAuth])),
            ext(
              oids.basicConstraints,
              encode.basicConstraints(true, level === plan.cas.length - 1 ? 0 : undefined),
              true,
            ),
            ...keyIds(ca, issuerOf(plan, level)),
            ext(
              extOids.authorityInfoAccess,
              seq(seq(oid('1.3.6.1.5.5.7.48.2'), tlv(0x86, Buffer.from('http://x1.i.diff.test/')))),
            ),
            ext(oids.certificatePolicies, seq(seq(oid('2.5.29.32.0')))),
            ext(extOids.crlDistributionPoints, crlDp('http://x1.c.diff.test/')),
          ];
        });
      },
    },
  ];
}
