/**
 * The legacy PKCS#12 form node-forge writes for macOS Keychain and old Java (3DES key bag,
 * SHA-1 MAC): OpenSSL 3 (with -legacy) and forge's own reader open it and find our certificate
 * and key; non-RSA keys and certificates forge cannot carry are refused, by the library and by
 * `client --p12-legacy`, before anything is written.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createPkcs12,
  type DevCa,
  type IssuedCertificate,
  runDevCaCli,
} from '../../src/dev-ca/index.js';
import { createLegacyPkcs12, isLegacyPkcs12 } from '../../src/dev-ca/pkcs12.js';
import { openssl, tempDir } from './helpers.js';

const password = 'correct-horse-battery-staple';

describe('createLegacyPkcs12', () => {
  let ca: DevCa;
  let client: IssuedCertificate;
  let p12: Buffer;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    ca = await createDevCa({ keyType: 'rsa2048' });
    client = await ca.issueClient({ clientId: 'svc-a', subject: 'CN=svc-a,O=Acme,C=US' });
    p12 = createLegacyPkcs12({
      keyPem: client.keyPem,
      certsPem: `${client.chainPem}${ca.root.certPem}`,
      password,
      friendlyName: 'svc-a',
    });
    await writeFile(join(dir, 'client.p12'), p12);
  });
  afterAll(async () => cleanup());

  it('opens with openssl pkcs12 -legacy: 3DES key bag, SHA-1 MAC, our certificate first', async () => {
    const info = await openssl(
      ['pkcs12', '-legacy', '-info', '-nokeys', '-in', 'client.p12', '-passin', `pass:${password}`],
      dir,
    );
    expect(info.code, info.output).toBe(0);
    expect(info.output).toContain('MAC: sha1, Iteration 10000');
    expect(info.output).toContain(
      'Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 10000',
    );
    expect(info.output).toContain('friendlyName: svc-a');
    const leaf = await openssl(
      [
        'pkcs12',
        '-legacy',
        '-nokeys',
        '-clcerts',
        '-in',
        'client.p12',
        '-passin',
        `pass:${password}`,
      ],
      dir,
    );
    expect(new X509Certificate(leaf.output.slice(leaf.output.indexOf('-----BEGIN'))).raw).toEqual(
      client.certDer,
    );
    // No RC2 inside, so OpenSSL 3 (and curl --cert-type P12) reads it without the legacy provider.
    const plain = await openssl(
      ['pkcs12', '-info', '-nokeys', '-in', 'client.p12', '-passin', `pass:${password}`],
      dir,
    );
    expect(plain.code, plain.output).toBe(0);
    const wrong = await openssl(
      ['pkcs12', '-legacy', '-info', '-nokeys', '-in', 'client.p12', '-passin', 'pass:wrong'],
      dir,
    );
    expect(wrong.code).not.toBe(0);
  });

  it("opens with node-forge's reader: same certificates, and the key that matches the leaf", () => {
    const pfx = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(p12.toString('binary')), password);
    const certBag = forge.pki.oids.certBag as string;
    const keyBag = forge.pki.oids.pkcs8ShroudedKeyBag as string;
    const ders = (pfx.getBags({ bagType: certBag })[certBag] ?? []).map((bag) =>
      Buffer.from(
        forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert as forge.pki.Certificate)).getBytes(),
        'binary',
      ),
    );
    expect(ders).toEqual([client.certDer, ca.intermediate.certDer, ca.root.certDer]);
    const [key] = pfx.getBags({ bagType: keyBag })[keyBag] ?? [];
    expect(key?.attributes.friendlyName).toEqual(['svc-a']);
    const keyPem = forge.pki.privateKeyToPem(key?.key as forge.pki.PrivateKey);
    expect(new X509Certificate(client.certPem).checkPrivateKey(createPrivateKey(keyPem))).toBe(
      true,
    );
    expect(() =>
      forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(p12.toString('binary')), 'x'),
    ).toThrow();
  });

  it('is told apart from the modern form by its MAC', async () => {
    expect(isLegacyPkcs12(p12)).toBe(true);
    const modern = await createPkcs12({
      keyPem: client.keyPem,
      certsPem: client.chainPem,
      password,
    });
    expect(isLegacyPkcs12(modern)).toBe(false);
    expect(isLegacyPkcs12(Buffer.from('not a pfx'))).toBe(false);
  });

  it('refuses a non-RSA key, and an RSA key whose certificate is not RSA-signed', async () => {
    const ecCa = await createDevCa();
    const ecClient = await ecCa.issueClient({ clientId: 'ec' });
    expect(() =>
      createLegacyPkcs12({ keyPem: ecClient.keyPem, certsPem: ecClient.chainPem, password }),
    ).toThrow(/legacy PKCS#12 \(--p12-legacy\) needs an RSA key, not ec.*--p12/);
    const rsaUnderEc = await ecCa.issueClient({ clientId: 'rsa', keyType: 'rsa2048' });
    expect(() =>
      createLegacyPkcs12({ keyPem: rsaUnderEc.keyPem, certsPem: rsaUnderEc.chainPem, password }),
    ).toThrow(/cannot carry the client certificate: it is not signed with RSA/);
  });
});

/** Every file under `dir` with its bytes, to prove a refused command changed nothing. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out.set(path, (await readFile(path)).toString('base64'));
    }
  }
  return out;
}

describe('dev-ca client --p12-legacy', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const run = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const io = {
      stdout: { write: (text: string) => (out += text) },
      stderr: { write: (text: string) => (err += text) },
    };
    const code = await runDevCaCli([...args, '--dir', dir], io);
    return { code, out, err };
  };

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterEach(async () => cleanup());

  it('writes a 0600 legacy bundle for an RSA PKI that openssl -legacy opens, and ensure renews it as legacy', async () => {
    expect((await run('init', '--key-type', 'rsa2048')).code).toBe(0);
    const made = await run('client', 'svc-java', '--p12-legacy');
    expect(made.code, made.err).toBe(0);
    expect(made.out).toContain('legacy form for macOS Keychain and old Java');
    const p12Path = join(dir, 'clients/svc-java/client.p12');
    expect((await stat(p12Path)).mode & 0o777).toBe(0o600);
    const info = await openssl([
      'pkcs12',
      '-legacy',
      '-info',
      '-nokeys',
      '-in',
      p12Path,
      '-passin',
      `file:${join(dir, 'clients/svc-java/client.p12.password')}`,
    ]);
    expect(info.code, info.output).toBe(0);
    expect(info.output).toContain('MAC: sha1');
    expect((await run('doctor')).code).toBe(0);

    const specs = join(dir, 'clients.json');
    await writeFile(specs, JSON.stringify({ clients: [{ client_id: 'svc-mac', p12: 'legacy' }] }));
    expect((await run('client', '--file', specs)).code).toBe(0);
    expect(isLegacyPkcs12(await readFile(join(dir, 'clients/svc-mac/client.p12')))).toBe(true);
    await writeFile(specs, JSON.stringify({ clients: [{ client_id: 'svc-x', p12: 'old' }] }));
    expect((await run('client', '--file', specs)).err).toContain('"legacy"');

    const later = new Date(Date.now() + 25 * 86_400_000).toISOString();
    const before = await readFile(p12Path);
    expect((await run('ensure', '--now', later)).code).toBe(0);
    const after = await readFile(p12Path);
    expect(after.equals(before)).toBe(false);
    expect(isLegacyPkcs12(after)).toBe(true);
    // About a dozen RSA-2048 key generations (CA, server, demo and legacy clients, renewals): CPU
    // bound, over 20 s on a loaded 2-core machine for the same code on main. No timing is asserted.
  }, 90_000);

  it('refuses a non-RSA client key or CA with the fix in the message, and changes no byte', async () => {
    expect((await run('init')).code).toBe(0);
    const before = await snapshot(dir);
    const ecKey = await run('client', 'svc-mac', '--p12-legacy');
    expect(ecKey.code).toBe(1);
    expect(ecKey.err).toMatch(/--p12-legacy needs an RSA client key, not p256/);
    expect(ecKey.err).toContain('--p12 for the modern bundle');
    const rsaKey = await run('client', 'svc-mac', '--p12-legacy', '--key-type', 'rsa2048');
    expect(rsaKey.code).toBe(1);
    expect(rsaKey.err).toMatch(/--p12-legacy needs an RSA CA, and this one is p256/);
    expect(rsaKey.err).toContain('init --key-type rsa2048');
    expect(await snapshot(dir)).toEqual(before);
  });

  it('is a usage error with --file (the file says "p12": "legacy" per client)', async () => {
    expect((await run('client', '--file', 'clients.json', '--p12-legacy')).code).toBe(2);
    expect((await run('init', '--p12-legacy')).code).toBe(2);
  });
});
