/**
 * `tollgateResource`: a Fastify plugin that protects routes with certificate-bound access tokens.
 *
 * The caller's certificate comes from the TLS socket or, only when the socket's peer is a trusted
 * proxy, from that proxy's header (src/pki's CertificateSource, the same code the token endpoint
 * uses), so a header sent by anyone else can never vouch for a stolen token.
 *
 * Wrapped with fastify-plugin because its decorators are app-wide: `fastify.tollgate` and
 * `request.accessToken` must be visible to the routes the application declares next to it.
 * Authentication runs in `onRequest`, before any body is read.
 *
 * DPoP (RFC 9449 §7): `Authorization: DPoP` with a `DPoP` proof is accepted beside Bearer; the
 * proof's `htu` is checked against `dpop.publicOrigin`, which is required while DPoP is on (the
 * request's `Host` and absolute-form target are the sender's to choose, so an origin taken from
 * them would let a proof made for another instance of the same API pass here), and its `jti` is
 * remembered per instance in a bounded cache (see src/dpop/jti-cache.ts).
 *
 * @see RFC 6750 §2.1 and §3, RFC 8705 §3, RFC 9440, RFC 9449 §7 and §9
 */
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import {
  DpopJtiCache,
  DpopNonces,
  defaultDpopJtiCacheEntries,
  dpopHeaderValues,
} from '../dpop/index.js';
import {
  CertificateSource,
  type KeyPolicy,
  PkiError,
  type PresentedCertificate,
  type ProxyCertificateFormat,
  resolveKeyPolicy,
} from '../pki/index.js';
import { accessTokenOf, bearerTokenOf } from './bearer.js';
import { ResourceError, resourceChallenges } from './errors.js';
import { JwksFetchError, type RemoteJwks, remoteJwks } from './jwks.js';
import {
  type AccessTokenKeyResolver,
  checkAlgorithms,
  checkIdentifiers,
  defaultDpopAlgorithms,
  type VerifiedAccessToken,
  type VerifyAccessTokenOptions,
  verifyAccessToken,
} from './verify.js';

/** How this resource takes DPoP-bound tokens (RFC 9449 §7). */
export interface ResourceDpopOptions {
  /**
   * Accept `Authorization: DPoP`; default true, and then `publicOrigin` is required. Off:
   * DPoP-bound tokens cannot be used here.
   */
  readonly enabled?: boolean;
  /** Accepted proof algorithms (the challenge's `algs`); default ES256/384/512, PS256, EdDSA. */
  readonly algorithms?: readonly string[];
  /** How old a proof's `iat` may be; default 60 s. */
  readonly maxAgeSeconds?: number;
  /** How far ahead `iat` may be; default 10 s. */
  readonly clockToleranceSeconds?: number;
  /**
   * Required while DPoP is accepted: the origin clients call this API at
   * (`https://api.example.com`, the scheme, host and port of the URL they sign), or a list of at
   * most 8 for an API served under several names; a proof's `htu` must be
   * one of them followed by the request's path. There is no default: the request's `Host` header
   * and an absolute-form target are the sender's to choose, and a proof made for another instance
   * of the same API (whose replay cache is not this one's) would pass if either counted. List
   * only names that reach this instance.
   *
   * @see RFC 9449 §4.3 check 9, §7.1
   */
  readonly publicOrigin?: string | readonly string[];
  /** Most proof ids remembered for replay checks, per instance; default 100 000. */
  readonly jtiCacheEntries?: number;
  /**
   * Smallest RSA proof key, bits (Tollgate's key policy, as its `keyPolicy.minRsaBits`); default
   * 2048, only ever raised. Proof keys also need named curves P-256/384/521 or Ed25519/Ed448.
   */
  readonly minRsaBits?: number;
  /**
   * Require server nonces (RFC 9449 §9): `secret` (32 bytes or more) shared by every instance of
   * this API, `windowSeconds` default 60. Off by default.
   */
  readonly nonce?: { readonly secret?: Buffer; readonly windowSeconds?: number };
}

/** What a protected route needs beyond a valid token. */
export interface ProtectOptions {
  /** Scopes the token must grant (all of them). */
  readonly scopes?: readonly string[];
  /** Override the plugin's `requireBinding` for this route. */
  readonly requireBinding?: boolean;
}

