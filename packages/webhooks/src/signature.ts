import { createHmac } from 'node:crypto';

/**
 * The Standard Webhooks signature: "v1," and the base64 HMAC-SHA256 of "id.timestamp.body" under the
 * base64-decoded part of a whsec_ secret.
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const digest = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${digest}`;
}
