/**
 * Pre-signs a pool of fresh client assertions (unique `jti`) before any timed window, on every
 * core (worker threads), so that signing never limits the measurement. Each pool entry is a whole
 * urlencoded token-request body.
 *
 * @see RFC 7523 §3, draft-ietf-oauth-rfc7523bis (aud = issuer, typ client-authentication+jwt)
 */
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { jwtBearer } from './lib.mjs';

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * A DPoP proof (RFC 9449 §4.2) for one token request: ES256, the public jwk in the header, a
 * fresh jti; `iat` is the pool's start, so the server's window (dpop.maxAgeSeconds) must cover the
 * run (the DPoP scenario raises it).
 */
function dpopProof(key, jwk, htu, iat) {
  const header = b64({ typ: 'dpop+jwt', alg: 'ES256', jwk });
  const payload = b64({ jti: randomUUID(), htm: 'POST', htu, iat });
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key,
    dsaEncoding: 'ieee-p1363',
  });
  return `${header}.${payload}.${signature.toString('base64url')}`;
}

function signBodies({ privateJwk, clientId, audience, count, lifetimeSeconds, deadlineMs, dpop }) {
  // With `dpop` ({ privateJwk, htu }), each line is `<proof>\t<body>`: the load generator sends
  // the proof as the DPoP header.
  const dpopKey =
    dpop === undefined ? undefined : createPrivateKey({ key: dpop.privateJwk, format: 'jwk' });
  const dpopJwk =
    dpop === undefined
      ? undefined
      : {
          kty: dpop.privateJwk.kty,
          crv: dpop.privateJwk.crv,
          x: dpop.privateJwk.x,
          y: dpop.privateJwk.y,
        };
  const stopAt = Date.now() + (deadlineMs ?? 600_000);
  const alg = privateJwk.alg;
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
  const header = b64({ alg, kid: privateJwk.kid, typ: 'client-authentication+jwt' });
  const now = Math.floor(Date.now() / 1000);
  const prefix = `grant_type=client_credentials&client_assertion_type=${encodeURIComponent(jwtBearer)}&client_assertion=`;
  const bodies = [];
  for (let i = 0; i < count; i++) {
    if (i % 256 === 255 && Date.now() > stopAt) break;
    const payload = b64({
      iss: clientId,
      sub: clientId,
      aud: audience,
      iat: now,
      exp: now + lifetimeSeconds,
      jti: randomUUID(),
    });
    const input = `${header}.${payload}`;
    const signature = alg.startsWith('ES')
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), key);
    const body = `${prefix}${input}.${signature.toString('base64url')}`;
    bodies.push(
      dpopKey === undefined ? body : `${dpopProof(dpopKey, dpopJwk, dpop.htu, now)}\t${body}`,
    );
  }
  return bodies;
}

/**
 * Signs `count` token-request bodies for `clientId` with `privateJwk` (ES256 or RS256),
 * `aud` = `audience`, valid for `lifetimeSeconds` from now, split over every core. With
 * `deadlineMs`, stops early and returns fewer (the run is then bounded by count).
 */
export async function presignBodies(options) {
  const workers = Math.max(1, Math.min(availableParallelism(), 8));
  const share = Math.ceil(options.count / workers);
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, index) => {
      const count = Math.max(0, Math.min(share, options.count - index * share));
      return new Promise((resolve, reject) => {
        const worker = new Worker(new URL(import.meta.url), {
          workerData: { ...options, count },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    }),
  );
  return parts.flat();
}

if (!isMainThread && workerData !== null) {
  parentPort.postMessage(signBodies(workerData));
}
