export {
  type DeliveryOptions,
  deliverWebhook,
  WebhookDeliveryError,
  type WebhookMessage,
} from './deliver-webhook.js';
export { signWebhook } from './signature.js';
