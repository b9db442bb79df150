/** The client registry: RFC 7591 client metadata, validated and prepared at load. */
export {
  type IntrospectionPermission,
  introspectionFields,
  mayIntrospect,
  validateIntrospectionPermission,
} from './introspection.js';
export { type ClientKey, importClientJwks, KeySetError, maxKeysPerSet } from './keys.js';
export {
  type ClientAuthMethod,
  type ClientMetadata,
  type FederatedIdentityMetadata,
  supportedAuthMethods,
  type TlsClientAuthIdentityField,
  tlsClientAuthIdentityFields,
  type WorkloadAuthMethod,
  workloadAuthMethods,
} from './metadata.js';
export { ClientRegistry, loadRegistry, RegistryError, type RegistrySource } from './registry.js';
export {
  advertisedScopes,
  maxAdvertisedScopes,
  type ResourceScopes,
  scopeResourceMap,
} from './scopes.js';
export {
  type ClientKeySource,
  isResourceIndicator,
  parseScope,
  prepareClient,
  type RegisteredClient,
  type RemoteKeySet,
  type ValidateOptions,
  type WorkloadIdentity,
} from './validate.js';
