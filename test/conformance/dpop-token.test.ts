/**
 * RFC 9449 DPoP at the token endpoint, over real TLS: one test per §4.3 check, each refused with
 * its own reason (read from the server's audit line), plus the attacks the issue names (a proof
 * replayed, a proof for the mTLS alias used at the plain URL, a proof whose jwk does not hold the
 * signing key, a private jwk), the ordering with client authentication (a bad proof never burns
 * the assertion's jti), bindings (DPoP wins, dpop_bound_access_tokens, fapi2), introspection
 * (§6.2) and metadata (§5.1).
 */
import { createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, type DevCa } from '../../src/dev-ca/index.js';
import { signAssertion } from '../helpers/assertions.js';
import {
  b64,
  capturingLogger,
  keyObject,
  lastReason,
  makeProof,
  makeProofKey,
  type ProofKey,
  type ProofSpec,
  rawEs256,
  rawProof,
} from '../helpers/dpop.js';
import { generateKeyPairSync } from '../helpers/keys.js';
import { claimsOf, type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { type JwtClient, makeJwtClient } from '../helpers/tollgate.js';
import { encode, expectOAuthError, formType, type RawResponse, rawRequest } from './support.js';

const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('DPoP at the token endpoint (RFC 9449 §4.3, §5, §6.2, §8)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let alice: JwtClient;
  let strict: JwtClient;
  let key: ProofKey;
  let other: ProofKey;
  let rsa: ProofKey;
  const log = capturingLogger();
  let htu: string;
  let mtlsHtu: string;

  const assertionFor = (client: JwtClient) =>
    signAssertion(client.key.privateJwk, client.clientId, server.issuer);
  const post = async (
    proofs: string | string[] | undefined,
    options: { client?: JwtClient; assertion?: string; base?: string } = {},
  ): Promise<RawResponse> => {
    const client = options.client ?? alice;
    return rawRequest(options.base ?? server.base, ca.root.certPem, {
      path: '/token',
      headers: {
        'content-type': formType,
        ...(proofs === undefined ? {} : { dpop: proofs }),
      },
      body: encode({
        grant_type: 'client_credentials',
        client_assertion_type: assertionType,
        client_assertion: options.assertion ?? (await assertionFor(client)),
      }),
    });
  };
  const proof = (spec: Partial<ProofSpec> = {}, with_: ProofKey = key) =>
    makeProof(with_, { htu, ...spec });
  const expectRefused = (res: RawResponse, reason: string) => {
    expectOAuthError(res, 400, 'invalid_dpop_proof');
    expect(lastReason(log.lines), res.text).toBe(reason);
  };

  beforeAll(async () => {
    ca = await createDevCa();
    alice = await makeJwtClient('dpop-alice');
    strict = await makeJwtClient('dpop-strict', 'ES256', { dpop_bound_access_tokens: true });
    key = await makeProofKey('ES256');
    other = await makeProofKey('ES256');
    rsa = await makeProofKey('RS256');
    server = await startMtlsTollgate({
      ca,
      clients: [alice.metadata, strict.metadata],
      mtls: true,
      config: {
        rateLimits: { enabled: false },
        dpop: { signingAlgs: ['ES256', 'PS256', 'EdDSA'] },
      },
      tollgate: { logger: log.logger },
    });
    htu = `${server.issuer}/token`;
    mtlsHtu = `${server.tg.endpoints.mtlsToken}`;
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('a valid proof gets token_type DPoP and cnf.jkt = the RFC 7638 thumbprint of its jwk', async () => {
    const res = await post(await proof());
    expect(res.status, res.text).toBe(200);
    expect(res.json?.token_type).toBe('DPoP');
    const claims = claimsOf(String(res.json?.access_token));
    expect(claims.cnf).toEqual({ jkt: key.jkt });
  });

  it('without a proof the token stays a Bearer token without cnf (control)', async () => {
    const res = await post(undefined);
    expect(res.status, res.text).toBe(200);
    expect(res.json?.token_type).toBe('Bearer');
    expect(claimsOf(String(res.json?.access_token)).cnf).toBeUndefined();
  });

  describe('one check of §4.3 each, each with its own reason', () => {
    it('1: two DPoP headers', async () => {
      expectRefused(await post([await proof(), await proof()]), 'dpop_proof_multiple');
    });

    it('2: not a well-formed JWT', async () => {
      expectRefused(await post('not.a-jwt'), 'dpop_proof_malformed');
      expectRefused(await post(`${b64({ typ: 'dpop+jwt' })}.e30`), 'dpop_proof_malformed');
    });

    it('2: larger than the bound', async () => {
      const huge = await proof({ claims: { pad: 'x'.repeat(5000) } });
      expectRefused(await post(huge), 'dpop_proof_too_large');
    });

    for (const claim of ['jti', 'htm', 'htu', 'iat']) {
      it(`3: ${claim} missing`, async () => {
        expectRefused(
          await post(await proof({ claims: { [claim]: undefined } })),
          'dpop_claim_missing',
        );
      });
    }

    it('4: typ other than dpop+jwt (JWT, absent, at+jwt)', async () => {
      for (const typ of ['JWT', undefined, 'at+jwt', 'dpop+jwt+x', 'application/jwt', 'dpop']) {
        expectRefused(await post(await proof({ header: { typ } })), 'dpop_typ_invalid');
      }
    });

    it('4: typ is a media type: application/dpop+jwt and other cases name dpop+jwt (RFC 7515 §4.1.9)', async () => {
      for (const typ of ['application/dpop+jwt', 'DPOP+JWT', 'Application/DPoP+JWT']) {
        const res = await post(await proof({ header: { typ } }));
        expect(res.status, `${typ}: ${res.text}`).toBe(200);
        expect(res.json?.token_type).toBe('DPoP');
      }
    });

    it('5: alg none, HS256 keyed with the public key, and an alg the server does not allow', async () => {
      const claims = { jti: 'n1', htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) };
      const noneJws = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: key.publicJwk })}.${b64(claims)}.AAAA`;
      expectRefused(await post(noneJws), 'dpop_alg_not_allowed');
      const input = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.publicJwk })}.${b64({ ...claims, jti: 'n2' })}`;
      const mac = createHmac('sha256', JSON.stringify(key.publicJwk))
        .update(input)
        .digest('base64url');
      expectRefused(await post(`${input}.${mac}`), 'dpop_alg_not_allowed');
      // RS256 is a fine algorithm, but this server's dpop.signingAlgs leaves it out.
      expectRefused(await post(await proof({}, rsa)), 'dpop_alg_not_allowed');
    });

    it('6: a proof signed with a private key that the jwk header does not hold', async () => {
      expectRefused(
        await post(await proof({ signWith: other.privateJwk })),
        'dpop_signature_invalid',
      );
    });

    it('6: a jwk that is no usable public key (symmetric, or too small)', async () => {
      const oct = { kty: 'oct', k: 'c2VjcmV0' };
      expectRefused(
        await post(await proof({ header: { jwk: { kty: 'oct' } } })),
        'dpop_jwk_invalid',
      );
      // k is private material whatever the key type.
      expectRefused(await post(await proof({ header: { jwk: oct } })), 'dpop_jwk_private');
    });

    it('6: a proof key the one key policy refuses (RSA-1024, an odd RSA size, secp256k1)', async () => {
      const refusedFor = async (dpop: string, sentence: RegExp) => {
        const res = await post(dpop);
        expectRefused(res, 'dpop_jwk_key_policy');
        expect(res.json?.error_description).toMatch(sentence);
      };
      // Each but the crafted one is signed correctly by the key it names: only the policy refuses.
      const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
      await refusedFor(
        rawProof(rsa1024, 'PS256', { htu }),
        /RSA key of 1024 bits is below the minimum of 2048/,
      );
      // 2052 bits, not a whole number of octets: crafted, since the policy refuses it before the
      // signature is looked at (the signer need not hold it).
      const n = randomBytes(257);
      n[0] = 0x0f;
      n[256] = (n[256] as number) | 1;
      const odd = { kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' };
      const signer = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      await refusedFor(
        rawProof(signer, 'PS256', { htu, jwk: odd }),
        /RSA key of 2052 bits is not a whole number of octets/,
      );
      const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
      await refusedFor(rawProof(k1, 'ES256', { htu }), /EC curve secp256k1 is not accepted/);
      // Control: the same raw signer with a key the policy accepts gets a token.
      const ok = await post(rawProof(signer, 'PS256', { htu }));
      expect(ok.status, ok.text).toBe(200);
    });

    it('7: a proof with a private jwk (d included)', async () => {
      expectRefused(
        await post(await proof({ header: { jwk: key.privateJwk } })),
        'dpop_jwk_private',
      );
    });

    it('8: htm other than POST', async () => {
      for (const htm of ['GET', 'post', 'PUT']) {
        expectRefused(await post(await proof({ htm })), 'dpop_htm_mismatch');
      }
    });

    it('9: htu of another endpoint or host', async () => {
      for (const wrong of [
        `${server.issuer}/introspect`,
        'https://evil.example/token',
        `${server.issuer}/token/`,
        `http://${new URL(server.issuer).host}/token`,
      ]) {
        expectRefused(await post(await proof({ htu: wrong })), 'dpop_htu_mismatch');
      }
    });

    it('9: a proof for the mTLS alias used at the plain URL, and the other way round', async () => {
      expectRefused(await post(await proof({ htu: mtlsHtu })), 'dpop_htu_mismatch');
      expectRefused(
        await post(await proof({ htu }), { base: server.mtlsBase as string }),
        'dpop_htu_mismatch',
      );
      // Control: each listener accepts a proof for its own URL.
      const ok = await post(await proof({ htu: mtlsHtu }), { base: server.mtlsBase as string });
      expect(ok.status, ok.text).toBe(200);
    });

    it('9: query and fragment are ignored, and the URL is compared after RFC 3986 normalisation', async () => {
      const upper = htu.replace('https://localhost', 'HTTPS://LOCALHOST');
      for (const variant of [
        `${htu}?x=1`,
        `${htu}#frag`,
        upper,
        htu.replace('/token', '/./%74oken'),
      ]) {
        const res = await post(await proof({ htu: variant }));
        expect(res.status, `${variant}: ${res.text}`).toBe(200);
      }
    });

    it('11: iat too old, or too far in the future', async () => {
      const now = Math.floor(Date.now() / 1000);
      expectRefused(await post(await proof({ claims: { iat: now - 120 } })), 'dpop_iat_too_old');
      expectRefused(await post(await proof({ claims: { iat: now + 120 } })), 'dpop_iat_future');
    });

    it('§11.1: a proof replayed on the token endpoint', async () => {
      const once = await proof();
      const first = await post(once);
      expect(first.status, first.text).toBe(200);
      expectRefused(await post(once), 'dpop_replayed');
    });

    it('claims of the wrong type and a crit header are refused', async () => {
      expectRefused(await post(await proof({ claims: { iat: 'now' } })), 'dpop_claim_invalid');
      expectRefused(
        await post(await proof({ claims: { jti: 'x'.repeat(300) } })),
        'dpop_claim_invalid',
      );
      const critical = rawEs256(
        { typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk, crit: ['exp'], exp: 1 },
        { jti: `crit-${Date.now()}`, htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) },
        keyObject(key.privateJwk),
      );
      expectRefused(await post(critical), 'dpop_crit_unsupported');
    });
  });

  describe('ordering with client authentication (RFC 9449 §5)', () => {
    it('an unauthenticated client with a bad proof learns only invalid_client', async () => {
      const forged = await signAssertion(other.privateJwk, alice.clientId, server.issuer, {
        alg: 'ES256',
      });
      const res = await post('garbage', { assertion: forged });
      expectOAuthError(res, 401, 'invalid_client');
    });

    it("a bad proof does not burn the assertion's jti: the same assertion then works", async () => {
      const assertion = await assertionFor(alice);
      expectRefused(await post(await proof({ htm: 'GET' }), { assertion }), 'dpop_htm_mismatch');
      const res = await post(await proof(), { assertion });
      expect(res.status, res.text).toBe(200);
      // ... once.
      const again = await post(await proof(), { assertion });
      expectOAuthError(again, 401, 'invalid_client');
      expect(lastReason(log.lines)).toBe('assertion_replayed');
    });

    it('the same proof jti of two clients does not collide (replay claims are per client)', async () => {
      const jti = `shared-${Date.now()}`;
      const a = await post(await proof({ claims: { jti } }));
      expect(a.status, a.text).toBe(200);
      const b = await post(await proof({ claims: { jti } }), { client: strict });
      expect(b.status, b.text).toBe(200);
    });
  });

  describe('which binding wins', () => {
    it('dpop_bound_access_tokens: a request without a proof is refused', async () => {
      expectRefused(await post(undefined, { client: strict }), 'dpop_proof_missing');
      const res = await post(await proof(), { client: strict });
      expect(res.status, res.text).toBe(200);
      expect(res.json?.token_type).toBe('DPoP');
    });

    it('a proof and a client certificate: the token is bound to the DPoP key only', async () => {
      const leaf = await ca.issueClient({ clientId: 'dpop-cert-holder' });
      const res = await rawRequest(server.mtlsBase as string, ca.root.certPem, {
        path: '/token',
        headers: { 'content-type': formType, dpop: await proof({ htu: mtlsHtu }) },
        body: encode({
          grant_type: 'client_credentials',
          client_assertion_type: assertionType,
          client_assertion: await assertionFor(alice),
        }),
        cert: leaf.chainPem,
        key: leaf.keyPem,
      });
      expect(res.status, res.text).toBe(200);
      expect(claimsOf(String(res.json?.access_token)).cnf).toEqual({ jkt: key.jkt });
    });
  });

  it('introspection says token_type DPoP and cnf.jkt (§6.2)', async () => {
    const issued = await post(await proof());
    const token = String(issued.json?.access_token);
    const res = await rawRequest(server.base, ca.root.certPem, {
      path: '/introspect',
      headers: { 'content-type': formType },
      body: encode({
        token,
        client_assertion_type: assertionType,
        client_assertion: await assertionFor(alice),
      }),
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
  });

  it('metadata publishes dpop_signing_alg_values_supported without none or HMAC (§5.1)', async () => {
    const res = await rawRequest(server.base, ca.root.certPem, {
      method: 'GET',
      path: '/.well-known/oauth-authorization-server',
    });
    const algs = res.json?.dpop_signing_alg_values_supported as string[];
    expect(algs).toContain('ES256');
    expect(algs.some((alg) => alg === 'none' || alg.startsWith('HS'))).toBe(false);
  });

  it('a raw ES256 proof built without jose is accepted too (interop control)', async () => {
    const jwk = createPublicKey(keyObject(key.privateJwk)).export({ format: 'jwk' });
    const res = await post(
      rawEs256(
        { typ: 'dpop+jwt', alg: 'ES256', jwk },
        { jti: `raw-${Date.now()}`, htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) },
        keyObject(key.privateJwk),
      ),
    );
    expect(res.status, res.text).toBe(200);
  });
});

