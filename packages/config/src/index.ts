export {
  type Config,
  ConfigError,
  loadConfig,
  type MachineEnvironment,
  readBenchSettings,
  readMachineEnvironment,
} from './config.js';
