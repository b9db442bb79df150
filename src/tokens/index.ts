/** Server signing keys, access-token minting and introspection. */
export {
  AccessTokenIssuer,
  type AccessTokenIssuerOptions,
  type MintedToken,
  type MintRequest,
} from './access-token.js';
export {
  type ActiveIntrospection,
  type IntrospectionResponse,
  TokenIntrospector,
  type TokenIntrospectorOptions,
} from './introspect.js';
export {
  checkKeyReload,
  type KeyReloadCheckOptions,
  KeyReloadRefusedError,
  KeyUse,
} from './key-reload.js';
export {
  activateKey,
  addKey,
  jwksMaxAgeSeconds,
  KeyRotationError,
  type KeyStatus,
  keyStatus,
  longestTokenLifetimeSeconds,
  pruneForcedKids,
  type RotatingKeyFile,
  removeKey,
  retireKey,
} from './key-rotation.js';
export {
  ensureSigningKeyFile,
  generateSigningJwk,
  type KeyFileRotation,
  loadSigningKeys,
  prepareSigningKeys,
  SigningKeyError,
  type SigningKeyFile,
  type SigningKeySet,
  writeSigningKeyFile,
} from './signing-keys.js';
