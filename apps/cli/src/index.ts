export { ApiClient, ConnectionFailure, type RequestStatus, ServiceRefusal } from './api-client.js';
export { EXIT, exitCodeOf, formatBytes, summaryLines, weighResult } from './summary.js';
