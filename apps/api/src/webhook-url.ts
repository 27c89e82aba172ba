import { type AddressPolicy, checkUrlTarget } from '@imgsvc/fetching';
import { problems } from './problems.js';

const MAX_WEBHOOK_URL_LENGTH = 2048;

/**
 * A webhook URL (an upload's, a retry's) must be absolute http(s). One whose host is written as an address the
 * fetch guard refuses is refused now rather than failing at delivery; host names are checked when delivering.
 */
export function checkWebhookUrl(value: string, addressPolicy: AddressPolicy): string {
  const text = value.trim();
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    text.length > MAX_WEBHOOK_URL_LENGTH
  ) {
    throw problems.invalidWebhookUrl({ maxLength: MAX_WEBHOOK_URL_LENGTH });
  }
  try {
    checkUrlTarget(url, addressPolicy);
  } catch (error) {
    throw problems.invalidWebhookUrl({ refusal: (error as Error).message });
  }
  return url.href;
}
