/** Configuration: documented defaults, file and environment overrides, validation. */
export {
  defaults,
  devDefaults,
  oidcIssuerSourceDefaults,
  spiffeSourceDefaults,
} from './defaults.js';
export { envAliases, envSettings, envVariable } from './env.js';
export {
  assertionAlgsByProfile,
  ConfigError,
  type ConfigProblem,
  describeProblem,
  type LoadConfigOptions,
  loadConfig,
  replayHeapProblems,
  servingMaterialProblems,
  validateConfig,
} from './load.js';
export type {
  AccessTokenAlg,
  Config,
  ConfigInput,
  LogFormat,
  LogLevel,
  OidcIssuerSourceConfig,
  Profile,
  ProxyCertificateFormat,
  SpiffeSourceConfig,
  WorkloadPolicyConfig,
  WorkloadSourceConfig,
  WorkloadSourceInput,
} from './types.js';
export { accessTokenAlgs, profiles, proxyCertificateFormats } from './types.js';
