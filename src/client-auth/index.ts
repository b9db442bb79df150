/** Client authentication: one strategy per method and the dispatcher that picks one. */
export { ClientAuthDispatcher, type ClientAuthDispatcherOptions } from './dispatcher.js';
export {
  jwtBearerAssertionType,
  PrivateKeyJwtAuthenticator,
  type PrivateKeyJwtOptions,
} from './private-key-jwt.js';
export type {
  AuthenticatedClient,
  ClientAuthenticator,
  ClientAuthRequest,
  PresentedCertificate,
  RequestParams,
} from './types.js';
