/**
 * parseExtensions: a DER Extensions SEQUENCE on its own (what a PKCS#10 extensionRequest holds),
 * read by the same rules as a certificate's extensions.
 */
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { describe, expect, it } from 'vitest';
import { parseExtensions } from '../../src/pki/index.js';

const encode = (...extensions: pkijs.Extension[]): Uint8Array =>
  new Uint8Array(new pkijs.Extensions({ extensions }).toSchema().toBER(false));

const extension = (extnID: string, value: asn1js.BaseBlock, critical = false) =>
  new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });

const caTrue = extension(
  pkijs.id_BasicConstraints,
  new pkijs.BasicConstraints({ cA: true }).toSchema(),
  true,
);
const sans = extension(
  pkijs.id_SubjectAltName,
  new pkijs.AltName({
    altNames: [
      new pkijs.GeneralName({ type: 2, value: 'svc.test' }),
      new pkijs.GeneralName({
        type: 7,
        value: new asn1js.OctetString({ valueHex: Uint8Array.of(127, 0, 0, 1) }),
      }),
    ],
  }).toSchema(),
);

describe('parseExtensions', () => {
  it('reads basic constraints, SANs and EKU as a certificate would carry them', () => {
    const eku = extension(
      pkijs.id_ExtKeyUsage,
      new pkijs.ExtKeyUsage({ keyPurposes: ['1.3.6.1.5.5.7.3.2'] }).toSchema(),
    );
    const parsed = parseExtensions(encode(caTrue, sans, eku));
    expect(parsed.basicConstraints).toEqual({ cA: true, pathLenConstraint: undefined });
    expect(parsed.subjectAltName).toEqual([
      { type: 'dns', value: 'svc.test' },
      { type: 'ip', bytes: Uint8Array.of(127, 0, 0, 1) },
    ]);
    expect(parsed.extKeyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(parsed.critical).toEqual(new Set([pkijs.id_BasicConstraints]));
  });

  it('refuses a duplicate extension, an empty SEQUENCE and a malformed value', () => {
    expect(() => parseExtensions(encode(sans, sans))).toThrow(/duplicate extension/);
    expect(() => parseExtensions(Uint8Array.of(0x30, 0x00))).toThrow(/empty Extensions/);
    const broken = extension(pkijs.id_SubjectAltName, new asn1js.Null());
    expect(() => parseExtensions(encode(broken))).toThrow();
  });
});
