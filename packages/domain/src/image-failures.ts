/**
 * Why one image has no output. Each code is stable (clients branch on it); the message says what happened in
 * this case. One failed image never fails its product or its request.
 */
export interface ImageFailure {
  readonly url: string;
  readonly code: ImageFailureCode | `http_${number}`;
  readonly message: string;
}

/** Every code an image can fail with, and what it means to the catalogue's owner. */
export const IMAGE_FAILURE_REASONS = {
  blocked_address: 'the host is not one the service may fetch from',
  unsupported_protocol: 'the URL or a redirect is not http or https',
  dns_error: 'the host name could not be resolved right now',
  connection_error: 'the image server could not be reached',
  fetch_timeout: 'the image server did not send the image in time',
  too_large: 'the image is larger than the service accepts',
  too_many_redirects: 'the URL redirects too many times',
  bad_redirect: 'the URL redirects to something that is not a URL',
  not_an_image: 'the content is not an image the service can read',
  unsupported_format: 'the image is in a format the service does not write',
  too_many_pixels: 'the image has more pixels than the service accepts',
  decode_error: 'the image is damaged and could not be decoded',
  processing_failed: 'the product could not be processed after several attempts',
  request_timeout:
    'the request ran past its time budget (REQUEST_MAX_DURATION_MS) before this image was processed',
} as const;

export type ImageFailureCode = keyof typeof IMAGE_FAILURE_REASONS;

/** An http_<status> code: the image server answered with an error status. */
export function httpFailureCode(status: number): `http_${number}` {
  return `http_${status}`;
}

/** The failure of an image whose request ran out of time before the image was started. */
export function requestTimedOut(url: string): ImageFailure {
  return { url, code: 'request_timeout', message: IMAGE_FAILURE_REASONS.request_timeout };
}

/** The failure recorded for each image of a product whose job gave up for good. */
export function productGaveUp(url: string): ImageFailure {
  return { url, code: 'processing_failed', message: IMAGE_FAILURE_REASONS.processing_failed };
}
