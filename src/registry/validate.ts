/**
 * Validates registry entries (RFC 7591 metadata plus Tollgate's extensions) and prepares each
 * into a {@link RegisteredClient}: scopes split, resources checked, keys imported. One clear
 * message per problem, prefixed with where it is.
 *
 * @see RFC 7591 §2, RFC 8705 §2.1.2, §2.2.2, §3.4, RFC 8707 §2
 */
import { isIP } from 'node:net';
import { type AsymmetricAlg, isAsymmetricAlg } from '../jws/index.js';
import {
  type CertificateIdentity,
  compileIdentity,
  type IdentityType,
  type KeyPolicy,
  PkiError,
} from '../pki/index.js';
import { compileSpiffeIdPattern, type SpiffeIdPattern } from '../workload/spiffe-id.js';
import {
  type IntrospectionPermission,
  introspectionFields,
  validateIntrospectionPermission,
} from './introspection.js';
import { type ClientKey, importClientJwks, KeySetError } from './keys.js';
import {
  type ClientAuthMethod,
  type ClientMetadata,
  supportedAuthMethods,
  type TlsClientAuthIdentityField,
  tlsClientAuthIdentityFields,
  workloadAuthMethods,
} from './metadata.js';

/** Where a client's keys come from: imported at load, or fetched from its `jwks_uri`. */
export type ClientKeySource =
  | { readonly kind: 'none' }
  | { readonly kind: 'inline'; readonly keys: readonly ClientKey[] }
  | { readonly kind: 'remote'; readonly url: string; readonly remote: RemoteKeySet };

/** A remote key set (the `jwks_uri` cache). */
export interface RemoteKeySet {
  get(): Promise<readonly ClientKey[]>;
  /** A fresh set when the refetch throttle allows one, otherwise undefined. */
  refreshForUnknownKid(): Promise<readonly ClientKey[] | undefined>;
  /** Health of the cache (metrics). */
  status?(): { readonly state: string; readonly lastSuccessAtMs: number | undefined };
}

/** A registered client, validated and prepared for the hot path. */
export interface RegisteredClient extends IntrospectionPermission {
  readonly clientId: string;
  readonly authMethod: ClientAuthMethod;
  readonly grantTypes: ReadonlySet<string>;
  /** Registered scopes, in registration order: the default when a request names none. */
  readonly scopes: readonly string[];
  readonly scopeSet: ReadonlySet<string>;
  readonly allowedResources: ReadonlySet<string>;
  readonly defaultResource: string | undefined;
  readonly keys: ClientKeySource;
  readonly signingAlg: AsymmetricAlg | undefined;
  /**
   * RFC 8705 §3 binding: `when-presented` (field absent: bind whenever a certificate came with the
   * request), `required` (field true: a request without a certificate is refused), `never` (false).
   */
  readonly binding: 'when-presented' | 'required' | 'never';
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof. */
  readonly dpopBound: boolean;
  readonly accessTokenLifetimeSeconds: number | undefined;
  readonly maxAssertionLifetimeSeconds: number | undefined;
  /** Epoch ms until which the token endpoint URL is accepted as assertion `aud`. */
  readonly legacyAudienceUntilMs: number | undefined;
  /** The one registered RFC 8705 §2.1.2 identity of a `tls_client_auth` client. */
  readonly tlsIdentity:
    | { readonly field: TlsClientAuthIdentityField; readonly identity: CertificateIdentity }
    | undefined;
  readonly trustAnchorPins: readonly string[] | undefined;
  /** The workload identity of a `spiffe_jwt`, `spiffe_x509` or `federated_jwt` client. */
  readonly workloadIdentity: WorkloadIdentity | undefined;
  readonly metadata: Readonly<ClientMetadata>;
}

/** A registered workload identity, compiled. */
export type WorkloadIdentity =
  | { readonly kind: 'spiffe'; readonly pattern: SpiffeIdPattern }
  | {
      readonly kind: 'federated';
      readonly source: string;
      readonly subject: string;
      readonly namespace: string | undefined;
      readonly serviceAccountUid: string | undefined;
    };

