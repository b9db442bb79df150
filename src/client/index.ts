/**
 * `tollgate/client`: access tokens for machine clients, with private_key_jwt or mutual TLS,
 * cached, renewed ahead of expiry, and used over the TLS identity they are bound to.
 *
 * @see RFC 6749 §4.4, RFC 7523, draft-ietf-oauth-rfc7523bis, RFC 8705, RFC 8414, RFC 8707
 */
export {
  type ClientAssertionOptions,
  createClientAssertion,
  jwtBearerAssertionType,
} from './assertion.js';
export { parsePrivateJwk, type SigningKeyInput } from './credentials.js';
export {
  type AuthorizationServerMetadata,
  metadataUrl,
  validateMetadata,
} from './discovery.js';
export {
  TokenClientError,
  type TokenClientErrorLocalCode,
  type TokenClientErrorOptions,
} from './errors.js';
export { defaultRetryPolicy, type RetryPolicy } from './retry.js';
export {
  type AccessToken,
  type ClientAuthentication,
  type GetTokenOptions,
  jwtSpiffeAssertionType,
  type MtlsAuth,
  type PrivateKeyJwtAuth,
  type RefreshPolicy,
  TokenClient,
  type TokenClientOptions,
  type WorkloadTokenAuth,
} from './token-client.js';
export {
  postTokenRequest,
  type TokenFailure,
  type TokenRequestOptions,
  type TokenResult,
  type TokenSuccess,
} from './token-request.js';
