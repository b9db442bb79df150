/** Configuration: documented defaults, file and environment overrides, validation. */
export { defaults, devDefaults } from './defaults.js';
export {
  assertionAlgsByProfile,
  ConfigError,
  type ConfigProblem,
  type LoadConfigOptions,
  loadConfig,
  servingMaterialProblems,
  validateConfig,
} from './load.js';
export type {
  AccessTokenAlg,
  Config,
  ConfigInput,
  LogLevel,
  Profile,
  ProxyCertificateFormat,
} from './types.js';
export { accessTokenAlgs, profiles, proxyCertificateFormats } from './types.js';