export interface TollgateResourceOptions {
  /** The authorization server's issuer identifier (`iss`). */
  readonly issuer: string;
  /** This API's identifier(s): the `resource` clients ask tokens for; `aud` must contain one. */
  readonly audience: string | readonly string[];
  /** The issuer's `jwks_uri`; default `${issuer}/jwks` (Tollgate's). Ignored when `jwks` is set. */
  readonly jwksUri?: string;
  /** Extra trust anchors (PEM text) for fetching `jwksUri`, e.g. the dev CA root; as in TokenClient. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** A PEM file of extra trust anchors for fetching `jwksUri`; as in TokenClient. */
  readonly caFile?: string;
  /** @deprecated The old name of `ca`. */
  readonly jwksCa?: string | Buffer;
  /**
   * Fetch the issuer's keys at the first request instead of at start-up. By default the plugin
   * fetches them while it loads, so `await app.ready()` (or `register`) fails with the reason
   * (an untrusted certificate, an unreachable issuer) instead of every request answering 503.
   */
  readonly lazyJwks?: boolean;
  /** A key resolver to use instead of fetching `jwksUri` (tests, a local JWKS). */
  readonly jwks?: AccessTokenKeyResolver;
  /** Accepted token algorithms; default ES256, ES384, ES512, PS256, EdDSA, RS256. */
  readonly algorithms?: readonly string[];
  /** Accepted clock skew, seconds; default 30. */
  readonly clockToleranceSeconds?: number;
  /** Refuse tokens that are not sender-constrained (certificate- or DPoP-bound); default false. */
  readonly requireBinding?: boolean;
  /** DPoP (RFC 9449): accepted by default; see {@link ResourceDpopOptions}. */
  readonly dpop?: ResourceDpopOptions;
  /**
   * Proxies (CIDRs or addresses) whose client-certificate header is believed, judged by the
   * socket's peer address. Empty (default): headers are ignored and the TLS socket is the only
   * source.
   */
  readonly trustedProxies?: readonly string[];
  /** The header form the trusted proxies write; default `rfc9440` (`Client-Cert`). */
  readonly proxyFormat?: ProxyCertificateFormat;
  /** nginx's header for `$ssl_client_escaped_cert` (format `nginx`); default `x-ssl-client-cert`. */
  readonly nginxHeader?: string;
  /** Where certificates come from, when you build the CertificateSource yourself. */
  readonly certificateSource?: Pick<CertificateSource, 'fromRequest'>;
  /** `realm` of the `WWW-Authenticate` challenge; none by default. */
  readonly realm?: string;
  /** `Retry-After` seconds when the issuer's keys cannot be fetched; default 5. */
  readonly retryAfterSeconds?: number;
  /** Wall clock, epoch ms (tests). */
  readonly now?: () => number;
}

/** `fastify.tollgate`. */
export interface TollgateResource {
  /**
   * An `onRequest` (or `preHandler`) hook that lets a request through only with a valid token
   * granting `scopes`; sets `request.accessToken`.
   */
  protect(options?: ProtectOptions | readonly string[]): onRequestHookHandler;
  /** Verifies a request's token without answering it: throws ResourceError. */
  verifyRequest(request: FastifyRequest, options?: ProtectOptions): Promise<VerifiedAccessToken>;
}

declare module 'fastify' {
  interface FastifyInstance {
    tollgate: TollgateResource;
  }
  interface FastifyRequest {
    /** The verified access token of a protected route; null elsewhere. */
    accessToken: VerifiedAccessToken | null;
  }
  interface FastifyContextConfig {
    /** Protects the route: `config: { tollgate: { scopes: ['read'] } }`. */
    tollgate?: ProtectOptions;
  }
}

const protectHooks = new WeakSet<object>();

