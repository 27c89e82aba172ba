export { buildApp } from './app.js';
export { type RunningApi, startApi } from './server.js';