describe("DPoP proof keys follow the server's keyPolicy, like client keys", () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let client: JwtClient;
  const log = capturingLogger();

  beforeAll(async () => {
    ca = await createDevCa();
    client = await makeJwtClient('dpop-policy');
    server = await startMtlsTollgate({
      ca,
      clients: [client.metadata],
      config: {
        rateLimits: { enabled: false },
        keyPolicy: { minRsaBits: 3072 },
        dpop: { signingAlgs: ['ES256', 'PS256'] },
      },
      tollgate: { logger: log.logger },
    });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  const post = async (dpop: string) =>
    rawRequest(server.base, ca.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType, dpop },
      body: encode({
        grant_type: 'client_credentials',
        client_assertion_type: assertionType,
        client_assertion: await signAssertion(
          client.key.privateJwk,
          client.clientId,
          server.issuer,
        ),
      }),
    });

  it('keyPolicy.minRsaBits 3072: an RSA-2048 proof key is refused, RSA-3072 accepted', async () => {
    const htu = `${server.issuer}/token`;
    const rsa2048 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const refused = await post(rawProof(rsa2048, 'PS256', { htu }));
    expectOAuthError(refused, 400, 'invalid_dpop_proof');
    expect(lastReason(log.lines), refused.text).toBe('dpop_jwk_key_policy');
    expect(refused.json?.error_description).toMatch(/2048 bits is below the minimum of 3072/);
    const rsa3072 = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
    const ok = await post(rawProof(rsa3072, 'PS256', { htu }));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json?.token_type).toBe('DPoP');
  });
});
