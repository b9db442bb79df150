/**
 * The per-name entry points of src/pki/name-constraints.ts: `constrainedNames` lists what chain
 * validation holds to a CA's constraints, `nameViolation` judges one name. The dev CA checks its
 * leaves with them before signing, so it must refuse exactly what validation refuses.
 */
import { describe, expect, it } from 'vitest';
import { createDevCa } from '../../src/dev-ca/index.js';
import {
  constrainedNames,
  type NameConstraints,
  nameViolation,
  parseCertificate,
  parseIpAddress,
} from '../../src/pki/index.js';
import { nameConstraintViolation } from '../../src/pki/name-constraints.js';

const constraints: NameConstraints = {
  permitted: [
    { type: 'dns', value: '.test' },
    { type: 'ip', bytes: Uint8Array.from([127, 0, 0, 0, 255, 0, 0, 0]) },
  ],
  excluded: [{ type: 'dns', value: 'evil.test' }],
};

describe('nameViolation', () => {
  it('judges one name as chain validation does', () => {
    expect(nameViolation(constraints, { type: 'dns', value: 'api.test' })).toBeUndefined();
    expect(nameViolation(constraints, { type: 'dns', value: 'example.com' })).toMatch(
      /outside the permitted subtrees/,
    );
    expect(nameViolation(constraints, { type: 'dns', value: 'www.evil.test' })).toMatch(
      /inside an excluded subtree/,
    );
    // An absolute name compares equal to nothing: refused under a DNS constraint.
    expect(nameViolation(constraints, { type: 'dns', value: 'api.test.' })).toMatch(
      /cannot be checked/,
    );
    expect(
      nameViolation(constraints, { type: 'ip', bytes: parseIpAddress('127.9.9.9') }),
    ).toBeUndefined();
    expect(nameViolation(constraints, { type: 'ip', bytes: parseIpAddress('::1') })).toMatch(
      /iPAddress SAN is outside/,
    );
    // No constraint of the form: permitted (RFC 5280 §4.2.1.10).
    expect(
      nameViolation(constraints, { type: 'uri', value: 'https://a.example/' }),
    ).toBeUndefined();
  });
});

describe('constrainedNames', () => {
  it('lists SANs, the subject and, for a leaf without DNS SANs, a host-like CN', async () => {
    const ca = await createDevCa({ permittedSubtrees: [] });
    const leaf = parseCertificate(
      (await ca.issueClient({ subject: 'CN=svc.example.com,O=Acme', sanIp: ['10.0.0.1'] })).certDer,
    );
    const names = constrainedNames(leaf, true);
    expect(names.map((name) => name.type)).toEqual(['ip', 'directory', 'dns']);
    expect(names[2]).toEqual({ type: 'dns', value: 'svc.example.com' });
    expect(constrainedNames(leaf, false).map((name) => name.type)).toEqual(['ip', 'directory']);
  });

  it('the dev CA refuses a name before signing exactly where validation would refuse it', async () => {
    const ca = await createDevCa();
    // The trailing dot passed the dev CA's old matcher and failed in validation.
    await expect(ca.issueServer({ sans: ['localhost.'] })).rejects.toThrow(
      /localhost\. outside the CA's name constraints/,
    );
    await expect(ca.issueClient({ subject: 'CN=api.example.com', clientId: 'c' })).rejects.toThrow(
      /CN=api\.example\.com outside/,
    );
    expect(ca.permits('a.test')).toBe(true);
    expect(ca.permits('localhost.')).toBe(false);
    expect(ca.permits('10.0.0.1')).toBe(false);
    // The same leaf from an unconstrained CA: what path validation says of it under ours.
    const leaf = await (await createDevCa({ permittedSubtrees: [] })).issueServer({
      sans: ['localhost.'],
    });
    const ours = parseCertificate(ca.intermediate.certDer).extensions.nameConstraints;
    expect(
      nameConstraintViolation(ours as NameConstraints, parseCertificate(leaf.certDer), true),
    ).toMatch(/"localhost\." is constrained but cannot be checked/);
  });
});
