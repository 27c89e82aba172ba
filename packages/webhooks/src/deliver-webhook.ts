import { type AddressPolicy, checkUrlTarget, findFetchError } from '@imgsvc/fetching';
import { type Dispatcher, request } from 'undici';
import { signWebhook } from './signature.js';

export interface WebhookMessage {
  readonly url: string;
  /** The same on every attempt of one event, so a receiver can drop duplicates. */
  readonly id: string;
  readonly body: string;
  readonly secret: string | undefined;
}

export interface DeliveryOptions {
  /** A guarded pool (createGuardedAgent) with the same policy, which checks the addresses names resolve to. */
  readonly dispatcher: Dispatcher;
  readonly addressPolicy: AddressPolicy;
  readonly timeoutMs: number;
}

export class WebhookDeliveryError extends Error {
  override name = 'WebhookDeliveryError';
  constructor(
    message: string,
    /** True when no later attempt can succeed (a blocked address, a scheme that is not http): stop retrying. */
    readonly final = false,
    /** For the server's log only, never the webhook state: e.g. the addresses the receiver's name resolved to. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

const FINAL_FETCH_CODES = new Set(['blocked_address', 'unsupported_protocol']);

/** POSTs one signed attempt. Any 2xx is success; redirects are not followed; anything else throws. */
export async function deliverWebhook(message: WebhookMessage, options: DeliveryOptions): Promise<number> {
  const target = new URL(message.url);
  const deadline = AbortSignal.timeout(options.timeoutMs);
  try {
    checkUrlTarget(target, options.addressPolicy);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'image-service-webhooks/0.1',
      'webhook-id': message.id,
      'webhook-timestamp': String(timestamp),
    };
    if (message.secret)
      headers['webhook-signature'] = signWebhook(message.secret, message.id, timestamp, message.body);
    const response = await request(target, {
      method: 'POST',
      dispatcher: options.dispatcher,
      headers,
      body: message.body,
      signal: deadline,
    });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) {
      throw new WebhookDeliveryError(`the receiver answered ${response.statusCode}`);
    }
    return response.statusCode;
  } catch (error) {
    if (error instanceof WebhookDeliveryError) throw error;
    const known = findFetchError(error);
    if (known) {
      throw new WebhookDeliveryError(
        `${known.code}: ${known.message}`,
        FINAL_FETCH_CODES.has(known.code),
        known.detail,
      );
    }
    if (deadline.aborted) throw new WebhookDeliveryError(`no answer within ${options.timeoutMs} ms`);
    const code = (error as { code?: string }).code;
    throw new WebhookDeliveryError(`the receiver could not be reached${code ? ` (${code})` : ''}`);
  }
}