export interface ValidateOptions {
  /** Assertion algorithms the server accepts (profile allowlist). */
  readonly allowedAssertionAlgs: readonly string[];
  /** Creates the cache for a `jwks_uri`. */
  readonly createRemoteKeySet: (url: string) => RemoteKeySet;
  /** The key policy registered keys must meet; default the pki default (RSA ≥ 2048). */
  readonly keyPolicy?: KeyPolicy;
}

/** Informational RFC 7591 fields that are accepted and kept, with no effect on the protocol. */
const informationalFields = new Set([
  'client_name',
  'client_uri',
  'logo_uri',
  'contacts',
  'tos_uri',
  'policy_uri',
  'software_id',
  'software_version',
]);

const knownFields = new Set<string>([
  ...informationalFields,
  'client_id',
  'token_endpoint_auth_method',
  'grant_types',
  'jwks',
  'jwks_uri',
  'token_endpoint_auth_signing_alg',
  'scope',
  'allowed_resources',
  'default_resource',
  ...tlsClientAuthIdentityFields,
  'tls_client_auth_trust_anchor_spki_sha256',
  'tls_client_certificate_bound_access_tokens',
  'dpop_bound_access_tokens',
  'access_token_lifetime',
  'max_assertion_lifetime',
  'legacy_audience',
  'spiffe_id',
  'federated_identity',
  ...introspectionFields,
]);

const secretMethods = new Set([
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'none',
]);

/** RFC 6749 Appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 6749 Appendix A.1: client-id = *VSCHAR; we also bound it and forbid spaces at the ends. */
const clientIdPattern = /^[\x21-\x7E](?:[\x20-\x7E]{0,253}[\x21-\x7E])?$/;

/** Splits a space-delimited scope string into unique tokens, or undefined if malformed. */
export function parseScope(scope: string): string[] | undefined {
  const tokens = scope.split(' ');
  if (tokens.some((token) => !scopeToken.test(token))) return undefined;
  return [...new Set(tokens)];
}

/**
 * An RFC 8707 resource indicator: an absolute URI without a fragment. The URI is kept as written
 * (the `aud` claim carries the client's exact string).
 */
export function isResourceIndicator(value: string): boolean {
  if (value.length > 2048 || value.includes('#') || !URL.canParse(value)) return false;
  return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(value);
}

/**
 * Validates one registry entry. Returns the prepared client, or the problems (each already
 * prefixed by nothing: the caller adds where the entry is).
 */
