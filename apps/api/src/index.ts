export { buildApp } from './app.js';
export { apiDependencies } from './context.js';
export { startApi } from './server.js';
