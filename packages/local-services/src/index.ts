export { dockerEngineAnswers } from './docker.js';
export { findExecutable } from './executables.js';
export {
  ensureFerretDb,
  FERRETDB_VERSION,
  ferretDbCachePath,
  findFerretDb,
  installFerretDb,
} from './ferretdb-install.js';
export type { LocalServer } from './local-server.js';
export {
  type LocalServices,
  type LocalServicesOptions,
  startConfiguredServices,
  startLocalServices,
} from './local-services.js';
export { startFerretDb, startMongod } from './mongo-server.js';
export { canConnect, freePort, waitUntil } from './network.js';
export { redisAnswers, startRedisServer } from './redis-server.js';
