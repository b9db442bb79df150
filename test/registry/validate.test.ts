/** Registry validation: one clear message per problem, keys imported once at load. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, type SigningJwk } from '../../src/dev-ca/index.js';
import { resolveKeyPolicy } from '../../src/pki/index.js';
import { loadRegistry, RegistryError } from '../../src/registry/index.js';
import { generateKeyPairSync } from '../helpers/keys.js';

const options = {
  allowedAssertionAlgs: ['ES256', 'ES384', 'PS256', 'RS256', 'EdDSA'],
  createRemoteKeySet: () => ({ get: async () => [], refreshForUnknownKid: async () => undefined }),
};

const problemsOf = (clients: unknown[]) => {
  try {
    loadRegistry({ file: null, clients }, options);
  } catch (error) {
    if (error instanceof RegistryError) return error.problems;
    throw error;
  }
  throw new Error('expected a RegistryError');
};

describe('client registry validation', () => {
  let key: SigningJwk;
  beforeAll(async () => {
    key = await generateSigningJwk('ES256');
  });
  const jwtClient = (extra: Record<string, unknown> = {}) => ({
    client_id: 'svc',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [key.publicJwk] },
    ...extra,
  });

  it('loads a valid client with its keys imported', () => {
    const registry = loadRegistry({ file: null, clients: [jwtClient({ scope: 'a b' })] }, options);
    const client = registry.get('svc');
    expect(client?.keys.kind).toBe('inline');
    expect(client?.scopes).toEqual(['a', 'b']);
    expect(client?.grantTypes.has('client_credentials')).toBe(true);
    expect(client?.binding).toBe('when-presented');
    if (client?.keys.kind === 'inline')
      expect(client.keys.keys[0]?.key.asymmetricKeyType).toBe('ec');
  });

  it('refuses secret-based and unknown methods', () => {
    expect(problemsOf([jwtClient({ token_endpoint_auth_method: 'client_secret_basic' })])).toEqual([
      expect.stringMatching(
        /token_endpoint_auth_method: client_secret_basic is not supported: Tollgate uses no shared secrets/,
      ),
    ]);
    expect(problemsOf([jwtClient({ token_endpoint_auth_method: 'magic' })])).toEqual([
      expect.stringMatching(/token_endpoint_auth_method: must be one of private_key_jwt/),
    ]);
  });

  it('refuses private_key_jwt without keys', () => {
    expect(
      problemsOf([{ client_id: 'svc', token_endpoint_auth_method: 'private_key_jwt' }]),
    ).toEqual([expect.stringMatching(/jwks: private_key_jwt needs jwks or jwks_uri/)]);
  });

  it('refuses private material in a public JWKS', () => {
    expect(problemsOf([jwtClient({ jwks: { keys: [key.privateJwk] } })])).toEqual([
      expect.stringMatching(/jwks: keys\[0\]: contains private key material \(d\)/),
    ]);
  });

  it('refuses RSA below 2048 bits and EC below P-256', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const small = { ...(await exportJWK(rsa.publicKey)), kid: 'small' };
    expect(problemsOf([jwtClient({ jwks: { keys: [small] } })])).toEqual([
      expect.stringMatching(/keys\[0\]: RSA key of 1024 bits is below the minimum of 2048/),
    ]);
    // The key policy's other RSA rule: a whole number of octets.
    const odd = generateKeyPairSync('rsa', { modulusLength: 2052 });
    const oddJwk = { ...(await exportJWK(odd.publicKey)), kid: 'odd' };
    expect(problemsOf([jwtClient({ jwks: { keys: [oddJwk] } })])).toEqual([
      expect.stringMatching(/keys\[0\]: RSA key of 2052 bits is not a whole number of octets/),
    ]);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    const secp256k1 = { ...(await exportJWK(k1.publicKey)), kid: 'k1' };
    expect(problemsOf([jwtClient({ jwks: { keys: [secp256k1] } })])).toEqual([
      expect.stringMatching(/keys\[0\]: EC crv "secp256k1" is not accepted/),
    ]);
    expect(problemsOf([jwtClient({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } })])).toEqual([
      expect.stringMatching(/keys\[0\]: contains private key material \(k\)/),
    ]);
  });

  it('refuses a duplicate client_id', () => {
    expect(problemsOf([jwtClient(), jwtClient()])).toEqual([
      expect.stringMatching(/registry.clients\[1\] \("svc"\): duplicate client_id/),
    ]);
  });

  it('refuses a non-https jwks_uri and jwks with jwks_uri', () => {
    expect(
      problemsOf([
        {
          client_id: 'svc',
          token_endpoint_auth_method: 'private_key_jwt',
          jwks_uri: 'http://keys.example/jwks',
        },
      ]),
    ).toEqual([expect.stringMatching(/jwks_uri: must be an https URL/)]);
    expect(problemsOf([jwtClient({ jwks_uri: 'https://keys.example/jwks' })])).toEqual([
      expect.stringMatching(/jwks and jwks_uri must not both be present/),
    ]);
  });

  it('refuses more than one tls_client_auth_* value, and none', () => {
    expect(
      problemsOf([
        {
          client_id: 'svc',
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: 'CN=svc',
          tls_client_auth_san_dns: 'svc.test',
        },
      ]),
    ).toEqual([
      expect.stringMatching(
        /tls_client_auth_subject_dn, tls_client_auth_san_dns: register exactly one/,
      ),
    ]);
    expect(
      problemsOf([{ client_id: 'svc', token_endpoint_auth_method: 'tls_client_auth' }]),
    ).toEqual([expect.stringMatching(/tls_client_auth needs one of/)]);
  });

  it('refuses an unknown field, a bad scope, resource, lifetime, legacy_audience and signing alg', () => {
    const problems = problemsOf([
      jwtClient({
        token_endpoint_auth_metod: 'x',
        scope: 'a  b',
        allowed_resources: ['relative/path'],
        access_token_lifetime: 0,
        legacy_audience: { until: 'never' },
        token_endpoint_auth_signing_alg: 'HS256',
      }),
    ]);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/token_endpoint_auth_metod: unknown field/),
        expect.stringMatching(/scope: must be space-separated scope tokens/),
        expect.stringMatching(/allowed_resources: "relative\/path" is not an absolute URI/),
        expect.stringMatching(/access_token_lifetime: must be an integer from 1 to 86400/),
        expect.stringMatching(/legacy_audience: must be \{"until"/),
        expect.stringMatching(/token_endpoint_auth_signing_alg: "HS256" is not accepted/),
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('reads a registry file and reports an unreadable one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tollgate-registry-'));
    const file = join(dir, 'registry.json');
    await writeFile(file, JSON.stringify({ clients: [jwtClient()] }));
    expect(loadRegistry({ file, clients: [] }, options).size).toBe(1);
    await writeFile(file, JSON.stringify([jwtClient()]));
    expect(() => loadRegistry({ file, clients: [] }, options)).toThrow(
      /must be a JSON object \{"clients"/,
    );
    expect(() => loadRegistry({ file: join(dir, 'missing.json'), clients: [] }, options)).toThrow(
      /cannot be read \(ENOENT\)/,
    );
  });
});

describe('registered identities that could be mistaken for another (issue 13)', () => {
  const dnClient = (dn: string) => ({
    client_id: 'svc-dn',
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: dn,
  });

  it.each([
    ['full-width letters', 'CN=ａｄｍｉｎ,O=Acme', /compatibility character \(U\+FF41\)/],
    ['a soft hyphen', 'CN=ad\u00admin,O=Acme', /invisible.*\(U\+00AD\)/],
    ['a zero-width space', 'CN=ad\u200bmin,O=Acme', /invisible.*\(U\+200B\)/],
    ['a bidi override', 'CN=\u202eadmin,O=Acme', /invisible.*\(U\+202E\)/],
    ['a no-break space', 'CN=ad\u00a0min,O=Acme', /invisible.*\(U\+00A0\)/],
    ['Latin mixed with a Cyrillic a', 'CN=\u0430dmin,O=Acme', /mixes scripts \(Cyrillic, Latin\)/],
    ['Latin mixed with a Greek omicron', 'CN=r\u03bfot,O=Acme', /mixes scripts \(Greek, Latin\)/],
    ['a decomposed (NFD) accent', 'CN=Jose\u0301,O=Acme', /not in Unicode NFC/],
    ['the Kelvin sign', 'CN=\u212aelvin,O=Acme', /not in Unicode NFC/],
    ['a ligature', 'CN=\ufb01le,O=Acme', /compatibility character \(U\+FB01\)/],
  ])('refuses a subject DN with %s, naming the problem', (_name, dn, message) => {
    const problems = problemsOf([dnClient(dn)]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/tls_client_auth_subject_dn: subject_dn: the CN value /);
    expect(problems[0]).toMatch(message);
  });

  it.each([
    ['ASCII', 'CN=admin,O=Acme'],
    ['Polish', 'CN=Łukasz Żółć,O=Acme'],
    ['Turkish dotless i (its own name, not admin)', 'CN=admın,O=Acme'],
    ['Cyrillic', 'CN=Иван Петров,O=Acme'],
    ['Greek', 'CN=Ωμέγα,O=Acme'],
    ['Japanese (Han and Katakana)', 'CN=東京サービス,O=Acme'],
    ['Korean with Latin', 'CN=서울 API,O=Acme'],
  ])('accepts a genuine %s subject DN', (_name, dn) => {
    const registry = loadRegistry({ file: null, clients: [dnClient(dn)] }, options);
    expect(registry.get('svc-dn')?.tlsIdentity?.field).toBe('tls_client_auth_subject_dn');
  });

  it('applies a stricter configured key policy to registered keys', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa' };
    const client = {
      client_id: 'svc-rsa',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
    };
    expect(loadRegistry({ file: null, clients: [client] }, options).get('svc-rsa')).toBeDefined();
    expect(() =>
      loadRegistry(
        { file: null, clients: [client] },
        { ...options, keyPolicy: resolveKeyPolicy({ minRsaBits: 3072 }) },
      ),
    ).toThrow(/RSA key of 2048 bits is below the minimum of 3072/);
  });
});
