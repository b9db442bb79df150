/**
 * Tollgate: an OAuth 2.0 authorization server for the client credentials grant, with
 * private_key_jwt and RFC 8705 mutual-TLS client authentication and certificate-bound RFC 9068
 * access tokens.
 *
 * This entry point embeds the server; `tollgate/client` gets tokens and `tollgate/resource`
 * checks them.
 */
export {
  type Config,
  ConfigError,
  type ConfigInput,
  type ConfigProblem,
  defaults,
  type LoadConfigOptions,
  loadConfig,
  validateConfig,
} from './config/index.js';
export { createDevCa, type DevCa, ensureDevPki, runDevCaCli } from './dev-ca/index.js';
export { OAuthError, type OAuthErrorCode, type ReasonCode, reasonCodes } from './errors/index.js';
export { createTollgate, type Tollgate, type TollgateOptions } from './http/index.js';
export {
  type ClientMetadata,
  type ClientRegistry,
  loadRegistry,
  type RegisteredClient,
  RegistryError,
} from './registry/index.js';
export {
  MemoryReplayStore,
  RedisReplayStore,
  type ReplayStore,
  ReplayStoreError,
} from './replay/index.js';
export {
  activateKey,
  addKey,
  generateSigningJwk,
  loadSigningKeys,
  removeKey,
  retireKey,
  SigningKeyError,
} from './tokens/index.js';
