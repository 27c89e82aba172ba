/** Where the API serves stored output images: `${publicBaseUrl}${IMAGE_ROUTE_PREFIX}${key}`. */
export const IMAGE_ROUTE_PREFIX = '/images/';

/** The public links of a request, as the API answers them and the webhook sends them. */
export function requestLinks(publicBaseUrl: string, requestId: string) {
  return {
    status_url: `${publicBaseUrl}/api/status/${requestId}`,
    download_url: `${publicBaseUrl}/api/download/${requestId}`,
  };
}

/** The public URL of a stored output image. */
export function outputImageUrl(publicBaseUrl: string, key: string): string {
  return `${publicBaseUrl}${IMAGE_ROUTE_PREFIX}${key}`;
}
