export {
  type Config,
  ConfigError,
  loadConfig,
  type MachineEnvironment,
  productionRefusal,
  readBenchSettings,
  readMachineEnvironment,
  type S3Settings,
} from './config.js';
