export { type Connections, type RunningWorker, startWorker } from './worker.js';
