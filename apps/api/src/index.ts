export { buildApp } from './app.js';
export { apiConnections } from './context.js';
export { startApi } from './server.js';
