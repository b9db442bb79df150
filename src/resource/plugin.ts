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
 * @see RFC 6750 §2.1 and §3, RFC 8705 §3, RFC 9440
 */
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import {
  CertificateSource,
  PkiError,
  type PresentedCertificate,
  type ProxyCertificateFormat,
} from '../pki/index.js';
import { bearerTokenOf } from './bearer.js';
import { bearerChallenge, ResourceError } from './errors.js';
import { JwksFetchError, type RemoteJwks, remoteJwks } from './jwks.js';
import {
  type AccessTokenKeyResolver,
  checkAlgorithms,
  type VerifiedAccessToken,
  type VerifyAccessTokenOptions,
  verifyAccessToken,
} from './verify.js';

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
  /** Refuse tokens that are not certificate-bound; default false. */
  readonly requireBinding?: boolean;
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
    const token = bearerTokenOf({ rawHeaders: request.raw.rawHeaders, url: request.raw.url });
    const certificate = certificateOf(settings.certificates, request);
    return verifyAccessToken(token, {
      ...settings.verify,
      requiredScopes: protect.scopes ?? [],
      certificateThumbprint: certificate?.x5tS256,
      requireBinding: protect.requireBinding ?? settings.requireBinding,
      nowMs: settings.now(),
    });
  };

  const protect = (wanted: ProtectOptions | readonly string[] = {}): onRequestHookHandler => {
    const route: ProtectOptions = isScopeList(wanted) ? { scopes: wanted } : wanted;
    const hook = async function tollgateProtect(request: FastifyRequest, reply: FastifyReply) {
      try {
        request.accessToken = await verifyRequest(request, route);
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
}

/** Checks the options once, at registration: bad configuration stops start-up. */
function prepare(options: TollgateResourceOptions): Settings {
  if (typeof options.issuer !== 'string' || options.issuer === '') {
    throw new TypeError('tollgateResource: issuer is required');
  }
  const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.some((a) => a === '')) {
    throw new TypeError('tollgateResource: audience is required');
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
  };
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
  settings: Pick<Settings, 'realm' | 'retryAfterSeconds'>,
): FastifyReply {
  const challenge = bearerChallenge(error, settings.realm);
  if (challenge !== undefined) reply.header('www-authenticate', challenge);
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
