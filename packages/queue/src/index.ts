export { createRedisConnection } from './connection.js';
export {
  type CompletionJobData,
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
  type WebhookJobData,
  webhookEvents,
  webhookJobData,
} from './jobs.js';
export {
  COORDINATION_JOB_OPTIONS,
  enqueueCompletionCheck,
  enqueueProcessImages,
  enqueueWebhook,
  openQueues,
  productJobOptions,
  type Queues,
} from './queues.js';
