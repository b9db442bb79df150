/** Server signing keys and access-token minting. */
export {
  AccessTokenIssuer,
  type AccessTokenIssuerOptions,
  type MintedToken,
  type MintRequest,
} from './access-token.js';
export {
  ensureSigningKeyFile,
  generateSigningJwk,
  loadSigningKeys,
  prepareSigningKeys,
  SigningKeyError,
  type SigningKeyFile,
  type SigningKeySet,
  writeSigningKeyFile,
} from './signing-keys.js';