const plugin: FastifyPluginAsync<TollgateResourceOptions> = async (fastify, options) => {
  const settings = prepare(options);
  if (settings.remote !== undefined && options.lazyJwks !== true) {
    await startupCheck(settings.remote);
  }

  const verifyRequest = async (
    request: FastifyRequest,
    protect: ProtectOptions = {},
  ): Promise<VerifiedAccessToken> => {
    // The token first: a request with none is answered without looking at certificates.
    const presented = { rawHeaders: request.raw.rawHeaders, url: request.raw.url };
    const { scheme, token } =
      settings.dpop === undefined
        ? { scheme: 'Bearer' as const, token: bearerTokenOf(presented) }
        : accessTokenOf(presented);
    const certificate = certificateOf(settings.certificates, request);
    const dpop = settings.dpop;
    return verifyAccessToken(token, {
      ...settings.verify,
      requiredScopes: protect.scopes ?? [],
      certificateThumbprint: certificate?.x5tS256,
      requireBinding: protect.requireBinding ?? settings.requireBinding,
      nowMs: settings.now(),
      scheme,
      ...(dpop === undefined || scheme !== 'DPoP'
        ? {}
        : {
            dpop: {
              proofs: dpopHeaderValues(request.raw.rawHeaders),
              method: request.method,
              uri: publicUris(request, dpop.publicOrigins),
              algorithms: dpop.algorithms,
              maxAgeSeconds: dpop.maxAgeSeconds,
              clockToleranceSeconds: dpop.clockToleranceSeconds,
              nonces: dpop.nonces,
              jtiCache: dpop.jtiCache,
              keyPolicy: dpop.keyPolicy,
            },
          }),
    });
  };

  const protect = (wanted: ProtectOptions | readonly string[] = {}): onRequestHookHandler => {
    const route: ProtectOptions = isScopeList(wanted) ? { scopes: wanted } : wanted;
    const hook = async function tollgateProtect(request: FastifyRequest, reply: FastifyReply) {
      try {
        request.accessToken = await verifyRequest(request, route);
        // RFC 9449 §9: keep DPoP clients supplied with the current nonce. §8.2: a response that
        // carries one should not be cached (a stale nonce would be served again); the route may
        // still set its own Cache-Control.
        const nonce = settings.dpop?.nonces?.current(settings.now());
        if (nonce !== undefined) {
          reply.header('dpop-nonce', nonce);
          reply.header('cache-control', 'no-store');
        }
      } catch (thrown) {
        if (!(thrown instanceof ResourceError)) throw thrown;
        logRejection(request, thrown);
        return sendResourceError(reply, thrown, settings);
      }
      return undefined;
    };
    protectHooks.add(hook);
    return hook as onRequestHookHandler;
  };

  fastify.decorateRequest('accessToken', null);
  fastify.decorate('tollgate', { protect, verifyRequest } satisfies TollgateResource);

  // Routes that declare `config.tollgate` get the hook first in their onRequest chain.
  fastify.addHook('onRoute', (route) => {
    const wanted = route.config?.tollgate;
    if (wanted === undefined) return;
    const existing =
      route.onRequest === undefined
        ? []
        : Array.isArray(route.onRequest)
          ? route.onRequest
          : [route.onRequest];
    if (existing.some((hook) => protectHooks.has(hook))) return;
    route.onRequest = [protect(wanted), ...existing] as NonNullable<typeof route.onRequest>;
  });
};

/** The plugin. Register it before the routes it protects. */
export const tollgateResource = fp(plugin, { fastify: '5.x', name: 'tollgate-resource' });

interface Settings {
  readonly verify: Pick<
    VerifyAccessTokenOptions,
    'issuer' | 'audience' | 'jwks' | 'algorithms' | 'clockToleranceSeconds'
  >;
  /** The remote key set the plugin fetches itself (none when the caller gave `jwks`). */
  readonly remote: RemoteJwks | undefined;
  readonly requireBinding: boolean;
  readonly certificates: Pick<CertificateSource, 'fromRequest'>;
  readonly realm: string | undefined;
  readonly retryAfterSeconds: number;
  readonly now: () => number;
  readonly dpop:
    | {
        readonly algorithms: readonly string[];
        readonly maxAgeSeconds: number;
        readonly clockToleranceSeconds: number;
        readonly publicOrigins: readonly string[];
        readonly nonces: DpopNonces | undefined;
        readonly jtiCache: DpopJtiCache;
        readonly keyPolicy: KeyPolicy;
      }
    | undefined;
}

