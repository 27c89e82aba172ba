export { findExecutable } from './executables.js';
export { ensureFerretDb, findFerretDb } from './ferretdb-install.js';
export type { LocalServer } from './local-server.js';
export { startConfiguredServices, startLocalServices } from './local-services.js';
export { startFerretDb } from './mongo-server.js';
export { freePort } from './network.js';
export { startRedisServer } from './redis-server.js';
export { ensureSeaweedFs, findSeaweedFs, replaceDirectives } from './seaweedfs-install.js';
export { type LocalObjectStore, type SeaweedFsOptions, startSeaweedFs } from './seaweedfs-server.js';
