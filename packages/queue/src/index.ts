export { createRedisConnection } from './connection.js';
export {
  completionJobData,
  JOB_NAMES,
  jobIds,
  type ProcessImagesData,
  type ProductJobData,
  parseJobData,
  processImagesData,
  productJobData,
  QUEUE_NAMES,
  type WebhookEvent,
  webhookJobData,
} from './jobs.js';
export {
  enqueueCompletionCheck,
  enqueueProcessImages,
  enqueueWebhook,
  openQueues,
  productJobOptions,
  type Queues,
} from './queues.js';
