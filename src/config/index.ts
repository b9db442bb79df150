/** Configuration: documented defaults, file and environment overrides, validation. */
export { defaults, devDefaults } from './defaults.js';
export { envAliases, envSettings, envVariable } from './env.js';
export {
  assertionAlgsByProfile,
  ConfigError,
  type ConfigProblem,
  describeProblem,
  type LoadConfigOptions,
  loadConfig,
  servingMaterialProblems,
  validateConfig,
} from './load.js';
export type {
  AccessTokenAlg,
  Config,
  ConfigInput,
  LogFormat,
  LogLevel,
  Profile,
  ProxyCertificateFormat,
} from './types.js';
export { accessTokenAlgs, profiles, proxyCertificateFormats } from './types.js';
