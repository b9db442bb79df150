/** Client authentication: one strategy per method and the dispatcher that picks one. */
export { ClientAuthDispatcher, type ClientAuthDispatcherOptions } from './dispatcher.js';
export {
  jwtBearerAssertionType,
  PrivateKeyJwtAuthenticator,
  type PrivateKeyJwtOptions,
  replayStoreUnavailable,
} from './private-key-jwt.js';
export { SelfSignedTlsClientAuthenticator } from './self-signed-tls-client-auth.js';
export { TlsClientAuthenticator, type TlsClientAuthOptions } from './tls-client-auth.js';
export type {
  AuthenticatedClient,
  ClientAuthenticator,
  ClientAuthRequest,
  PresentedCertificate,
  RequestParams,
} from './types.js';
