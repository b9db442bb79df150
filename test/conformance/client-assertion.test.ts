/**
 * private_key_jwt conformance and attacks, over real TLS: RFC 7521 §4.2, RFC 7523 §3,
 * draft-ietf-oauth-rfc7523bis (audience), RFC 7515/7518 (JWS, algorithms), RFC 8725 (JWT BCP).
 *
 * RFC 7521 §4.2.1: for a client assertion that is not valid, "The value of the "error" parameter
 * MUST be the "invalid_client" error code."
 */
import { sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDevCa,
  createSelfSignedClient,
  type DevCa,
  generateSigningJwk,
} from '../../src/dev-ca/index.js';
import { rawJws, signAssertion, standardClaims } from '../helpers/assertions.js';
import { generateKeyPairSync } from '../helpers/keys.js';
import { type MtlsTollgate, startMtlsTollgate } from '../helpers/mtls.js';
import { type JwtClient, makeJwtClient, makeTollgate } from '../helpers/tollgate.js';
import {
  b64u,
  encode,
  expectOAuthError,
  formType,
  keyObjectOf,
  malleateP256,
  type RawResponse,
  rawRequest,
  signRaw,
} from './support.js';

const assertionType = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('private_key_jwt client assertions (conformance and attacks)', () => {
  let ca: DevCa;
  let server: MtlsTollgate;
  let alice: JwtClient;
  let bob: JwtClient;
  let pss: JwtClient;
  let ed: JwtClient;
  let keyServer: Server;
  let keyServerHits = 0;
  let keyServerUrl: string;
  let attackerJwks: { keys: unknown[] };

  const tokenWith = (assertion: string, extra: Record<string, string> = {}) =>
    rawRequest(server.base, ca.root.certPem, {
      path: '/token',
      headers: { 'content-type': formType },
      body: encode({
        grant_type: 'client_credentials',
        client_assertion_type: assertionType,
        client_assertion: assertion,
        ...extra,
      }),
    });
  const sign_ = (
    client: JwtClient,
    spec: { header?: Record<string, unknown>; claims?: Record<string, unknown> } = {},
  ) => signAssertion(client.key.privateJwk, client.clientId, server.issuer, spec);
  const expectRefused = (res: RawResponse) => expectOAuthError(res, 401, 'invalid_client');
  const expectOk = (res: RawResponse) => {
    expect(res.status, res.text).toBe(200);
    expect(typeof res.json?.access_token).toBe('string');
  };
  /** Header and claims as raw JSON text, ES256-signed with alice's key over exactly those bytes. */
  const es256Raw = (headerJson: string, payloadJson: string, encoding: 'ieee-p1363' | 'der') =>
    signRaw(b64u(headerJson), b64u(payloadJson), keyObjectOf(alice.key.privateJwk), {
      kind: 'ecdsa',
      digest: 'sha256',
      encoding,
    });
  const aliceClaimsJson = (overrides: Record<string, unknown> = {}) =>
    JSON.stringify({ ...standardClaims(alice.clientId, server.issuer), ...overrides });

  beforeAll(async () => {
    ca = await createDevCa();
    alice = await makeJwtClient('pkj-alice');
    bob = await makeJwtClient('pkj-bob');
    pss = await makeJwtClient('pkj-pss', 'PS256');
    ed = await makeJwtClient('pkj-ed', 'EdDSA');
    server = await startMtlsTollgate({
      ca,
      clients: [alice.metadata, bob.metadata, pss.metadata, ed.metadata],
      config: { rateLimits: { enabled: false } },
    });
    // A key server an attacker controls: any fetch from Tollgate is counted.
    const attacker = await generateKeyPair('ES256', { extractable: true });
    attackerJwks = { keys: [{ ...(await exportJWK(attacker.publicKey)), kid: 'attacker' }] };
    keyServer = createServer((_req, res) => {
      keyServerHits++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(attackerJwks));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
    keyServerUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}/jwks`;
  });
  afterAll(async () => {
    await server?.dispose();
    await new Promise((resolve) => keyServer?.close(resolve));
  });

  it('baseline: ES256, PS256 and EdDSA assertions are accepted', async () => {
    expectOk(await tokenWith(await sign_(alice)));
    expectOk(await tokenWith(await sign_(pss)));
    expectOk(await tokenWith(await sign_(ed)));
  });

  describe('RFC 8725 §3.1 / §2.1: algorithm confusion', () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE', '']) {
      it(`alg ${JSON.stringify(alg)} with an empty signature is refused`, async () => {
        const claims = standardClaims(alice.clientId, server.issuer);
        expectRefused(await tokenWith(rawJws({ alg, kid: alice.key.kid }, claims, '')));
      });
    }

    it('alg none with a junk signature is refused', async () => {
      const claims = standardClaims(alice.clientId, server.issuer);
      expectRefused(await tokenWith(rawJws({ alg: 'none' }, claims, 'AAAA')));
    });

    it('alg missing is refused', async () => {
      const claims = standardClaims(alice.clientId, server.issuer);
      const { createHmac } = await import('node:crypto');
      const input = `${b64u(JSON.stringify({ kid: alice.key.kid }))}.${b64u(JSON.stringify(claims))}`;
      const mac = createHmac('sha256', 'x').update(input).digest('base64url');
      expectRefused(await tokenWith(`${input}.${mac}`));
    });

    it('HS256 keyed with the public key (JWK JSON, PEM, raw x) is refused', async () => {
      const { createHmac, createPublicKey } = await import('node:crypto');
      const pem = createPublicKey({ key: alice.key.publicJwk as never, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const secrets = [JSON.stringify(alice.key.publicJwk), pem, String(alice.key.publicJwk.x)];
      for (const secret of secrets) {
        const header = b64u(JSON.stringify({ alg: 'HS256', kid: alice.key.kid }));
        const payload = b64u(aliceClaimsJson());
        const mac = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
        expectRefused(await tokenWith(`${header}.${payload}.${mac}`));
      }
    });

    it('alg ES384 on a P-256 key is refused (key/alg mismatch)', async () => {
      const header = JSON.stringify({ alg: 'ES384', kid: alice.key.kid });
      const jws = signRaw(
        b64u(header),
        b64u(aliceClaimsJson()),
        keyObjectOf(alice.key.privateJwk),
        {
          kind: 'ecdsa',
          digest: 'sha384',
          encoding: 'ieee-p1363',
        },
      );
      expectRefused(await tokenWith(jws));
    });

    it('RS256 (PKCS#1 v1.5) from a client registered for PS256 is refused', async () => {
      const header = JSON.stringify({ alg: 'RS256', kid: pss.key.kid });
      const claims = JSON.stringify(standardClaims(pss.clientId, server.issuer));
      const jws = signRaw(b64u(header), b64u(claims), keyObjectOf(pss.key.privateJwk), {
        kind: 'pkcs1',
        digest: 'sha256',
      });
      expectRefused(await tokenWith(jws));
    });
  });

  describe('RFC 7515 / RFC 7518 §3.4: signature encodings', () => {
    it('an ES256 signature in ASN.1 DER (not R||S) is refused', async () => {
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      expectRefused(await tokenWith(es256Raw(header, aliceClaimsJson(), 'der')));
    });

    it('the same bytes in R||S form are accepted (control)', async () => {
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      expectOk(await tokenWith(es256Raw(header, aliceClaimsJson(), 'ieee-p1363')));
    });

    it('a truncated or extended signature is refused', async () => {
      const jws = await sign_(alice);
      expectRefused(await tokenWith(jws.slice(0, -4)));
      expectRefused(await tokenWith(`${jws}AAAA`));
    });

    it('base64 padding or standard-alphabet characters in a part are refused', async () => {
      const jws = await sign_(alice);
      const [h, p, s] = jws.split('.');
      expectRefused(await tokenWith(`${h}=.${p}.${s}`));
      expectRefused(await tokenWith(`${h}.${p}.${String(s).replaceAll('-', '+')}+/`));
    });

    it('a high-S (malleated) twin of a spent assertion cannot be replayed', async () => {
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      const jws = es256Raw(header, aliceClaimsJson(), 'ieee-p1363');
      const [h, p, s] = jws.split('.');
      const twin = `${h}.${p}.${malleateP256(Buffer.from(String(s), 'base64url')).toString('base64url')}`;
      expectOk(await tokenWith(jws));
      expectRefused(await tokenWith(twin));
    });

    // RFC 7518 §3.4 validates an ES256 JWS by splitting the 64 octets into R and S and handing
    // them to the ECDSA validator: it sets no low-S rule, nor do RFC 7515, RFC 7523 or RFC 8725.
    // Go's crypto/ecdsa, Java's SunEC and OpenSSL produce either S, so refusing high-S would
    // refuse about half of real clients' assertions. Replay is keyed on jti, not on signature
    // bytes (the test above), so a malleated twin gains nothing.
    it.todo(
      'ECDSA malleability (informational, no RFC requirement): a high-S signature with a fresh jti is accepted; RFC 7518 §3.4 has no low-S rule and real Go/Java clients produce high-S, replay is stopped by jti',
    );

    it('PS256 with any other salt length (0, 20, max) is refused (RFC 7518 §3.5 fixes it)', async () => {
      for (const saltLength of [0, 20, 222]) {
        const header = JSON.stringify({ alg: 'PS256', kid: pss.key.kid });
        const claims = JSON.stringify(standardClaims(pss.clientId, server.issuer));
        const jws = signRaw(b64u(header), b64u(claims), keyObjectOf(pss.key.privateJwk), {
          kind: 'pss',
          digest: 'sha256',
          saltLength,
        });
        expectRefused(await tokenWith(jws));
      }
    });

    it('PS256 with salt length = hash length (RFC 7518 §3.5) is accepted', async () => {
      const header = JSON.stringify({ alg: 'PS256', kid: pss.key.kid });
      const claims = JSON.stringify(standardClaims(pss.clientId, server.issuer));
      const jws = signRaw(b64u(header), b64u(claims), keyObjectOf(pss.key.privateJwk), {
        kind: 'pss',
        digest: 'sha256',
        saltLength: 32,
      });
      expectOk(await tokenWith(jws));
    });

    it('RS256 (PKCS#1 v1.5) bytes presented as PS256 are refused', async () => {
      const header = JSON.stringify({ alg: 'PS256', kid: pss.key.kid });
      const claims = JSON.stringify(standardClaims(pss.clientId, server.issuer));
      const jws = signRaw(b64u(header), b64u(claims), keyObjectOf(pss.key.privateJwk), {
        kind: 'pkcs1',
        digest: 'sha256',
      });
      expectRefused(await tokenWith(jws));
    });
  });

  describe('RFC 7515 §4.1 / RFC 8725 §3.10: key-carrying and critical headers', () => {
    it('jku pointing at an attacker key set is neither fetched nor trusted', async () => {
      const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const header = b64u(JSON.stringify({ alg: 'ES256', kid: 'attacker', jku: keyServerUrl }));
      const payload = b64u(aliceClaimsJson());
      const sig = sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: attacker.privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      const before = keyServerHits;
      expectRefused(await tokenWith(`${header}.${payload}.${sig.toString('base64url')}`));
      expect(keyServerHits).toBe(before);
    });

    it('x5u pointing at an attacker URL is not fetched', async () => {
      const before = keyServerHits;
      const jws = await sign_(alice, { header: { x5u: keyServerUrl } });
      // The signature is alice's own: whatever the verdict, nothing may be fetched.
      const res = await tokenWith(jws);
      expect(res.status).toBeLessThan(500);
      expect(keyServerHits).toBe(before);
    });

    it('an embedded jwk header with the attacker key is not trusted', async () => {
      const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = attacker.publicKey.export({ format: 'jwk' });
      const header = b64u(JSON.stringify({ alg: 'ES256', jwk }));
      const payload = b64u(aliceClaimsJson());
      const sig = sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: attacker.privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      expectRefused(await tokenWith(`${header}.${payload}.${sig.toString('base64url')}`));
    });

    it('an embedded x5c header with an attacker certificate is not trusted', async () => {
      const attacker = await createSelfSignedClient({ clientId: alice.clientId });
      const header = b64u(
        JSON.stringify({
          alg: 'ES256',
          x5c: [attacker.certPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '')],
        }),
      );
      const payload = b64u(aliceClaimsJson());
      const sig = sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: attacker.keyPem,
        dsaEncoding: 'ieee-p1363',
      });
      expectRefused(await tokenWith(`${header}.${payload}.${sig.toString('base64url')}`));
    });

    it('crit with an unknown extension is refused (RFC 7515 §4.1.11 MUST)', async () => {
      for (const extra of [
        { crit: ['exp'], exp: 1 },
        { crit: ['urn:x-unknown'], 'urn:x-unknown': 1 },
        { crit: [] },
      ]) {
        const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid, ...extra });
        expectRefused(await tokenWith(es256Raw(header, aliceClaimsJson(), 'ieee-p1363')));
      }
    });

    it('b64:false with crit (RFC 7797, unencoded payload) is refused', async () => {
      const header = b64u(
        JSON.stringify({ alg: 'ES256', kid: alice.key.kid, b64: false, crit: ['b64'] }),
      );
      const payload = aliceClaimsJson();
      const sig = sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: keyObjectOf(alice.key.privateJwk),
        dsaEncoding: 'ieee-p1363',
      });
      expectRefused(await tokenWith(`${header}.${b64u(payload)}.${sig.toString('base64url')}`));
      expectRefused(await tokenWith(`${header}..${sig.toString('base64url')}`));
    });

    for (const [label, kid] of [
      ['path traversal', '../../../../etc/passwd'],
      ['SQL', "' OR '1'='1' --"],
      ['NUL', 'a\u0000b'],
      ['a 4 KB string', 'k'.repeat(4096)],
      ['a number', 7],
      ['an object', { $ne: null }],
    ] as const) {
      it(`kid injection (${label}) is refused without a 5xx`, async () => {
        expectRefused(await tokenWith(await sign_(alice, { header: { kid } })));
      });
    }

    it('no kid at all: the registered key still verifies (kid is a hint)', async () => {
      expectOk(await tokenWith(await sign_(alice, { header: { kid: undefined } })));
    });
  });

  describe('RFC 7519 / RFC 8725: structure', () => {
    it('a 5-part JWE (unsigned) is refused', async () => {
      const header = b64u(JSON.stringify({ alg: 'dir', enc: 'A128GCM' }));
      expectRefused(await tokenWith(`${header}..${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`));
    });

    it('a nested JWT (cty: JWT, payload is a JWS string) is refused', async () => {
      const inner = await sign_(alice);
      const header = b64u(JSON.stringify({ alg: 'ES256', kid: alice.key.kid, cty: 'JWT' }));
      const payload = b64u(inner);
      const sig = sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: keyObjectOf(alice.key.privateJwk),
        dsaEncoding: 'ieee-p1363',
      });
      expectRefused(await tokenWith(`${header}.${payload}.${sig.toString('base64url')}`));
    });

    it('a payload that is a JSON array, string or null is refused', async () => {
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      for (const payload of ['[]', '"x"', 'null', '1']) {
        expectRefused(await tokenWith(es256Raw(header, payload, 'ieee-p1363')));
      }
    });

    it('deeply nested JSON in the header is refused or ignored, never a 5xx', async () => {
      const deep = `${'['.repeat(3000)}${']'.repeat(3000)}`;
      const header = `{"alg":"ES256","kid":"${alice.key.kid}","x":${deep}}`;
      const res = await tokenWith(es256Raw(header, aliceClaimsJson(), 'ieee-p1363'));
      expect(res.status, res.text).toBeLessThan(500);
    });

    it('duplicate "alg" whose last value is none is refused (RFC 7515 §5.2: lexically last)', async () => {
      const header = `{"alg":"ES256","kid":"${alice.key.kid}","alg":"none"}`;
      expectRefused(await tokenWith(`${b64u(header)}.${b64u(aliceClaimsJson())}.`));
      expectRefused(await tokenWith(es256Raw(header, aliceClaimsJson(), 'ieee-p1363')));
    });

    it('duplicate header members are refused, even when the last one would verify (RFC 7515 §5.2 lets us)', async () => {
      const header = `{"alg":"none","kid":"${alice.key.kid}","alg":"ES256"}`;
      expectRefused(await tokenWith(es256Raw(header, aliceClaimsJson(), 'ieee-p1363')));
    });

    it('duplicate "sub" resolves to the last value everywhere (no split-brain identity)', async () => {
      const claims = standardClaims(alice.clientId, server.issuer);
      // iss = alice, sub = alice then bob: the lexically last sub (bob) differs from iss.
      const payload = `${JSON.stringify(claims).slice(0, -1)},"sub":"${bob.clientId}"}`;
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      expectRefused(await tokenWith(es256Raw(header, payload, 'ieee-p1363')));
    });

    it('Unicode escapes in claims compare after JSON decoding', async () => {
      const claims = standardClaims(alice.clientId, server.issuer);
      const escaped = alice.clientId.replace('p', '\\u0070');
      const payload = JSON.stringify(claims)
        .replace(`"iss":"${alice.clientId}"`, `"iss":"${escaped}"`)
        .replace(`"sub":"${alice.clientId}"`, `"sub":"${escaped}"`);
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      expectOk(await tokenWith(es256Raw(header, payload, 'ieee-p1363')));
    });

    it('a look-alike (Cyrillic) client id is another client', async () => {
      const claims = { ...standardClaims(alice.clientId, server.issuer) };
      claims.iss = claims.sub = alice.clientId.replace('a', '\u0430');
      const header = JSON.stringify({ alg: 'ES256', kid: alice.key.kid });
      expectRefused(await tokenWith(es256Raw(header, JSON.stringify(claims), 'ieee-p1363')));
    });

    it('an oversized assertion is refused without a 5xx', async () => {
      expectRefused(await tokenWith(await sign_(alice, { claims: { pad: 'x'.repeat(6_500) } })));
      const huge = await tokenWith(await sign_(alice, { claims: { pad: 'x'.repeat(20_000) } }));
      expectOAuthError(huge, huge.status === 413 ? 413 : 401, /^invalid_(client|request)$/);
    });

    it('a non-JWT client_assertion is invalid_client (RFC 7521 §4.2.1)', async () => {
      for (const junk of ['abc', 'a.b', 'a.b.c', '...', 'eyJ.eyJ.', '\u0000']) {
        expectRefused(await tokenWith(junk));
      }
    });

    it('a wrong client_assertion_type is invalid_client', async () => {
      const jws = await sign_(alice);
      expectRefused(await tokenWith(jws, { client_assertion_type: `${assertionType} ` }));
      expectRefused(
        await tokenWith(jws, {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
        }),
      );
    });
  });

  describe('RFC 7523 §3 claims', () => {
    it('iss missing, sub missing, aud missing, exp missing: each refused (MUST contain)', async () => {
      for (const drop of ['iss', 'sub', 'aud', 'exp']) {
        expectRefused(await tokenWith(await sign_(alice, { claims: { [drop]: undefined } })));
      }
    });

    it('iat missing is accepted (iat is optional)', async () => {
      // Without iat the server dates the assertion at exp minus the longest lifetime (300 s plus
      // 30 s tolerance); on this freshly started server only one using the whole lifetime is
      // provably younger than its replay record (test/client-auth: the restart fence).
      const exp = Math.floor(Date.now() / 1000) + 330;
      expectOk(await tokenWith(await sign_(alice, { claims: { iat: undefined, exp } })));
    });

    it('iss different from sub is refused', async () => {
      expectRefused(await tokenWith(await sign_(alice, { claims: { iss: bob.clientId } })));
    });

    it("sub naming another client, signed with this client's key, is refused", async () => {
      const jws = await signAssertion(alice.key.privateJwk, bob.clientId, server.issuer);
      expectRefused(await tokenWith(jws));
    });

    it('an expired assertion is refused (item 4: MUST reject expired)', async () => {
      const now = Math.floor(Date.now() / 1000);
      expectRefused(
        await tokenWith(await sign_(alice, { claims: { iat: now - 600, exp: now - 300 } })),
      );
    });

    for (const [label, exp] of [
      ['a string', String(Math.floor(Date.now() / 1000) + 60)],
      ['a boolean', true],
      ['an array', [Math.floor(Date.now() / 1000) + 60]],
      ['negative', -1],
      ['null', null],
    ] as const) {
      it(`exp as ${label} is refused`, async () => {
        expectRefused(await tokenWith(await sign_(alice, { claims: { exp } })));
      });
    }

    it('exp as a fractional NumericDate is accepted (RFC 7519 §2)', async () => {
      expectOk(
        await tokenWith(
          await sign_(alice, { claims: { exp: Math.floor(Date.now() / 1000) + 60.5 } }),
        ),
      );
    });

    it('a huge exp (1e20) is refused: unreasonably far in the future', async () => {
      expectRefused(await tokenWith(await sign_(alice, { claims: { exp: 1e20 } })));
      expectRefused(await tokenWith(await sign_(alice, { claims: { exp: 1e20, iat: undefined } })));
    });

    it('nbf far in the future is refused', async () => {
      const now = Math.floor(Date.now() / 1000);
      expectRefused(await tokenWith(await sign_(alice, { claims: { nbf: now + 3600 } })));
    });

    it('nbf as a string is refused', async () => {
      expectRefused(await tokenWith(await sign_(alice, { claims: { nbf: 'yesterday' } })));
    });

    it('a 10 KB jti is refused without a 5xx', async () => {
      expectRefused(await tokenWith(await sign_(alice, { claims: { jti: 'j'.repeat(10_000) } })));
    });

    it('a non-string jti (number, object) is refused or accepted, never a 5xx', async () => {
      for (const jti of [12345, { a: 1 }]) {
        const res = await tokenWith(await sign_(alice, { claims: { jti } }));
        expect(res.status, res.text).toBeLessThan(500);
      }
    });
  });

  describe('RFC 7523 §3 item 7 / rfc7523bis: replay', () => {
    it('the same assertion twice: the second is refused', async () => {
      const jws = await sign_(alice);
      expectOk(await tokenWith(jws));
      expectRefused(await tokenWith(jws));
    });

    it('the same jti with a different exp (a new signature) is refused', async () => {
      const jti = `replay-${Date.now()}`;
      const now = Math.floor(Date.now() / 1000);
      expectOk(await tokenWith(await sign_(alice, { claims: { jti, exp: now + 60 } })));
      expectRefused(await tokenWith(await sign_(alice, { claims: { jti, exp: now + 120 } })));
    });

    it('another client may use the same jti (jti is unique per issuer)', async () => {
      const jti = `shared-${Date.now()}`;
      expectOk(await tokenWith(await sign_(alice, { claims: { jti } })));
      expectOk(await tokenWith(await sign_(bob, { claims: { jti } })));
    });

    it('a refused (bad signature) assertion does not burn its jti', async () => {
      const jti = `unburnt-${Date.now()}`;
      const forged = await signAssertion(bob.key.privateJwk, alice.clientId, server.issuer, {
        claims: { jti },
        header: { kid: alice.key.kid },
      });
      expectRefused(await tokenWith(forged));
      expectOk(await tokenWith(await sign_(alice, { claims: { jti } })));
    });

    it('re-encoded copies of an assertion (non-canonical base64url) are refused at parse, before the replay check', async () => {
      // RFC 7515 §2 / RFC 4648 §3.5: the unused low bits of a final base64url character must be
      // zero. Decoders ignore them, so flipping them spells the same signed bytes differently.
      // Each copy is sent *before* the genuine assertion: had any reached the replay store, it
      // would have claimed the jti (or got a token) and the genuine one would then be refused.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const jws = await sign_(alice);
      const parts = jws.split('.');
      const copies: string[] = [];
      parts.forEach((part, index) => {
        const unused = [0, 0, 4, 2][part.length % 4] as number;
        const last = alphabet.indexOf(part.at(-1) as string);
        const others = parts.map((p) => p);
        if (unused > 0) {
          others[index] = `${part.slice(0, -1)}${alphabet[last | 1]}`;
          copies.push(others.join('.'));
        }
        // Standard-alphabet and padded spellings of the same part.
        const padded = parts.map((p) => p);
        padded[index] = `${part}${'='.repeat((4 - (part.length % 4)) % 4 || 4)}`;
        copies.push(padded.join('.'));
      });
      const std = jws.replace(/-/g, '+').replace(/_/g, '/');
      if (std !== jws) copies.push(std);
      // The signature (64 bytes for ES256) always ends with 4 unused bits.
      expect(copies.length).toBeGreaterThanOrEqual(4);
      for (const copy of copies) {
        expect(copy).not.toBe(jws);
        const res = await tokenWith(copy);
        expectRefused(res);
        expect(res.json?.error_description).toMatch(/canonical base64url/);
      }
      expectOk(await tokenWith(jws));
      expectRefused(await tokenWith(jws));
    });

    it('concurrent replays of one assertion: exactly one token', async () => {
      const jws = await sign_(alice);
      const results = await Promise.all(Array.from({ length: 8 }, () => tokenWith(jws)));
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    });
  });

  describe('rfc7523bis audience: the issuer identifier as the sole value', () => {
    it('aud = [issuer] (single-element array) is accepted', async () => {
      expectOk(await tokenWith(await sign_(alice, { claims: { aud: [server.issuer] } })));
    });

    for (const [label, aud] of [
      ['a trailing slash', () => `${server.issuer}/`],
      ['an upper-case host', () => server.issuer.replace('localhost', 'LOCALHOST')],
      ['an upper-case scheme', () => server.issuer.replace('https', 'HTTPS')],
      ['the token endpoint URL', () => `${server.issuer}/token`],
      ['the 127.0.0.1 origin', () => server.base],
      ['http instead of https', () => server.issuer.replace('https', 'http')],
      ['an explicit default port', () => `${server.issuer}:443`],
      ['the issuer plus another audience', () => [server.issuer, 'https://other.test']],
      ['another audience plus the issuer', () => ['https://other.test', server.issuer]],
      ['an empty array', () => []],
      ['an empty string', () => ''],
      ['a number', () => 1],
      ['an object', () => ({ aud: server.issuer })],
    ] as const) {
      it(`aud as ${label} is refused (Simple String Comparison, sole value)`, async () => {
        expectRefused(await tokenWith(await sign_(alice, { claims: { aud: aud() } })));
      });
    }
  });

  describe('RFC 8725 §3.11 explicit typing: no cross-JWT confusion', () => {
    it('typ client-authentication+jwt, JWT and absent are accepted', async () => {
      expectOk(
        await tokenWith(await sign_(alice, { header: { typ: 'client-authentication+jwt' } })),
      );
      expectOk(await tokenWith(await sign_(alice, { header: { typ: 'JWT' } })));
      expectOk(await tokenWith(await sign_(alice, { header: { typ: undefined } })));
    });

    for (const typ of ['at+jwt', 'application/at+jwt', 'dpop+jwt', 'secevent+jwt', 'logout+jwt']) {
      it(`typ ${typ} (another JWT kind) is refused`, async () => {
        expectRefused(await tokenWith(await sign_(alice, { header: { typ } })));
      });
    }

    it('an access token Tollgate issued is not a client assertion', async () => {
      const issued = await tokenWith(await sign_(alice));
      expectOk(issued);
      expectRefused(await tokenWith(issued.json?.access_token as string));
    });
  });

  describe('RFC 7518 §3.3: key sizes', () => {
    it('an RS256 client registered with a 1024-bit key is refused at registration or at use', async () => {
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const publicJwk = { ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' };
      let tg: Awaited<ReturnType<typeof makeTollgate>> | undefined;
      try {
        tg = await makeTollgate({
          clients: [
            {
              client_id: 'weak-rsa',
              token_endpoint_auth_method: 'private_key_jwt',
              grant_types: ['client_credentials'],
              jwks: { keys: [publicJwk] },
              scope: 'read',
            },
          ],
          config: { rateLimits: { enabled: false } },
        });
      } catch (error) {
        expect(String(error)).toMatch(/2048|RSA|key/i);
        return;
      }
      try {
        const header = b64u(JSON.stringify({ alg: 'RS256', kid: 'weak' }));
        const payload = b64u(JSON.stringify(standardClaims('weak-rsa', 'https://tollgate.test')));
        const jws = signRaw(header, payload, weak.privateKey, { kind: 'pkcs1', digest: 'sha256' });
        const res = await tg.app.inject({
          method: 'POST',
          url: '/token',
          headers: { 'content-type': formType },
          payload: encode({
            grant_type: 'client_credentials',
            client_assertion_type: assertionType,
            client_assertion: jws,
          }),
        });
        expect(res.statusCode).toBe(401);
      } finally {
        await tg.dispose();
      }
    });

    it('an RSA 2048 key is fine (control via dev CA)', async () => {
      const key = await generateSigningJwk('RS256');
      expect(key.publicJwk.kty).toBe('RSA');
    });
  });
});