/** Checks the options once, at registration: bad configuration stops start-up. */
function prepare(options: TollgateResourceOptions): Settings {
  try {
    checkIdentifiers(options.issuer, options.audience);
  } catch (error) {
    throw new TypeError(`tollgateResource: ${(error as Error).message}`);
  }
  if (options.algorithms !== undefined) checkAlgorithms(options.algorithms);
  if (options.ca !== undefined && options.jwksCa !== undefined) {
    throw new TypeError('tollgateResource: give `ca` (jwksCa is its old name), not both');
  }
  const ca = options.ca ?? options.jwksCa;
  const remote =
    options.jwks === undefined
      ? remoteJwks(options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/jwks`, {
          ...(ca === undefined ? {} : { ca }),
          ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
        })
      : undefined;
  const jwks = options.jwks ?? (remote as AccessTokenKeyResolver);
  const trustedProxies = options.trustedProxies ?? [];
  const certificates =
    options.certificateSource ??
    new CertificateSource({
      trustedProxies,
      proxyFormat: trustedProxies.length > 0 ? (options.proxyFormat ?? 'rfc9440') : null,
      ...(options.nginxHeader === undefined ? {} : { nginxHeader: options.nginxHeader }),
    });
  return {
    verify: {
      issuer: options.issuer,
      audience: options.audience,
      jwks,
      ...(options.algorithms === undefined ? {} : { algorithms: options.algorithms }),
      ...(options.clockToleranceSeconds === undefined
        ? {}
        : { clockToleranceSeconds: options.clockToleranceSeconds }),
    },
    remote,
    requireBinding: options.requireBinding ?? false,
    certificates,
    realm: options.realm,
    retryAfterSeconds: options.retryAfterSeconds ?? 5,
    now: options.now ?? Date.now,
    dpop: prepareDpop(options.dpop),
  };
}

/** The key policy of proof keys; a `minRsaBits` below 2048 or not a multiple of 8 stops start-up. */
function resolveDpopKeyPolicy(minRsaBits: number | undefined): KeyPolicy {
  try {
    return resolveKeyPolicy(minRsaBits === undefined ? {} : { minRsaBits });
  } catch (error) {
    throw new TypeError(`tollgateResource: dpop.${(error as Error).message}`);
  }
}

function prepareDpop(options: ResourceDpopOptions = {}): Settings['dpop'] {
  if (options.enabled === false) return undefined;
  const algorithms = options.algorithms ?? defaultDpopAlgorithms;
  checkAlgorithms(algorithms);
  const publicOrigins = resolvePublicOrigins(options.publicOrigin);
  const maxAgeSeconds = options.maxAgeSeconds ?? 60;
  const clockToleranceSeconds = options.clockToleranceSeconds ?? 10;
  if (
    !(maxAgeSeconds > 0 && maxAgeSeconds <= 600) ||
    !(clockToleranceSeconds >= 0 && clockToleranceSeconds <= 300)
  ) {
    throw new TypeError(
      'tollgateResource: dpop.maxAgeSeconds must be in (0, 600], clockToleranceSeconds in [0, 300]',
    );
  }
  return {
    algorithms,
    maxAgeSeconds,
    clockToleranceSeconds,
    publicOrigins,
    nonces:
      options.nonce === undefined
        ? undefined
        : new DpopNonces({
            secret: options.nonce.secret,
            windowSeconds: options.nonce.windowSeconds ?? 60,
            purpose: 'resource',
          }),
    jtiCache: new DpopJtiCache({
      maxEntries: options.jtiCacheEntries ?? defaultDpopJtiCacheEntries,
    }),
    keyPolicy: resolveDpopKeyPolicy(options.minRsaBits),
  };
}

/** Most origins `dpop.publicOrigin` may list: every DPoP request compares its proof with each. */
const maxPublicOrigins = 8;

/**
 * `dpop.publicOrigin` as a list of origins. Required: no default can come from the request (its
 * `Host` and absolute-form target are the sender's), and a guess from this server's own address
 * is wrong behind any proxy, so a missing one stops start-up instead.
 *
 * @see RFC 9449 §4.3 check 9, §7.1
 */
function resolvePublicOrigins(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) {
    throw new TypeError(
      'tollgateResource: dpop.publicOrigin is required while DPoP is accepted: set it to the origin clients call this API at (https://api.example.com, or a list of them), or set dpop.enabled: false',
    );
  }
  const list: readonly unknown[] = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > maxPublicOrigins) {
    throw new TypeError(
      `tollgateResource: dpop.publicOrigin must be one origin or a list of 1 to ${maxPublicOrigins}`,
    );
  }
  const origins = list.map((one) => {
    const url = typeof one === 'string' && URL.canParse(one) ? new URL(one) : undefined;
    if (
      url === undefined ||
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      url.username !== '' ||
      url.password !== '' ||
      url.pathname !== '/' ||
      url.search !== '' ||
      url.hash !== ''
    ) {
      throw new TypeError(
        'tollgateResource: dpop.publicOrigin must be an origin like https://api.example.com',
      );
    }
    return url.origin;
  });
  return [...new Set(origins)];
}

/**
 * The URIs a DPoP proof may name for this request (RFC 9449 §4.3 check 9): each configured public
 * origin with the request's path (the query is ignored by the comparison anyway).
 *
 * The request target may be in absolute-form (`GET https://api.example.com/orders HTTP/1.1`),
 * which RFC 9112 §3.2.2 says a server MUST accept; Node passes it through as `request.url`.
 * Only its path counts: its authority, like the `Host` header, is the sender's to choose. A
 * target in neither origin- nor absolute-form names nothing a proof may match (an empty list).
 *
 * @see RFC 9112 §3.2 and §3.3 (the effective target URI)
 */
function publicUris(request: FastifyRequest, origins: readonly string[]): readonly string[] {
  const target = request.raw.url ?? '/';
  if (target.startsWith('/')) return origins.map((origin) => `${origin}${target}`);
  const absolute = absoluteForm(target);
  if (absolute === undefined) return [];
  return origins.map((origin) => `${origin}${absolute.pathname}${absolute.search}`);
}

/** The request target as a URL when it is an absolute-form http(s) URI (RFC 9112 §3.2.2). */
function absoluteForm(target: string): URL | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(target) || !URL.canParse(target)) return undefined;
  const url = new URL(target);
  return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
}

