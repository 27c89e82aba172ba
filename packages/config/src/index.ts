export {
  type Config,
  ConfigError,
  loadConfig,
  type MachineEnvironment,
  productionRefusal,
  readBenchSettings,
  readMachineEnvironment,
} from './config.js';