export function prepareClient(
  input: unknown,
  options: ValidateOptions,
): { client: RegisteredClient } | { problems: string[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { problems: ['must be a JSON object'] };
  }
  const entry = input as Record<string, unknown>;
  const problems: string[] = [];
  const problem = (field: string, message: string) => problems.push(`${field}: ${message}`);

  for (const field of Object.keys(entry)) {
    if (!knownFields.has(field)) problem(field, 'unknown field');
  }

  const clientId = entry.client_id;
  if (typeof clientId !== 'string' || !clientIdPattern.test(clientId)) {
    problem('client_id', 'must be 1-255 printable ASCII characters, no leading or trailing space');
  }

  const method = entry.token_endpoint_auth_method;
  let authMethod: ClientAuthMethod | undefined;
  if (typeof method === 'string' && (supportedAuthMethods as readonly string[]).includes(method)) {
    authMethod = method as ClientAuthMethod;
  } else if (typeof method === 'string' && secretMethods.has(method)) {
    problem(
      'token_endpoint_auth_method',
      `${method} is not supported: Tollgate uses no shared secrets (use ${supportedAuthMethods.join(', ')})`,
    );
  } else {
    problem(
      'token_endpoint_auth_method',
      `must be one of ${supportedAuthMethods.join(', ')} (got ${JSON.stringify(method)})`,
    );
  }

  let grantTypes: Set<string> = new Set(['client_credentials']);
  if (entry.grant_types !== undefined) {
    if (!isStringArray(entry.grant_types)) problem('grant_types', 'must be an array of strings');
    else grantTypes = new Set(entry.grant_types);
  }

  // Keys: jwks and jwks_uri are exclusive (RFC 7591 §2).
  let keys: ClientKeySource = { kind: 'none' };
  if (entry.jwks !== undefined && entry.jwks_uri !== undefined) {
    problem('jwks', 'jwks and jwks_uri must not both be present (RFC 7591 §2)');
  } else if (entry.jwks !== undefined) {
    try {
      keys = { kind: 'inline', keys: importClientJwks(entry.jwks, options.keyPolicy) };
    } catch (error) {
      if (!(error instanceof KeySetError)) throw error;
      for (const message of error.problems) problem('jwks', message);
    }
  } else if (entry.jwks_uri !== undefined) {
    const uri = entry.jwks_uri;
    if (typeof uri !== 'string' || !URL.canParse(uri) || new URL(uri).protocol !== 'https:') {
      problem('jwks_uri', 'must be an https URL');
    } else {
      keys = { kind: 'remote', url: uri, remote: options.createRemoteKeySet(uri) };
    }
  }

  let signingAlg: AsymmetricAlg | undefined;
  if (entry.token_endpoint_auth_signing_alg !== undefined) {
    const alg = entry.token_endpoint_auth_signing_alg;
    if (!isAsymmetricAlg(alg) || !options.allowedAssertionAlgs.includes(alg)) {
      problem(
        'token_endpoint_auth_signing_alg',
        `${JSON.stringify(alg)} is not accepted by this server (${options.allowedAssertionAlgs.join(', ')})`,
      );
    } else {
      signingAlg = alg;
    }
  }

  let scopes: string[] = [];
  if (entry.scope !== undefined) {
    const parsed = typeof entry.scope === 'string' ? parseScope(entry.scope) : undefined;
    if (parsed === undefined)
      problem('scope', 'must be space-separated scope tokens (RFC 6749 §3.3)');
    else scopes = parsed;
  }

  let allowedResources: string[] = [];
  if (entry.allowed_resources !== undefined) {
    if (!isStringArray(entry.allowed_resources)) {
      problem('allowed_resources', 'must be an array of absolute URIs');
    } else {
      allowedResources = entry.allowed_resources;
      for (const resource of allowedResources) {
        if (!isResourceIndicator(resource)) {
          problem(
            'allowed_resources',
            `${JSON.stringify(resource)} is not an absolute URI without a fragment (RFC 8707 §2)`,
          );
        }
      }
    }
  }
  let defaultResource: string | undefined;
  if (entry.default_resource !== undefined) {
    if (
      typeof entry.default_resource !== 'string' ||
      !allowedResources.includes(entry.default_resource)
    ) {
      problem('default_resource', 'must be one of allowed_resources');
    } else {
      defaultResource = entry.default_resource;
    }
  }

  // RFC 8705 §2.1.2: exactly one identity for tls_client_auth, and only for it.
  const identities = tlsClientAuthIdentityFields.filter((field) => entry[field] !== undefined);
  let tlsIdentity: RegisteredClient['tlsIdentity'];
  if (identities.length > 1) {
    problem(
      identities.join(', '),
      'register exactly one tls_client_auth_* value (RFC 8705 §2.1.2)',
    );
  } else if (identities.length === 1) {
    const field = identities[0] as TlsClientAuthIdentityField;
    const value = entry[field];
    const identityProblem = checkIdentity(field, value);
    if (authMethod !== undefined && authMethod !== 'tls_client_auth') {
      problem(field, 'is only used with token_endpoint_auth_method tls_client_auth');
    } else if (identityProblem !== undefined) {
      problem(field, identityProblem);
    } else {
      try {
        const type = field.slice('tls_client_auth_'.length) as IdentityType;
        tlsIdentity = { field, identity: compileIdentity(type, value) };
      } catch (error) {
        if (!(error instanceof PkiError)) throw error;
        problem(field, error.message);
      }
    }
  }

  let trustAnchorPins: string[] | undefined;
  if (entry.tls_client_auth_trust_anchor_spki_sha256 !== undefined) {
    const pins = entry.tls_client_auth_trust_anchor_spki_sha256;
    if (
      !isStringArray(pins) ||
      pins.length === 0 ||
      !pins.every((pin) => /^[A-Za-z0-9_-]{43}$/.test(pin))
    ) {
      problem(
        'tls_client_auth_trust_anchor_spki_sha256',
        'must be a non-empty array of base64url SHA-256 values',
      );
    } else if (authMethod !== undefined && authMethod !== 'tls_client_auth') {
      problem('tls_client_auth_trust_anchor_spki_sha256', 'is only used with tls_client_auth');
    } else {
      trustAnchorPins = pins;
    }
  }

  const bound = entry.tls_client_certificate_bound_access_tokens;
  if (bound !== undefined && typeof bound !== 'boolean') {
    problem('tls_client_certificate_bound_access_tokens', 'must be true or false');
  }
  const dpopBound = entry.dpop_bound_access_tokens;
  if (dpopBound !== undefined && typeof dpopBound !== 'boolean') {
    problem('dpop_bound_access_tokens', 'must be true or false');
  }
  if (dpopBound === true && bound === true) {
    // One binding per token: a client cannot require both.
    problem(
      'dpop_bound_access_tokens',
      'cannot be true together with tls_client_certificate_bound_access_tokens: true (one binding per token)',
    );
  }
  const accessTokenLifetime = integerField(entry, 'access_token_lifetime', 1, 86_400, problem);
  const maxAssertionLifetime = integerField(entry, 'max_assertion_lifetime', 1, 3600, problem);

  let legacyAudienceUntilMs: number | undefined;
  if (entry.legacy_audience !== undefined) {
    const legacy = entry.legacy_audience as { until?: unknown } | null;
    const until = typeof legacy === 'object' && legacy !== null ? legacy.until : undefined;
    const ms =
      typeof until === 'string' && /^\d{4}-\d{2}-\d{2}/.test(until)
        ? Date.parse(until)
        : Number.NaN;
    if (Number.isNaN(ms) || Object.keys(legacy ?? {}).length !== 1) {
      problem('legacy_audience', 'must be {"until": "<ISO 8601 date>"}: the opt-in must expire');
    } else if (authMethod !== undefined && authMethod !== 'private_key_jwt') {
      problem('legacy_audience', 'is only used with private_key_jwt');
    } else {
      legacyAudienceUntilMs = ms;
    }
  }

  const introspection = validateIntrospectionPermission(entry, problem, isResourceIndicator);

  for (const field of [
    'client_name',
    'client_uri',
    'logo_uri',
    'tos_uri',
    'policy_uri',
    'software_id',
    'software_version',
  ]) {
    if (entry[field] !== undefined && typeof entry[field] !== 'string')
      problem(field, 'must be a string');
  }

  const workloadIdentity = checkWorkloadIdentity(entry, authMethod, problem);

  // Method-specific requirements.
  const keysAbsent = entry.jwks === undefined && entry.jwks_uri === undefined;
  if (authMethod === 'private_key_jwt' && keysAbsent) {
    problem('jwks', 'private_key_jwt needs jwks or jwks_uri');
  }
  if (authMethod === 'tls_client_auth' && identities.length === 0) {
    problem(
      'token_endpoint_auth_method',
      `tls_client_auth needs one of ${tlsClientAuthIdentityFields.join(', ')} (RFC 8705 §2.1.2)`,
    );
  }
  if (authMethod === 'self_signed_tls_client_auth') {
    if (keys.kind === 'remote')
      problem(
        'jwks_uri',
        'self_signed_tls_client_auth needs inline jwks (jwks_uri is not supported for it)',
      );
    else if (keysAbsent)
      problem('jwks', 'self_signed_tls_client_auth needs jwks with the client certificates (x5c)');
  }
  if (
    authMethod !== undefined &&
    (workloadAuthMethods as readonly string[]).includes(authMethod) &&
    (entry.jwks !== undefined || entry.jwks_uri !== undefined)
  ) {
    // No downgrade: a workload client has no key of its own that private_key_jwt could use.
    problem('jwks', `${authMethod} clients register no keys (a trust source vouches for them)`);
  }
  if (authMethod !== undefined && authMethod !== 'private_key_jwt' && signingAlg !== undefined) {
    problem('token_endpoint_auth_signing_alg', 'is only used with private_key_jwt');
  }

  if (problems.length > 0 || authMethod === undefined || typeof clientId !== 'string') {
    return { problems };
  }
  return {
    client: {
      clientId,
      authMethod,
      grantTypes,
      scopes,
      scopeSet: new Set(scopes),
      allowedResources: new Set(allowedResources),
      defaultResource,
      keys,
      signingAlg,
      binding: bound === undefined ? 'when-presented' : bound ? 'required' : 'never',
      dpopBound: dpopBound === true,
      accessTokenLifetimeSeconds: accessTokenLifetime,
      maxAssertionLifetimeSeconds: maxAssertionLifetime,
      legacyAudienceUntilMs,
      tlsIdentity,
      trustAnchorPins,
      workloadIdentity,
      ...introspection,
      metadata: entry as unknown as ClientMetadata,
    },
  };
}

