export { createRedisConnection } from './connection.js';
export {
  completionJobData,
  INLINE_PRODUCTS_MAX_CHARS,
  isProductQueueName,
  JOB_NAMES,
  jobIds,
  type ProcessImagesData,
  type ProductJobData,
  type ProductUrls,
  parseJobData,
  processImagesData,
  productJobData,
  productQueueName,
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
