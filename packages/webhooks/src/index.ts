export { deliverWebhook, WebhookDeliveryError } from './deliver-webhook.js';
