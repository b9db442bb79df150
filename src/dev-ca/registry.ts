/**
 * Client registry entries for what the dev CA makes, in exactly the shape Tollgate loads.
 *
 * @see RFC 7591 §2 (client metadata), RFC 8705 §2.1.2 (tls_client_auth identity fields),
 *      RFC 8705 §2.2.2 (self-signed certificates in `jwks`)
 */
import type { JWK } from 'jose';
import type { ClientMetadata, TlsClientAuthIdentityField } from '../registry/metadata.js';
import type { IssuedClientCertificate } from './ca.js';

/** Which certificate attribute a tls_client_auth registration binds to. */
export const mtlsBindings = ['subject_dn', 'san_dns', 'san_uri', 'san_ip', 'san_email'] as const;
export type MtlsBinding = (typeof mtlsBindings)[number];

/** True when `value` names an mTLS binding. */
export function isMtlsBinding(value: unknown): value is MtlsBinding {
  return typeof value === 'string' && (mtlsBindings as readonly string[]).includes(value);
}

/** What a dev client may ask for beyond the defaults: its scope, its RFC 8707 resources. */
export interface CommonClientFields {
  readonly scope?: string;
  readonly allowedResources?: readonly string[];
}

/** A private_key_jwt registration with an inline `jwks`. @see RFC 7523 §2.2 */
export function privateKeyJwtEntry(
  clientId: string,
  publicJwk: JWK,
  common: CommonClientFields = {},
): ClientMetadata {
  return {
    ...base(clientId, common),
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [publicJwk] },
    ...(publicJwk.alg === undefined ? {} : { token_endpoint_auth_signing_alg: publicJwk.alg }),
  };
}

/**
 * A tls_client_auth registration bound to one attribute of `cert` (RFC 8705 §2.1.2 says exactly
 * one). For SAN bindings the first SAN of that form is used; a missing one is a TypeError.
 */
export function tlsClientAuthEntry(
  clientId: string,
  cert: Pick<IssuedClientCertificate, 'subject' | 'sans'>,
  binding: MtlsBinding = 'subject_dn',
  common: CommonClientFields = {},
): ClientMetadata {
  const field: TlsClientAuthIdentityField = `tls_client_auth_${binding}`;
  const { dns, uri, ip, email } = cert.sans;
  const sans = { san_dns: dns, san_uri: uri, san_ip: ip, san_email: email };
  const value = binding === 'subject_dn' ? cert.subject : sans[binding][0];
  if (value === undefined) {
    throw new TypeError(
      `dev-ca: ${clientId} binds to ${binding} but its certificate has no such SAN`,
    );
  }
  return {
    ...base(clientId, common),
    token_endpoint_auth_method: 'tls_client_auth',
    [field]: value,
    tls_client_certificate_bound_access_tokens: true,
  };
}

/** A self_signed_tls_client_auth registration with the certificate's JWK (with `x5c`). */
export function selfSignedEntry(
  clientId: string,
  jwk: JWK,
  common: CommonClientFields = {},
): ClientMetadata {
  return {
    ...base(clientId, common),
    token_endpoint_auth_method: 'self_signed_tls_client_auth',
    jwks: { keys: [jwk] },
    tls_client_certificate_bound_access_tokens: true,
  };
}

/** The registry file's shape: `{"clients": [...]}`. */
export interface RegistryFile {
  clients: ClientMetadata[];
}

/** Adds or replaces the entry with the same client_id, keeping the rest in order. */
export function upsertClient(registry: RegistryFile, entry: ClientMetadata): RegistryFile {
  const index = registry.clients.findIndex((c) => c.client_id === entry.client_id);
  const clients = [...registry.clients];
  if (index < 0) clients.push(entry);
  else clients[index] = entry;
  return { clients };
}

/** Fields every dev client gets: the demo scopes and the only grant Tollgate implements. */
function base(clientId: string, common: CommonClientFields) {
  const { scope = 'read write', allowedResources } = common;
  return {
    client_id: clientId,
    client_name: `${clientId} (Tollgate dev CA)`,
    grant_types: ['client_credentials'],
    scope,
    ...(allowedResources === undefined ? {} : { allowed_resources: [...allowedResources] }),
  };
}
