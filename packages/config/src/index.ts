export {
  type Config,
  ConfigError,
  loadConfig,
  type MachineEnvironment,
  readMachineEnvironment,
} from './config.js';
