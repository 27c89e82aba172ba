export { buildApp } from './app.js';
export { startApi } from './server.js';
