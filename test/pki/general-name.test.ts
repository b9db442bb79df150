/**
 * The GeneralName forms Tollgate does not use (src/pki/general-name.ts) are decoded as far as
 * OpenSSL decodes them, and an SmtpUTF8Mailbox is held to rfc822Name constraints (RFC 9598 §6).
 * Round 22 of the differential test found OpenSSL refusing certificates whose SAN held a
 * malformed otherName, registeredID or ediPartyName, and an SmtpUTF8Mailbox inside an excluded
 * email subtree, all of which Tollgate accepted; these pin the fixes. The chains are built with
 * the differential test's builder (the dev CA's profile) and run through a real TrustStore.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseExtensions } from '../../src/pki/index.js';
import { ctx, ctxPrimitive, extension, int, oid, seq, utf8 } from './der-builder.js';
import { keyEntry, oids } from './differential/builder.js';
import { basePlan, type KeyPool, prng, realize, setExt } from './differential/cases.js';
import { tollgateVerdict } from './differential/tollgate.js';

const smtpUtf8 = (value: Uint8Array) => ctx(0, oid('1.3.6.1.5.5.7.8.9'), ctx(0, value));
const dns = ctxPrimitive(2, Buffer.from('a.diff.test'));
const sanExtensions = (...names: Uint8Array[]) =>
  parseExtensions(seq(extension(oids.subjectAltName, seq(...names))));

function smallPool(): KeyPool {
  const good = [0, 1, 2, 3].map((index) =>
    keyEntry(`p256-${index}`, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey),
  );
  return { good, byName: new Map(good.map((key) => [key.name, key])) };
}

describe('GeneralName decoding', () => {
  it.each([
    ['an otherName whose type-id is not an OID', ctx(0, int(5), ctx(0, utf8('x')))],
    ['an otherName without a value', ctx(0, oid('1.3.6.1.4.1.311.20.2.3'))],
    ['an otherName value not in [0]', ctx(0, oid('1.3.6.1.4.1.311.20.2.3'), utf8('x@y.test'))],
    ['an empty registeredID', ctxPrimitive(8)],
    ['a truncated registeredID', ctxPrimitive(8, Uint8Array.of(0x2b, 0x86))],
    ['an ediPartyName without partyName', ctx(5)],
    ['an ediPartyName of an INTEGER', ctx(5, int(1))],
    ['an ediPartyName whose partyName is not a DirectoryString', ctx(5, ctx(1, int(1)))],
  ])('refuses %s', (_what, name) => {
    expect(() => sanExtensions(dns, name)).toThrow();
  });

  it('reads well-formed forms, and the mailbox of a UTF8String SmtpUTF8Mailbox only', () => {
    const names = sanExtensions(
      ctx(0, oid('1.3.6.1.4.1.311.20.2.3'), ctx(0, utf8('u@corp.test'))),
      smtpUtf8(utf8('a@diff.test')),
      smtpUtf8(int(7)),
      ctxPrimitive(8, oid('1.3.6.1.4.1.55555.4.1').subarray(2)),
      ctx(5, ctx(0, utf8('assigner')), ctx(1, utf8('party'))),
    ).subjectAltName;
    expect(names).toEqual([
      { type: 'other', tag: 0, typeId: '1.3.6.1.4.1.311.20.2.3' },
      { type: 'other', tag: 0, typeId: '1.3.6.1.5.5.7.8.9', mailbox: 'a@diff.test' },
      { type: 'other', tag: 0, typeId: '1.3.6.1.5.5.7.8.9' },
      { type: 'other', tag: 8 },
      { type: 'other', tag: 5 },
    ]);
  });
});

describe('an SmtpUTF8Mailbox under rfc822Name constraints', () => {
  const pool = smallPool();
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const verdict = (constraints: Uint8Array, mailbox: Uint8Array) => {
    const plan = basePlan('g1', prng(22), pool, now, 1);
    plan.cas[1]?.extensions.push({ oid: oids.nameConstraints, critical: true, value: constraints });
    setExt(plan.leaf, oids.subjectAltName, () => ({
      oid: oids.subjectAltName,
      critical: false,
      value: seq(dns, smtpUtf8(mailbox)),
    }));
    return tollgateVerdict(realize(plan, 'general-name'), now);
  };
  const excludedBad = seq(ctx(1, seq(ctxPrimitive(1, Buffer.from('bad.test')))));
  const permittedDiff = seq(ctx(0, seq(ctxPrimitive(1, Buffer.from('diff.test')))));
  const permittedDns = seq(ctx(0, seq(ctxPrimitive(2, Buffer.from('diff.test')))));

  it('is refused inside an excluded subtree and outside the permitted ones', () => {
    expect(verdict(excludedBad, utf8('a@bad.test')).reason).toMatch(
      /name_constraints: .*"a@bad\.test" is inside an excluded subtree/,
    );
    expect(verdict(permittedDiff, utf8('a@other.test')).reason).toMatch(
      /"a@other\.test" is outside the permitted subtrees/,
    );
  });

  it('is accepted inside the permitted subtree, and under constraints of other forms', () => {
    expect(verdict(permittedDiff, utf8('a@diff.test'))).toEqual({ ok: true, reason: 'ok' });
    expect(verdict(permittedDns, utf8('ü@other.test'))).toEqual({ ok: true, reason: 'ok' });
  });

  it('is refused under an email constraint when it cannot be compared', () => {
    expect(verdict(permittedDiff, utf8('ü@diff.test')).reason).toMatch(
      /SmtpUTF8Mailbox that cannot be compared is constrained but cannot be checked/,
    );
    expect(verdict(permittedDiff, int(7)).reason).toMatch(
      /SmtpUTF8Mailbox that cannot be compared/,
    );
  });
});