/**
 * Fetches the issuer's keys once while the plugin loads, so that a wrong `ca`, issuer URL or an
 * unreachable issuer stops start-up with the reason (the default; `lazyJwks` opts out).
 */
async function startupCheck(remote: RemoteJwks): Promise<void> {
  try {
    await remote.reload();
  } catch (error) {
    const reason =
      error instanceof JwksFetchError
        ? error.message
        : `the issuer's keys are unusable: ${(error as Error).message}`;
    throw new Error(
      `tollgateResource: ${reason} (set lazyJwks: true to start without them and answer 503 until they load)`,
      { cause: error },
    );
  }
}

function isScopeList(value: ProtectOptions | readonly string[]): value is readonly string[] {
  return Array.isArray(value);
}

function certificateOf(
  source: Pick<CertificateSource, 'fromRequest'>,
  request: FastifyRequest,
): PresentedCertificate | undefined {
  try {
    return source.fromRequest({ socket: request.raw.socket, rawHeaders: request.raw.rawHeaders });
  } catch (error) {
    if (!(error instanceof PkiError)) throw error;
    throw new ResourceError(
      'invalid_request',
      'certificate_header_invalid',
      error.code === 'duplicate'
        ? 'a client certificate header was sent more than once'
        : 'the client certificate cannot be read',
      { cause: error },
    );
  }
}

/** RFC 6750 §3: the challenge, and a JSON body except for a request that sent no token. */
function sendResourceError(
  reply: FastifyReply,
  error: ResourceError,
  settings: Pick<Settings, 'realm' | 'retryAfterSeconds' | 'dpop'>,
): FastifyReply {
  const challenges = resourceChallenges(error, {
    realm: settings.realm,
    dpopAlgs: settings.dpop?.algorithms,
  });
  if (challenges.length > 0) {
    reply.header('www-authenticate', challenges.length === 1 ? challenges[0] : challenges);
  }
  if (error.dpopNonce !== undefined) reply.header('dpop-nonce', error.dpopNonce);
  if (error.code === 'temporarily_unavailable') {
    reply.header('retry-after', String(settings.retryAfterSeconds));
  }
  reply.header('cache-control', 'no-store');
  reply.code(error.status);
  if (error.isMissingToken) return reply.send();
  return reply
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: error.code, error_description: error.description }));
}

function logRejection(request: FastifyRequest, error: ResourceError): void {
  const line = { tollgate: { error: error.code, reason: error.reason } };
  if (error.code === 'temporarily_unavailable') {
    request.log.warn({ ...line, err: error.cause }, 'access token could not be verified');
  } else {
    request.log.info(line, 'access token refused');
  }
}
