import { createHash } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';

/** Queues, each with its own concurrency: coordination, image work, and callbacks. */
export const QUEUE_NAMES = {
  requests: 'requests',
  products: 'products',
  webhooks: 'webhooks',
} as const;

/**
 * Each tenant's products wait in a queue of their own, so that one tenant's backlog is never ahead of another
 * tenant's work: the worker serves the queues side by side (see the worker's product-workers.ts). Requests
 * without an owner (no API_KEYS) use the plain `products` queue.
 */
export function productQueueName(owner: string | null): string {
  if (owner === null) return QUEUE_NAMES.products;
  // Owners are digests of keys; anything else is made one, since BullMQ forbids ':' in queue names.
  const part = /^[A-Za-z0-9_-]{1,64}$/.test(owner)
    ? owner
    : createHash('sha256').update(owner).digest('hex').slice(0, 32);
  return `${QUEUE_NAMES.products}.${part}`;
}

/** Whether a name is one `productQueueName` gives: the worker serves no other queue as products. */
export function isProductQueueName(name: string): boolean {
  return name === QUEUE_NAMES.products || /^products\.[A-Za-z0-9_-]{1,64}$/.test(name);
}

/** The architecture's four jobs (the seed's Celery tasks). */
export const JOB_NAMES = {
  processImages: 'process-images',
  processProductImages: 'process-product-images',
  checkRequestCompletion: 'check-request-completion',
  triggerWebhook: 'trigger-webhook',
} as const;

const requestId = z.uuid();

/** Size (characters of JSON) up to which a request's products travel with its process-images job. */
export const INLINE_PRODUCTS_MAX_CHARS = 64 * 1024;

/** One product as the fan-out needs it: its row and its image URLs. */
export const productUrls = z.object({ row: z.number().int().positive(), urls: z.array(z.string()) });
export type ProductUrls = z.infer<typeof productUrls>;

export const processImagesData = z.object({
  requestId,
  /** First row not yet fanned out; lets a rerun continue where a crash stopped it. */
  nextRow: z.number().int().positive().optional(),
  /**
   * Every product of a request whose products come to at most INLINE_PRODUCTS_MAX_CHARS, in row order, as the
   * upload took them: the fan-out then reads none of them back from the database. Absent for larger requests.
   */
  products: z.array(productUrls).optional(),
});
export type ProcessImagesData = z.infer<typeof processImagesData>;

/** A product job carries its image URLs, so that processing it reads nothing from the database. */
export const productJobData = z.object({
  requestId,
  row: z.number().int().positive(),
  urls: z.array(z.string().min(1).max(2048)).min(1).max(1000),
  /** When the request's time budget ends (ms since the epoch): images not started by then are not processed. */
  deadline: z.number().int().positive().optional(),
});
export type ProductJobData = z.infer<typeof productJobData>;

export const completionJobData = z.object({ requestId });
export type CompletionJobData = z.infer<typeof completionJobData>;

const webhookEvents = ['request.completed', 'request.failed'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];
export const webhookJobData = z.object({ requestId, event: z.enum(webhookEvents) });
export type WebhookJobData = z.infer<typeof webhookJobData>;

/** Job ids derive from the work, so adding the same work twice is a no-op. BullMQ forbids ':' in ids. */
export const jobIds = {
  processImages: (id: string) => `process-images.${id}`,
  product: (id: string, row: number) => `product.${id}.${row}`,
  completion: (id: string) => `completion.${id}`,
  webhook: (id: string, event: WebhookEvent) => `webhook.${id}.${event.replace('.', '-')}`,
};

/**
 * Reads a job's data with its schema. Data that does not fit can never succeed, so the job fails at once
 * (BullMQ's UnrecoverableError) instead of being retried.
 */
export function parseJobData<T>(schema: z.ZodType<T>, data: unknown, jobName: string): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UnrecoverableError(
      `invalid ${jobName} job data: ${issue?.path.join('.') || 'data'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  return parsed.data;
}
