export {
  DEFAULT_CONFIG_FILE,
  DEFAULT_TOKEN_USERNAME,
  loadConfig,
  type BerthConfig,
  type GitAuth,
  type GitSettings,
  type LoadConfigOptions,
  type SourceSettings,
} from './load.js';
export { ENV_ALIASES, ENV_PREFIX, readEnvOverrides, applyEnvOverrides } from './env.js';
export { redactConfig, REDACTED } from './redact.js';
export { AgeSecretsConfig, ConfigFile, crossCheck, SecretsConfig } from './schema.js';
export {
  ageIdentitiesOf,
  readConfigSecrets,
  type BerthSecrets,
  type ConfigSecrets,
} from './interpolation-env.js';
