export {
  type Config,
  ConfigError,
  loadConfig,
  type MachineEnvironment,
  productionRefusal,
  readBenchSettings,
  readMachineEnvironment,
  type S3Settings,
  SETTING_NAMES,
} from './config.js';
export { loadEnvFile } from './env-file.js';