/** `spiffe_id` for the SPIFFE methods, `federated_identity` for federated_jwt, and only there. */
function checkWorkloadIdentity(
  entry: Record<string, unknown>,
  authMethod: ClientAuthMethod | undefined,
  problem: (field: string, message: string) => void,
): WorkloadIdentity | undefined {
  const spiffeMethod = authMethod === 'spiffe_jwt' || authMethod === 'spiffe_x509';
  if (entry.spiffe_id !== undefined && authMethod !== undefined && !spiffeMethod) {
    problem('spiffe_id', 'is only used with spiffe_jwt or spiffe_x509');
    return undefined;
  }
  if (
    entry.federated_identity !== undefined &&
    authMethod !== undefined &&
    authMethod !== 'federated_jwt'
  ) {
    problem('federated_identity', 'is only used with federated_jwt');
    return undefined;
  }
  if (spiffeMethod) {
    if (entry.spiffe_id === undefined) {
      problem('spiffe_id', `${authMethod} needs spiffe_id`);
      return undefined;
    }
    const pattern = compileSpiffeIdPattern(entry.spiffe_id);
    if (typeof pattern === 'string') {
      problem('spiffe_id', `not a SPIFFE ID or /* pattern: ${pattern}`);
      return undefined;
    }
    return { kind: 'spiffe', pattern };
  }
  if (authMethod !== 'federated_jwt') return undefined;
  const value = entry.federated_identity;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problem('federated_identity', 'federated_jwt needs federated_identity {source, subject}');
    return undefined;
  }
  const record = value as Record<string, unknown>;
  const allowed = ['source', 'subject', 'kubernetes_namespace', 'kubernetes_service_account_uid'];
  const unknown = Object.keys(record).filter((key) => !allowed.includes(key));
  const text = (field: string, required: boolean): string | undefined => {
    const v = record[field];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.length === 0 || v.length > 512 || !/^[\x21-\x7e]+$/.test(v)) {
      problem(`federated_identity.${field}`, 'must be a non-empty printable ASCII string');
      return undefined;
    }
    return v;
  };
  if (unknown.length > 0) problem('federated_identity', `unknown field ${unknown.join(', ')}`);
  const source = text('source', true);
  const subject = text('subject', true);
  const namespace = text('kubernetes_namespace', false);
  const serviceAccountUid = text('kubernetes_service_account_uid', false);
  if (source === undefined || subject === undefined || unknown.length > 0) return undefined;
  return { kind: 'federated', source, subject, namespace, serviceAccountUid };
}

function checkIdentity(field: TlsClientAuthIdentityField, value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    return 'must be a non-empty string';
  }
  switch (field) {
    case 'tls_client_auth_san_ip':
      return isIP(value) === 0 ? 'must be an IPv4 or IPv6 address' : undefined;
    case 'tls_client_auth_san_uri':
      return URL.canParse(value) ? undefined : 'must be an absolute URI';
    case 'tls_client_auth_san_email':
      return /^[^@\s]+@[^@\s]+$/.test(value) ? undefined : 'must be an email address';
    case 'tls_client_auth_san_dns':
      return /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(
        value,
      )
        ? undefined
        : 'must be a DNS name';
    case 'tls_client_auth_subject_dn':
      return undefined; // parsed per RFC 4514 by compileIdentity
  }
}

function integerField(
  entry: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
  problem: (field: string, message: string) => void,
): number | undefined {
  const value = entry[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problem(field, `must be an integer from ${min} to ${max} (seconds)`);
    return undefined;
  }
  return value;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
