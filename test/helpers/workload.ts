/**
 * Workload identity fixtures: SPIFFE trust domains (an X.509 authority from the dev CA and a
 * JWT-SVID signing key), a Kubernetes-shaped service-account token issuer, and one https server
 * on 127.0.0.1 that serves bundle endpoints and issuer discovery/JWKS from a mutable route table.
 */
import { constants, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import {
  createDevCa,
  createJwtSvidIssuer,
  createServiceAccountIssuer,
  type DevCa,
  encodeDn,
  type IssuedClientCertificate,
  type JwtSvidIssuer,
  jwtSvidBundleKey,
  type SigningJwk,
} from '../../src/dev-ca/index.js';
import { generateDevKeyPair, loadDevKeyPair } from '../../src/dev-ca/keys.js';
import { buildCertificate, randomSerial } from '../../src/dev-ca/x509.js';
import { parseCertificate } from '../../src/pki/index.js';

/** A route's answer: JSON with a status, or `down` (the connection is destroyed). */
export type Route = { status?: number; body: unknown; contentType?: string } | 'down';

export interface FixtureServer {
  /** https://127.0.0.1:<port> */
  readonly base: string;
  /** PEM of the CA that signed the server certificate (the `caFile` of sources). */
  readonly caPem: string;
  readonly routes: Map<string, Route>;
  /** Requests served per path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Starts the https fixture server with a dev CA server certificate for 127.0.0.1. */
export async function startFixtureServer(ca: DevCa): Promise<FixtureServer> {
  const leaf = await ca.issueServer();
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const server: Server = createServer({ cert: leaf.chainPem, key: leaf.keyPem }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (route === 'down') {
      req.socket.destroy();
      return;
    }
    if (route === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(route.status ?? 200, { 'content-type': route.contentType ?? 'application/json' });
    res.end(JSON.stringify(route.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `https://127.0.0.1:${port}`,
    caPem: ca.root.certPem,
    routes,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Signs a compact JWS with any protected header (tests need headers a real signer would refuse). */
export async function signJwt(
  privateJwk: JWK,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Promise<string> {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  const key = createPrivateKey({
    key: privateJwk as Record<string, unknown>,
    format: 'jwk',
  } as Parameters<typeof createPrivateKey>[0]);
  const alg = String(header.alg);
  const digest = alg.startsWith('Ed') ? null : `sha${alg.slice(2)}`;
  const signature = sign(digest, Buffer.from(input), {
    key,
    ...(alg.startsWith('ES') ? { dsaEncoding: 'ieee-p1363' as const } : {}),
    ...(alg.startsWith('PS')
      ? { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : {}),
  });
  return `${input}.${signature.toString('base64url')}`;
}

export interface TrustDomain {
  readonly name: string;
  readonly ca: DevCa;
  readonly jwtKey: SigningJwk;
  /** The dev CA's JWT-SVID minter (what the well-formed SVIDs come from). */
  readonly svids: JwtSvidIssuer;
  /** The SPIFFE bundle document (both uses), with optional extra or replaced keys. */
  bundle(options?: {
    sequence?: number;
    refreshHint?: number;
    jwtKeys?: SigningJwk[];
    x509?: boolean;
  }): Record<string, unknown>;
  /** A JWT-SVID for `spiffe://<name><path>`, header and claims overridable. */
  jwtSvid(
    path: string,
    options: {
      aud: unknown;
      nowSeconds: number;
      header?: Record<string, unknown>;
      claims?: Record<string, unknown>;
      key?: SigningJwk;
    },
  ): Promise<string>;
  /** An X.509-SVID (leaf + intermediate chain) with the given URI SANs. */
  x509Svid(uris: readonly string[]): Promise<IssuedClientCertificate>;
  /** A CA certificate (cA=TRUE) with a SPIFFE URI SAN, signed by the intermediate: a "CA SVID". */
  caSvid(uri: string): Promise<{ cert: string; key: string }>;
}

/** A SPIFFE trust domain: a dev CA without name constraints and an ES256 JWT-SVID key. */
export async function createTrustDomain(name: string): Promise<TrustDomain> {
  const ca = await createDevCa({ permittedSubtrees: [] });
  const svids = await createJwtSvidIssuer(name);
  const jwtKey = svids.key;
  const jwk = jwtSvidBundleKey;
  return {
    name,
    ca,
    jwtKey,
    svids,
    bundle(options = {}) {
      const keys: unknown[] = [];
      if (options.x509 !== false) {
        keys.push({
          use: 'x509-svid',
          ...x509Jwk(ca.root.certPem),
          x5c: [ca.root.certDer.toString('base64')],
        });
      }
      for (const key of options.jwtKeys ?? [jwtKey]) keys.push(jwk(key));
      return {
        keys,
        ...(options.sequence === undefined ? {} : { spiffe_sequence: options.sequence }),
        ...(options.refreshHint === undefined ? {} : { spiffe_refresh_hint: options.refreshHint }),
      };
    },
    async jwtSvid(path, options) {
      if (
        options.header === undefined &&
        options.claims === undefined &&
        options.key === undefined
      ) {
        return svids.mint({
          path,
          audience: options.aud as string | string[],
          nowSeconds: options.nowSeconds,
        });
      }
      const key = options.key ?? jwtKey;
      return signJwt(
        key.privateJwk,
        { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header },
        {
          sub: `spiffe://${name}${path}`,
          aud: options.aud,
          iat: Math.floor(options.nowSeconds),
          exp: Math.floor(options.nowSeconds) + 300,
          ...options.claims,
        },
      );
    },
    x509Svid: (uris) => ca.issueClient({ subject: 'O=SPIRE,C=US', sanUri: uris }),
    async caSvid(uri) {
      const signer = loadDevKeyPair(ca.intermediate.keyPem);
      const subject = await generateDevKeyPair('p256');
      const intermediate = parseCertificate(ca.intermediate.certDer);
      const now = ca.now();
      const cert = buildCertificate({
        serial: randomSerial(),
        subject: encodeDn('CN=ca-svid,O=SPIRE,C=US'),
        issuer: Buffer.from(encodeDn(ca.intermediate.subject)),
        notBefore: now,
        notAfter: new Date(now.getTime() + 3_600_000),
        subjectSpki: subject.spkiDer,
        issuerSpki: Buffer.from(intermediate.spki),
        signer,
        ca: {},
        keyUsage: ['digitalSignature', 'keyCertSign'],
        subjectAltNames: { uri: [uri] },
      });
      return { cert: `${cert.pem}${ca.intermediate.certPem}`, key: subject.privateKeyPem };
    },
  };
}

function x509Jwk(certPem: string): JWK {
  return createPublicKey(certPem).export({ format: 'jwk' }) as JWK;
}

export interface WorkloadIssuer {
  /** The exact issuer URL. */
  readonly issuer: string;
  readonly key: SigningJwk;
  /** Publishes discovery and JWKS on the fixture server (or `down`). */
  publish(state?: 'up' | 'down'): void;
  /** A Kubernetes-shaped projected service-account token. */
  token(options: {
    namespace: string;
    serviceAccount: string;
    aud: unknown;
    nowSeconds: number;
    uid?: string;
    claims?: Record<string, unknown>;
    lifetimeSeconds?: number;
  }): Promise<string>;
}

/** A Kubernetes-like issuer at `<base><path>`: discovery and JWKS served by the fixture server. */
export async function createWorkloadIssuer(
  server: FixtureServer,
  path: string,
): Promise<WorkloadIssuer> {
  const issuer = `${server.base}${path}`;
  const sa = await createServiceAccountIssuer(issuer);
  const key = sa.key;
  return {
    issuer,
    key,
    publish(state = 'up') {
      const discovery = `${path}/.well-known/openid-configuration`;
      const jwks = `${path}/openid/v1/jwks`;
      if (state === 'down') {
        server.routes.set(discovery, 'down');
        server.routes.set(jwks, 'down');
        return;
      }
      server.routes.set(discovery, { body: sa.discovery(`${server.base}${jwks}`) });
      server.routes.set(jwks, { body: sa.jwks(), contentType: 'application/jwk-set+json' });
    },
    token(options) {
      if (options.claims === undefined) {
        return Promise.resolve(
          sa.mint({
            namespace: options.namespace,
            serviceAccount: options.serviceAccount,
            audience: options.aud as string | string[],
            nowSeconds: options.nowSeconds,
            serviceAccountUid: options.uid ?? '00000000-0000-4000-8000-000000000001',
            ...(options.lifetimeSeconds === undefined
              ? {}
              : { lifetimeSeconds: options.lifetimeSeconds }),
          }),
        );
      }
      const now = Math.floor(options.nowSeconds);
      return signJwt(
        key.privateJwk,
        { alg: 'RS256', kid: key.kid },
        {
          iss: issuer,
          sub: `system:serviceaccount:${options.namespace}:${options.serviceAccount}`,
          aud: options.aud,
          iat: now,
          nbf: now,
          exp: now + (options.lifetimeSeconds ?? 3600),
          jti: crypto.randomUUID(),
          'kubernetes.io': {
            namespace: options.namespace,
            serviceaccount: {
              name: options.serviceAccount,
              uid: options.uid ?? '00000000-0000-4000-8000-000000000001',
            },
            pod: { name: `${options.serviceAccount}-pod`, uid: crypto.randomUUID() },
          },
          ...options.claims,
        },
      );
    },
  };
}
