/** Client authentication: one strategy per method and the dispatcher that picks one. */
export { ClientAuthDispatcher, type ClientAuthDispatcherOptions } from './dispatcher.js';
export {
  FederatedJwtAuthenticator,
  type FederatedJwtOptions,
} from './federated-jwt.js';
export {
  checkJwtSvidHeader,
  JwtSvidAuthenticator,
  type JwtSvidOptions,
  jwtSpiffeAssertionType,
} from './jwt-spiffe.js';
export {
  jwtBearerAssertionType,
  PrivateKeyJwtAuthenticator,
  type PrivateKeyJwtOptions,
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
export { X509SvidAuthenticator, type X509SvidOptions } from './x509-svid.js';
